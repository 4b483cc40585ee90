#include "common/exec.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace volmigrate {

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& s : secrets)
    if (!s.empty()) text = absl::StrReplaceAll(text, {{s, "***"}});
  return text;
}

std::string Describe(const Command& cmd) { return Redact(absl::StrJoin(cmd.argv, " "), cmd.secrets); }

absl::StatusOr<ExecResult> SystemExecutor::Run(const Command& cmd) {
  if (cmd.argv.empty()) return absl::InvalidArgumentError("empty command");
  int in[2], out[2], err[2], exec_err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(exec_err, O_CLOEXEC))
    return ErrnoError(errno, "pipe");
  Fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]), ee_r(exec_err[0]),
      ee_w(exec_err[1]);
  std::vector<char*> argv;
  for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> envs = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
  // Tools that talk to device-mapper must not wait for a udev that may not run.
  for (const char* keep : {"DM_DISABLE_UDEV", "LVM_SYSTEM_DIR"})
    if (const char* v = getenv(keep)) envs.push_back(absl::StrCat(keep, "=", v));
  envs.insert(envs.end(), cmd.env.begin(), cmd.env.end());
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  const absl::Time started = absl::Now();
  spdlog::debug("exec: {}", Describe(cmd));
  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, "fork");
  if (pid == 0) {
    // workerd blocks SIGTERM and SIGINT in every thread to take them with
    // sigwait; a child would inherit that mask, and a consumer a hook starts
    // could then never be stopped by SIGTERM.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Its own process group: a timeout kills what it started too.
    setpgid(0, 0);
    dup2(in_r.get(), 0);
    dup2(out_w.get(), 1);
    dup2(err_w.get(), 2);
    // Only stdin, stdout and stderr reach the command: a descriptor some library
    // opened without O_CLOEXEC (LMDB's data file was one) must not, and lvm
    // complains of every one it finds.
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execvpe(argv[0], argv.data(), envp.data());
    int e = errno;
    (void)!write(ee_w.get(), &e, sizeof e);
    _exit(127);
  }
  setpgid(pid, pid);  // as the child does: whichever runs first
  in_r = Fd();
  out_w = Fd();
  err_w = Fd();
  ee_w = Fd();
  int child_errno = 0;
  if (read(ee_r.get(), &child_errno, sizeof child_errno) == sizeof child_errno) {
    waitpid(pid, nullptr, 0);
    return ErrnoError(child_errno, absl::StrCat("cannot run ", cmd.argv[0]));
  }
  // The command is done when it exits, not when its output closes: a hook
  // that starts a consumer in the background leaves it holding stdout.
  Fd exited(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!exited.valid()) {
    int e = errno;
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return ErrnoError(e, "pidfd_open");
  }

  ExecResult res;
  size_t in_off = 0;
  if (cmd.stdin_data.empty()) {
    in_w = Fd();
  } else {
    // A blocking write of more than a pipe holds would deadlock with a child
    // that is itself blocked writing output we have not read yet.
    fcntl(in_w.get(), F_SETFL, fcntl(in_w.get(), F_GETFL) | O_NONBLOCK);
  }
  absl::Time deadline = absl::Now() + cmd.timeout;
  bool timed_out = false, gone = false;
  int reads_after_exit = 0;  // bounded: whatever it left behind may write on
  while (out_r.valid() || err_r.valid()) {
    pollfd fds[4];
    int n = 0;
    if (out_r.valid()) fds[n++] = {out_r.get(), POLLIN, 0};
    if (err_r.valid()) fds[n++] = {err_r.get(), POLLIN, 0};
    if (in_w.valid() && !gone) fds[n++] = {in_w.get(), POLLOUT, 0};
    if (!gone) fds[n++] = {exited.get(), POLLIN, 0};
    // Once it exited, only what it already wrote is read: no waiting.
    int ms = gone ? 0 : static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    int r = poll(fds, n, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || (gone && ++reads_after_exit > 64)) {
      timed_out = !gone;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == exited.get()) {
        gone = true;
        continue;
      }
      if (in_w.valid() && fds[i].fd == in_w.get()) {
        ssize_t w = write(in_w.get(), cmd.stdin_data.data() + in_off, cmd.stdin_data.size() - in_off);
        if (w > 0) in_off += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN) || in_off == cmd.stdin_data.size()) in_w = Fd();
        continue;
      }
      char buf[16384];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      bool is_out = out_r.valid() && fds[i].fd == out_r.get();
      if (got <= 0) {
        (is_out ? out_r : err_r) = Fd();
      } else {
        (is_out ? res.out : res.err).append(buf, static_cast<size_t>(got));
      }
    }
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return absl::DeadlineExceededError(
        absl::StrCat(Describe(cmd), ": no answer within ", absl::FormatDuration(cmd.timeout)));
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  spdlog::debug("exec: {} -> exit {} in {:.2f} s", cmd.argv[0], res.exit_code,
                absl::ToDoubleSeconds(absl::Now() - started));
  return res;
}

absl::StatusOr<ExecResult> RunChecked(Executor& ex, const Command& cmd, absl::StatusCode code) {
  ASSIGN_OR_RETURN(ExecResult r, ex.Run(cmd));
  if (r.exit_code != 0) {
    std::string why(absl::StripAsciiWhitespace(r.err.empty() ? r.out : r.err));
    return absl::Status(code, absl::StrCat(Describe(cmd), ": exit ", r.exit_code, ": ", Redact(why, cmd.secrets)));
  }
  return r;
}

}  // namespace volmigrate
