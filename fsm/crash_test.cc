// Kills a process running durable machines with SIGKILL at random points, many
// times, restarts it, and checks that every machine finished with every step's
// effect applied as an idempotent step allows: no state skipped, none lost.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "fsm/store.h"
#include "gtest/gtest.h"

namespace volmigrate::fsm {
namespace {

constexpr int kSteps = 12;
constexpr int kBatch = 30;
constexpr int kMinKills = 200;

pid_t Spawn(const std::string& dir, int first) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string f = std::to_string(first), c = std::to_string(kBatch), s = std::to_string(kSteps);
    execl(CRASH_WORKER, CRASH_WORKER, dir.c_str(), f.c_str(), c.c_str(), s.c_str(), nullptr);
    _exit(127);
  }
  return pid;
}

uint64_t Expected() {
  uint64_t v = 1;
  for (int k = 0; k < kSteps; ++k) v = (v * 31 + static_cast<uint64_t>(k) + 1) % (uint64_t{1} << 61);
  return v;
}

TEST(FsmCrash, SurvivesRepeatedSigkill) {
  std::string dir = testing::TempDir() + "fsm_crashXXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_us(0, 40000);

  int kills = 0, batches = 1, finished_runs = 0;
  // Kill until enough kills landed; when a run finishes its batch first, add another.
  while (kills < kMinKills) {
    pid_t pid = Spawn(dir, (batches - 1) * kBatch);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker failed on its own, status " << status;
      ++finished_runs;
      ++batches;
      continue;
    }
    kill(pid, SIGKILL);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) ++kills;
  }
  // A final run without kills must finish everything left.
  pid_t pid = Spawn(dir, (batches - 1) * kBatch);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final run status " << status;

  auto store = Store::Open(dir + "/state");
  ASSERT_TRUE(store.ok()) << store.status();
  auto all = (*store)->List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<size_t>(batches * kBatch));
  const std::string want = std::to_string(Expected());
  for (const Record& r : *all) {
    EXPECT_TRUE(r.terminal()) << r.id();
    EXPECT_EQ(r.state(), "DONE") << r.id();
    EXPECT_EQ(r.data(), want) << r.id() << ": a step was skipped or applied to the wrong input";
    auto hist = (*store)->History(r.id());
    ASSERT_TRUE(hist.ok()) << hist.status();
    ASSERT_EQ(hist->size(), static_cast<size_t>(kSteps + 1)) << r.id();
    for (int k = 0; k <= kSteps; ++k) {
      const HistoryEntry& h = (*hist)[k];
      EXPECT_EQ(h.from(), k == 0 ? "" : absl::StrFormat("S%02d", k - 1)) << r.id();
      EXPECT_EQ(h.to(), k == kSteps ? "DONE" : absl::StrFormat("S%02d", k)) << r.id();
      EXPECT_EQ(h.error(), "") << r.id();
    }
    for (int k = 0; k < kSteps; ++k) {
      EXPECT_TRUE(std::filesystem::exists(absl::StrCat(dir, "/effects/", r.id(), ".", k))) << r.id() << " step " << k;
    }
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir + "/violations")) << "a replayed step saw different input";

  // Replays only come from kills: at most one step in flight per runner thread.
  auto log = ReadFile(dir + "/applied.log");
  ASSERT_TRUE(log.ok());
  std::map<std::string, int> applied;
  std::istringstream in(*log);
  std::string id;
  int k = 0;
  while (in >> id >> k) ++applied[absl::StrCat(id, ".", k)];
  int replays = 0;
  for (auto& [key, n] : applied) replays += n - 1;
  EXPECT_EQ(applied.size(), static_cast<size_t>(batches * kBatch * kSteps));
  EXPECT_LE(replays, kills * 4);
  std::cout << "fsm crash test: " << kills << " SIGKILLs, " << finished_runs << " runs finished unkilled, "
            << batches * kBatch << " machines x " << kSteps << " steps all DONE, " << replays
            << " steps replayed after a kill, 0 violations\n";
}

}  // namespace
}  // namespace volmigrate::fsm
