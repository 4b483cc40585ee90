#include "fsm/decision.h"

#include <gtest/gtest.h>

#include "fsm/runner.h"

namespace volmigrate::fsm {
namespace {

MachineDef Def() {
  MachineDef d;
  d.kind = "k";
  d.initial_state = "A";
  d.steps = {{"A", nullptr}, {"B", nullptr}, {"UNDO", nullptr}};
  d.terminal_states = {"DONE", "FAILED"};
  d.cancel_to = {{"A", "UNDO"}};
  d.edges = {{"A", {"B"}}, {"B", {"DONE"}}, {"UNDO", {"DONE"}}};
  return d;
}

Record At(const std::string& state, const std::string& data = "d", uint32_t attempts = 0) {
  Record r;
  r.set_id("m1");
  r.set_kind("k");
  r.set_state(state);
  r.set_data(data);
  r.set_attempts(attempts);
  if (attempts) r.set_last_error("earlier");
  return r;
}

const RunnerOptions kOpts{.backoff_initial = absl::Milliseconds(100), .backoff_max = absl::Milliseconds(350)};

TEST(Decide, APollThatChangesNothingIsNotRecorded) {
  Decision d = DecideStep(Def(), At("A"), Next{"A", "d", absl::Seconds(2)}, kOpts);
  EXPECT_FALSE(d.commit);
  EXPECT_EQ(d.then, absl::Seconds(2));
  // A zero wait still yields the thread.
  EXPECT_EQ(DecideStep(Def(), At("A"), Next{"A", "d"}, kOpts).then, absl::Milliseconds(1));
}

TEST(Decide, APollWithNewDataIsRecordedAndWaits) {
  Decision d = DecideStep(Def(), At("A"), Next{"A", "d2", absl::Seconds(2)}, kOpts);
  EXPECT_TRUE(d.commit);
  EXPECT_EQ(d.next.state(), "A");
  EXPECT_EQ(d.next.data(), "d2");
  EXPECT_EQ(d.then, absl::Seconds(2));
}

TEST(Decide, ATransitionResetsAttemptsAndRunsAtOnce) {
  Decision d = DecideStep(Def(), At("A", "d", 3), Next{"B", "e"}, kOpts);
  EXPECT_TRUE(d.commit);
  EXPECT_EQ(d.next.state(), "B");
  EXPECT_EQ(d.next.attempts(), 0u);
  EXPECT_EQ(d.next.last_error(), "");
  EXPECT_TRUE(d.error.empty());
  EXPECT_FALSE(d.next.terminal());
  EXPECT_EQ(d.then, absl::ZeroDuration());
  EXPECT_TRUE(DecideStep(Def(), At("B"), Next{"DONE", "e"}, kOpts).next.terminal());
}

TEST(Decide, RetryableErrorsStayWithBackoffThatDoublesUpToTheCap) {
  Decision d = DecideStep(Def(), At("A"), absl::UnavailableError("peer down"), kOpts);
  EXPECT_EQ(d.next.state(), "A");
  EXPECT_EQ(d.next.data(), "d");
  EXPECT_EQ(d.next.attempts(), 1u);
  EXPECT_NE(d.next.last_error().find("peer down"), std::string::npos);
  EXPECT_EQ(d.error, d.next.last_error());
  EXPECT_EQ(d.then, absl::Milliseconds(100));
  EXPECT_EQ(DecideStep(Def(), At("A", "d", 1), absl::AbortedError("x"), kOpts).then, absl::Milliseconds(200));
  EXPECT_EQ(DecideStep(Def(), At("A", "d", 2), absl::AbortedError("x"), kOpts).then, absl::Milliseconds(350));
  EXPECT_EQ(Backoff(kOpts, 50), absl::Milliseconds(350));
}

TEST(Decide, OtherErrorsAndEdgesOutsideTheTableFailTheMachine) {
  Decision d = DecideStep(Def(), At("B"), absl::InvalidArgumentError("bad header"), kOpts);
  EXPECT_EQ(d.next.state(), "FAILED");
  EXPECT_TRUE(d.next.terminal());
  EXPECT_NE(d.error.find("bad header"), std::string::npos);
  Decision u = DecideStep(Def(), At("B"), Next{"NOWHERE", ""}, kOpts);
  EXPECT_EQ(u.next.state(), "FAILED");
  EXPECT_NE(u.error.find("step B went to NOWHERE, not an edge of its table"), std::string::npos);
  // A known state, but not one B may go to.
  EXPECT_EQ(DecideStep(Def(), At("B"), Next{"A", ""}, kOpts).next.state(), "FAILED");
  // A step may always end in the failed state.
  Decision f = DecideStep(Def(), At("A"), Next{"FAILED", ""}, kOpts);
  EXPECT_EQ(f.next.state(), "FAILED");
  EXPECT_TRUE(f.error.empty());
}

TEST(Decide, ACancelGoesWhereTheDefinitionSaysOrIsDropped) {
  Record r = At("A", "d", 2);
  r.set_cancel_requested(true);
  Decision d = DecideCancel(Def(), r);
  EXPECT_EQ(d.next.state(), "UNDO");
  EXPECT_FALSE(d.next.cancel_requested());
  EXPECT_EQ(d.next.attempts(), 0u);
  EXPECT_TRUE(d.clears_cancel);
  EXPECT_TRUE(d.error.empty());

  Record moved = At("B");
  moved.set_cancel_requested(true);
  Decision refused = DecideCancel(Def(), moved);
  EXPECT_EQ(refused.next.state(), "B");
  EXPECT_FALSE(refused.next.cancel_requested());
  EXPECT_TRUE(refused.clears_cancel);
  EXPECT_EQ(refused.error, "cancel refused: B only goes forward");
  EXPECT_EQ(refused.then, absl::ZeroDuration());
}

}  // namespace
}  // namespace volmigrate::fsm
