#include "common/exec.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace volmigrate {
namespace {

TEST(Exec, CapturesOutputAndExitCode) {
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(Exec, FeedsStdin) {
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"cat"}, .stdin_data = std::string(200000, 'x')});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 200000u);
}

TEST(Exec, ChildrenDoNotInheritBlockedSignals) {
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);  // as workerd's main does
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"sh", "-c", "grep '^SigBlk' /proc/self/status"}});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "SigBlk:\t0000000000000000\n");
}

TEST(Exec, ChildrenGetOnlyStdinStdoutAndStderr) {
  int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, as a careless library would
  ASSERT_GE(leaky, 3);
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"sh", "-c", "for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink $f)\"; done"}});
  ::close(leaky);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out.find("/dev/null"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("2 pipe:"), std::string::npos) << r->out;
}

std::set<int> OpenFds() {
  std::set<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return {-1};  // no descriptor left to list them with
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') fds.insert(atoi(e->d_name));
  const int own = dirfd(d);
  closedir(d);
  fds.erase(own);
  return fds;
}

TEST(Exec, AFailedPipeLeaksNoDescriptor) {
  // A descriptor limit that leaves exactly three free numbers: the first pipe
  // gets two, the second cannot get its pair.
  const std::set<int> before = OpenFds();
  rlim_t limit = 0;
  for (int free_below = 0; free_below < 3; ++limit)
    if (!before.contains(static_cast<int>(limit))) ++free_below;
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = limit;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"true"}});
  const std::set<int> after = OpenFds();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pipe"), std::string::npos) << r.status();
  EXPECT_EQ(after, before);
}

TEST(Exec, MissingProgramIsNotFound) {
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"/nonexistent/tool"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(Exec, TimeoutKills) {
  SystemExecutor ex;
  auto r = ex.Run({.argv = {"sleep", "10"}, .timeout = absl::Milliseconds(100)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// Whether process `pid` still runs (a zombie waiting for its reaper does not).
bool Running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t paren = line.rfind(')');
  return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] != 'Z';
}

// A hook that starts its consumer in the background and exits: done when it
// exits, though the consumer keeps its stdout open (it used to time out, and
// a timed-out hook is run again: a second consumer).
TEST(Exec, DoneWhenTheCommandExitsThoughItsChildHoldsStdout) {
  SystemExecutor ex;
  absl::Time t0 = absl::Now();
  auto r = ex.Run({.argv = {"sh", "-c", "sleep 30 & echo $!; exit 0"}, .timeout = absl::Seconds(20)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(10));
  EXPECT_EQ(r->exit_code, 0);
  pid_t child = std::stoi(r->out);
  EXPECT_TRUE(Running(child)) << "what it started is left alone";
  kill(child, SIGKILL);
}

// A command that hangs is killed with everything it started.
TEST(Exec, TimeoutKillsTheWholeProcessGroup) {
  SystemExecutor ex;
  // The child's pid goes to a file: its stdout is what the runner waits on.
  std::string file = testing::TempDir() + "/exec_group_pid";
  auto r = ex.Run({.argv = {"sh", "-c", "sleep 30 & echo $! > " + file + "; wait"}, .timeout = absl::Seconds(1)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  std::ifstream in(file);
  pid_t child = 0;
  in >> child;
  ASSERT_GT(child, 0);
  for (int i = 0; i < 100 && Running(child); ++i) usleep(10000);
  EXPECT_FALSE(Running(child));
}

TEST(Exec, SecretsNeverInErrors) {
  SystemExecutor ex;
  Command c{.argv = {"sh", "-c", "echo bad password s3cr3t-value >&2; exit 1", "s3cr3t-value"},
            .secrets = {"s3cr3t-value"}};
  auto r = RunChecked(ex, c, absl::StatusCode::kUnavailable);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(r.status().message()).find("s3cr3t"), std::string::npos) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("***"), std::string::npos);
}

}  // namespace
}  // namespace volmigrate
