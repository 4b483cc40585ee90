#include "fsm/runner.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>
#include <string>

#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::fsm {
namespace {

const RunnerOptions kFast{.max_concurrent = 2,
                              .backoff_initial = absl::Milliseconds(1),
                              .backoff_max = absl::Milliseconds(5)};

// Waits (with a deadline) until machine `id` is terminal.
Record WaitTerminal(Runner& r, const std::string& id) {
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  uint64_t seen = 0;
  for (;;) {
    auto rec = r.store()->Get(id);
    if (rec.ok() && rec->terminal()) return *rec;
    if (absl::Now() > deadline) {
      ADD_FAILURE() << id << " did not finish";
      return rec.ok() ? *rec : Record{};
    }
    seen = r.WaitForChange(seen, absl::Now() + absl::Milliseconds(50));
  }
}

MachineDef Chain(std::atomic<int>* calls) {
  MachineDef d;
  d.kind = "chain";
  d.initial_state = "A";
  d.terminal_states = {"DONE", "FAILED", "ROLLED_BACK"};
  d.edges = {{"A", {"B"}}, {"B", {"DONE"}}};
  d.steps["A"] = [calls](const StepContext& c) -> absl::StatusOr<Next> {
    ++*calls;
    return Next{"B", c.data + "a"};
  };
  d.steps["B"] = [calls](const StepContext& c) -> absl::StatusOr<Next> {
    ++*calls;
    return Next{"DONE", c.data + "b"};
  };
  return d;
}

TEST(Runner, RunsToTheEnd) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  std::atomic<int> calls = 0;
  Runner r(store->get(), kFast);
  ASSERT_TRUE(r.Register(Chain(&calls)).ok());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Submit("chain", "x", "").ok());
  Record done = WaitTerminal(r, "x");
  EXPECT_EQ(done.state(), "DONE");
  EXPECT_EQ(done.data(), "ab");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.Submit("chain", "x", "").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.Submit("nope", "y", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST(Runner, RetriesRetryableErrorsAndRecordsThem) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  MachineDef d;
  d.kind = "flaky";
  d.initial_state = "A";
  d.terminal_states = {"DONE", "FAILED"};
  d.edges = {{"A", {"DONE"}}};
  d.steps["A"] = [](const StepContext& c) -> absl::StatusOr<Next> {
    if (c.attempt < 3) return absl::UnavailableError("peer not reachable");
    return Next{"DONE", ""};
  };
  RunnerOptions opts = kFast;
  std::mutex mu;
  std::vector<StepOutcome> seen;  // what the observer was told, in order
  opts.observe = [&](const std::string& kind, const std::string& state, absl::Duration took, StepOutcome o) {
    std::lock_guard lock(mu);
    EXPECT_EQ(kind + "." + state, "flaky.A");
    EXPECT_GE(took, absl::ZeroDuration());
    seen.push_back(o);
  };
  Runner r(store->get(), opts);
  ASSERT_TRUE(r.Register(d).ok());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Submit("flaky", "x", "").ok());
  EXPECT_EQ(WaitTerminal(r, "x").state(), "DONE");
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen, std::vector<StepOutcome>({StepOutcome::kRetry, StepOutcome::kRetry, StepOutcome::kRetry,
                                              StepOutcome::kOk}));
  }
  auto hist = r.store()->History("x");
  ASSERT_EQ(hist->size(), 5u);  // created, 3 errors, done
  EXPECT_EQ((*hist)[1].error(), "UNAVAILABLE: peer not reachable");
  EXPECT_EQ((*hist)[4].to(), "DONE");
}

TEST(Runner, TerminalErrorFailsTheMachine) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  MachineDef d;
  d.kind = "bad";
  d.initial_state = "A";
  d.terminal_states = {"DONE", "FAILED"};
  d.edges = {{"A", {"DONE"}}};
  d.steps["A"] = [](const StepContext&) -> absl::StatusOr<Next> {
    return absl::InvalidArgumentError("volume too small");
  };
  Runner r(store->get(), kFast);
  ASSERT_TRUE(r.Register(d).ok());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Submit("bad", "x", "").ok());
  Record rec = WaitTerminal(r, "x");
  EXPECT_EQ(rec.state(), "FAILED");
  EXPECT_EQ(rec.last_error(), "INVALID_ARGUMENT: volume too small");
}

TEST(Runner, RefusesADefinitionWhoseEdgesLeaveTheMachine) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  Runner r(store->get(), kFast);
  std::atomic<int> calls = 0;
  MachineDef no_edges = Chain(&calls);
  no_edges.edges.erase("B");
  EXPECT_EQ(r.Register(no_edges).code(), absl::StatusCode::kInvalidArgument);
  MachineDef nowhere = Chain(&calls);
  nowhere.edges["B"].insert("NOWHERE");
  EXPECT_EQ(r.Register(nowhere).code(), absl::StatusCode::kInvalidArgument);
  MachineDef cancel = Chain(&calls);
  cancel.cancel_to = {{"A", "NOWHERE"}};
  EXPECT_EQ(r.Register(cancel).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Register(Chain(&calls)).ok());
}

TEST(Runner, UnknownNextStateFailsTheMachine) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  MachineDef d;
  d.kind = "k";
  d.initial_state = "A";
  d.terminal_states = {"DONE", "FAILED"};
  d.edges = {{"A", {"DONE"}}};
  d.steps["A"] = [](const StepContext&) -> absl::StatusOr<Next> { return Next{"NOWHERE", ""}; };
  Runner r(store->get(), kFast);
  ASSERT_TRUE(r.Register(d).ok());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Submit("k", "x", "").ok());
  EXPECT_EQ(WaitTerminal(r, "x").state(), "FAILED");
}

TEST(Runner, CancelGoesToTheRollbackStateOnlyWhereAllowed) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  std::atomic<bool> release = false;
  MachineDef d;
  d.kind = "mig";
  d.initial_state = "EXPORTED";
  d.terminal_states = {"DONE", "FAILED", "ABORTED"};
  d.cancel_to = {{"EXPORTED", "ROLLBACK"}};
  d.edges = {{"EXPORTED", {"BOOTED"}}, {"BOOTED", {}}, {"ROLLBACK", {"ABORTED"}}};
  d.steps["EXPORTED"] = [&](const StepContext&) -> absl::StatusOr<Next> {
    if (!release) return Next{"EXPORTED", "", absl::Milliseconds(2)};  // waiting on something
    return Next{"BOOTED", ""};
  };
  d.steps["BOOTED"] = [&](const StepContext&) -> absl::StatusOr<Next> {
    return Next{"BOOTED", "", absl::Milliseconds(2)};
  };
  d.steps["ROLLBACK"] = [](const StepContext&) -> absl::StatusOr<Next> { return Next{"ABORTED", ""}; };
  Runner r(store->get(), kFast);
  ASSERT_TRUE(r.Register(d).ok());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Submit("mig", "one", "").ok());
  ASSERT_TRUE(r.Cancel("one").ok());
  EXPECT_EQ(WaitTerminal(r, "one").state(), "ABORTED");
  EXPECT_EQ(r.Cancel("one").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.Cancel("missing").code(), absl::StatusCode::kNotFound);

  release = true;
  ASSERT_TRUE(r.Submit("mig", "two", "").ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (r.store()->Get("two")->state() != "BOOTED" && absl::Now() < deadline) {
    r.WaitForChange(r.Version(), absl::Now() + absl::Milliseconds(20));
  }
  ASSERT_EQ(r.store()->Get("two")->state(), "BOOTED");
  EXPECT_EQ(r.Cancel("two").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Runner, PollingDoesNotGrowHistory) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  std::atomic<int> polls = 0;
  MachineDef d;
  d.kind = "poll";
  d.initial_state = "WAIT";
  d.terminal_states = {"DONE", "FAILED"};
  d.edges = {{"WAIT", {"DONE"}}};
  d.steps["WAIT"] = [&](const StepContext&) -> absl::StatusOr<Next> {
    if (++polls < 20) return Next{"WAIT", "", absl::Milliseconds(1)};
    return Next{"DONE", ""};
  };
  Runner r(store->get(), kFast);
  ASSERT_TRUE(r.Register(d).ok());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Submit("poll", "x", "").ok());
  WaitTerminal(r, "x");
  EXPECT_EQ(r.store()->History("x")->size(), 2u);
}

TEST(Runner, RespectsTheConcurrencyLimit) {
  auto store = Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok());
  std::atomic<int> now = 0, peak = 0;
  MachineDef d;
  d.kind = "busy";
  d.initial_state = "WORK";
  d.terminal_states = {"DONE", "FAILED"};
  d.edges = {{"WORK", {"DONE"}}};
  d.steps["WORK"] = [&](const StepContext&) -> absl::StatusOr<Next> {
    int n = ++now;
    int p = peak;
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    absl::SleepFor(absl::Milliseconds(5));
    --now;
    return Next{"DONE", ""};
  };
  Runner r(store->get(), {.max_concurrent = 3});
  ASSERT_TRUE(r.Register(d).ok());
  ASSERT_TRUE(r.Start().ok());
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(r.Submit("busy", "m" + std::to_string(i), "").ok());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(WaitTerminal(r, "m" + std::to_string(i)).state(), "DONE");
  EXPECT_LE(peak, 3);
  EXPECT_GE(peak, 2);
}

TEST(Runner, ResumesAfterStopAndRestart) {
  std::string dir = NewTempDir();
  std::atomic<int> calls = 0;
  {
    auto store = Store::Open(dir);
    ASSERT_TRUE(store.ok());
    MachineDef d = Chain(&calls);
    d.steps["B"] = [](const StepContext& c) -> absl::StatusOr<Next> {
      return Next{"B", c.data, absl::Milliseconds(1)};  // never finishes in this process
    };
    Runner r(store->get(), kFast);
    ASSERT_TRUE(r.Register(d).ok());
    ASSERT_TRUE(r.Start().ok());
    ASSERT_TRUE(r.Submit("chain", "x", "").ok());
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (r.store()->Get("x")->state() != "B" && absl::Now() < deadline) {
      r.WaitForChange(r.Version(), absl::Now() + absl::Milliseconds(20));
    }
    r.Stop();
  }
  auto store = Store::Open(dir);
  ASSERT_TRUE(store.ok());
  Runner r(store->get(), kFast);
  ASSERT_TRUE(r.Register(Chain(&calls)).ok());
  ASSERT_TRUE(r.Start().ok());
  Record done = WaitTerminal(r, "x");
  EXPECT_EQ(done.state(), "DONE");
  EXPECT_EQ(done.data(), "ab");
}

TEST(Runner, RefusesToStartWithAnUnknownKind) {
  std::string dir = NewTempDir();
  {
    auto store = Store::Open(dir);
    Record rec;
    rec.set_id("x");
    rec.set_kind("from-the-future");
    rec.set_state("A");
    ASSERT_TRUE((*store)->Create(rec).ok());
  }
  auto store = Store::Open(dir);
  Runner r(store->get(), kFast);
  absl::Status s = r.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("from-the-future"), std::string::npos);
}

}  // namespace
}  // namespace volmigrate::fsm
