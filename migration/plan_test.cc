// The pure parts of a drain's plan; PlanDrain itself runs in machines_test.
#include "migration/plan.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "migration/machines.h"
#include "migration/state.pb.h"

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

// A migration out of here to `dest` that ended in `state` at `ended_ms`,
// having copied 100 MiB at `mib_per_second`.
fsm::Record Out(const std::string& dest, const std::string& state, int64_t ended_ms, double mib_per_second) {
  MigrationState st;
  st.mutable_view()->set_destination_worker(dest);
  st.mutable_view()->mutable_progress()->set_total_bytes(100u << 20);
  st.mutable_view()->set_hydration_seconds(100 / mib_per_second);
  fsm::Record r;
  r.set_id(absl::StrCat("m-", ended_ms));
  r.set_kind(kOutKind);
  r.set_state(state);
  r.set_updated_ms(ended_ms);
  r.set_data(st.SerializeAsString());
  return r;
}

TEST(LinkRates, TheMedianOfEachLinksNewestCopies) {
  std::vector<fsm::Record> records = {Out("w2", "DONE", 1, 1), Out("w2", "DONE", 2, 1), Out("w3", "DONE", 3, 8),
                                      Out("w2", "DONE", 4, 9), Out("w2", "FAILED", 5, 50)};
  auto rates = LinkRates(records);
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_DOUBLE_EQ(rates->at("w2"), 1u << 20);  // 1, 1, 9: one fast copy moves nothing; a failed one never counts
  EXPECT_DOUBLE_EQ(rates->at("w3"), 8u << 20);
  records.push_back(Out("w2", "DONE", 6, 10));
  EXPECT_DOUBLE_EQ(LinkRates(records)->at("w2"), 5u << 20);  // 1, 1, 9, 10: between the middle two
  for (int64_t at = 7; at < 10; ++at) records.push_back(Out("w2", "DONE", at, 10));
  EXPECT_DOUBLE_EQ(LinkRates(records)->at("w2"), 10u << 20);  // only the newest five: 9 and four 10s
  EXPECT_FALSE(LinkRates({})->count("w2"));
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
