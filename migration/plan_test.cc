// The pure parts of a drain's plan; PlanDrain itself runs in machines_test.
#include "migration/plan.h"

#include "gtest/gtest.h"

namespace volmigrate::migration {
namespace {

TEST(HydrationRate, CopiedBytesOverTheHydrationTime) {
  v1::Migration m;
  m.mutable_progress()->set_total_bytes(1000u << 20);
  m.mutable_progress()->set_discarded_bytes(900u << 20);
  EXPECT_EQ(HydrationRate(m), 0);  // not finished, no rate shown: nothing known
  m.mutable_progress()->set_rate_bytes_per_second(1e6);
  EXPECT_EQ(HydrationRate(m), 1e6);  // the last rate shown
  m.set_hydration_seconds(20);
  EXPECT_DOUBLE_EQ(HydrationRate(m), (100u << 20) / 20.0);  // the copied 100 MiB over the time it took
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
