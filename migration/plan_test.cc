// The pure parts of a drain's plan; PlanDrain itself runs in machines_test.
#include "migration/plan.h"

#include "gtest/gtest.h"

namespace volmigrate::migration {
namespace {

fsm::HistoryEntry Entry(int64_t at_ms, const std::string& to) {
  fsm::HistoryEntry h;
  h.set_at_ms(at_ms);
  h.set_to(to);
  return h;
}

TEST(HydrationRate, CopiedBytesOverTheHydrationTime) {
  v1::Migration m;
  m.mutable_progress()->set_total_bytes(1000u << 20);
  m.mutable_progress()->set_discarded_bytes(900u << 20);
  m.set_blackout_seconds(7);
  m.set_source_fence_seconds(2);
  // WAITING 10 s after the start, the destination booted 5 s later, RETIRING
  // 25 s after WAITING: 20 s of hydration for 100 MiB.
  const std::vector<fsm::HistoryEntry> h = {Entry(0, "QUEUED"), Entry(10000, "WAITING"), Entry(35000, "RETIRING")};
  EXPECT_DOUBLE_EQ(HydrationRate(m, h), (100u << 20) / 20.0);
  EXPECT_EQ(HydrationRate(m, {Entry(10000, "WAITING")}), 0);  // not finished
  m.set_blackout_seconds(32);
  EXPECT_EQ(HydrationRate(m, h), 0);  // a history that cannot be right tells nothing
  m.mutable_progress()->set_rate_bytes_per_second(1e6);
  EXPECT_EQ(HydrationRate(m, h), 1e6);  // but the last rate shown does
}

TEST(Makespan, EachMoveTakesTheSlotThatFreesFirst) {
  EXPECT_EQ(Makespan({}, 2), 0);
  EXPECT_EQ(Makespan({10, 5, 3}, 1), 18);
  EXPECT_EQ(Makespan({10, 5, 3}, 2), 10);  // 5 then 3 beside the 10
  EXPECT_EQ(Makespan({10, 5, 8}, 2), 13);  // the 8 waits for the 5
  EXPECT_EQ(Makespan({10, 5}, 0), 15);     // no slots: one
}

}  // namespace
}  // namespace volmigrate::migration
