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

namespace {

struct Pipe {
  Fd r, w;
};

// Both ends owned from the start: a later pipe that fails leaks none.
absl::StatusOr<Pipe> MakePipe() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  return Pipe{Fd(p[0]), Fd(p[1])};
}

// A started command: its pid, a pidfd that polls readable when it exits, and
// our ends of its stdin, stdout and stderr.
struct Child {
  pid_t pid = -1;
  Fd exited, in_w, out_r, err_r;
};

// In the forked child: never returns.
[[noreturn]] void ExecChild(const Pipe& in, const Pipe& out, const Pipe& err, const Pipe& exec_err, char* const argv[],
                            char* const envp[]) {
  // workerd blocks SIGTERM and SIGINT in every thread to take them with
  // sigwait; a child would inherit that mask, and a consumer a hook starts
  // could then never be stopped by SIGTERM.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Its own process group: a timeout kills what it started too.
  setpgid(0, 0);
  dup2(in.r.get(), 0);
  dup2(out.w.get(), 1);
  dup2(err.w.get(), 2);
  // Only stdin, stdout and stderr reach the command: a descriptor some library
  // opened without O_CLOEXEC (LMDB's data file was one) must not, and lvm
  // complains of every one it finds.
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  execvpe(argv[0], argv, envp);
  int e = errno;
  (void)!write(exec_err.w.get(), &e, sizeof e);
  _exit(127);
}

// Starts the command; an error if it could not be run at all.
absl::StatusOr<Child> Spawn(const Command& cmd) {
  ASSIGN_OR_RETURN(Pipe in, MakePipe());
  ASSIGN_OR_RETURN(Pipe out, MakePipe());
  ASSIGN_OR_RETURN(Pipe err, MakePipe());
  ASSIGN_OR_RETURN(Pipe exec_err, MakePipe());
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

  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, "fork");
  if (pid == 0) ExecChild(in, out, err, exec_err, argv.data(), envp.data());
  setpgid(pid, pid);  // as the child does: whichever runs first
  // Ours closed, so the read below ends at the exec (the other child ends
  // close when this returns, before any output is read).
  exec_err.w = Fd();
  int child_errno = 0;
  if (read(exec_err.r.get(), &child_errno, sizeof child_errno) == sizeof child_errno) {
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
  return Child{pid, std::move(exited), std::move(in.w), std::move(out.r), std::move(err.r)};
}

// Feeds stdin and collects stdout and stderr until the command exits (then
// only what it already wrote) or the deadline passes. False on the deadline.
bool Pump(Child& c, const std::string& input, absl::Time deadline, ExecResult& res) {
  size_t in_off = 0;
  if (input.empty()) {
    c.in_w = Fd();
  } else {
    // A blocking write of more than a pipe holds would deadlock with a child
    // that is itself blocked writing output we have not read yet.
    fcntl(c.in_w.get(), F_SETFL, fcntl(c.in_w.get(), F_GETFL) | O_NONBLOCK);
  }
  bool gone = false;
  int reads_after_exit = 0;  // bounded: whatever it left behind may write on
  while (c.out_r.valid() || c.err_r.valid()) {
    pollfd fds[4];
    int n = 0;
    if (c.out_r.valid()) fds[n++] = {c.out_r.get(), POLLIN, 0};
    if (c.err_r.valid()) fds[n++] = {c.err_r.get(), POLLIN, 0};
    if (c.in_w.valid() && !gone) fds[n++] = {c.in_w.get(), POLLOUT, 0};
    if (!gone) fds[n++] = {c.exited.get(), POLLIN, 0};
    // Once it exited, only what it already wrote is read: no waiting.
    int ms = gone ? 0 : static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    int r = poll(fds, n, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || (gone && ++reads_after_exit > 64)) return gone;
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == c.exited.get()) {
        gone = true;
      } else if (c.in_w.valid() && fds[i].fd == c.in_w.get()) {
        ssize_t w = write(c.in_w.get(), input.data() + in_off, input.size() - in_off);
        if (w > 0) in_off += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN) || in_off == input.size()) c.in_w = Fd();
      } else {
        char buf[16384];
        ssize_t got = read(fds[i].fd, buf, sizeof buf);
        bool is_out = c.out_r.valid() && fds[i].fd == c.out_r.get();
        if (got <= 0) {
          (is_out ? c.out_r : c.err_r) = Fd();
        } else {
          (is_out ? res.out : res.err).append(buf, static_cast<size_t>(got));
        }
      }
    }
  }
  return true;
}

// Waits for the command (killing its process group first if it ran out of
// time) and returns its wait status.
int Reap(const Child& c, bool kill_first) {
  if (kill_first) {
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

absl::StatusOr<ExecResult> SystemExecutor::Run(const Command& cmd) {
  if (cmd.argv.empty()) return absl::InvalidArgumentError("empty command");
  const absl::Time started = absl::Now();
  spdlog::debug("exec: {}", Describe(cmd));
  ASSIGN_OR_RETURN(Child child, Spawn(cmd));
  ExecResult res;
  const bool in_time = Pump(child, cmd.stdin_data, absl::Now() + cmd.timeout, res);
  const int status = Reap(child, !in_time);
  if (!in_time)
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
