#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include "common/exec.h"

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
