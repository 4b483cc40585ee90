#include "migratectl/format.h"

#include <tuple>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace volmigrate::cli {
namespace {

TEST(Format, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{4} << 30), "4.0 GiB");
}

TEST(Format, Durations) {
  EXPECT_EQ(FormatDuration(0), "-");
  EXPECT_EQ(FormatDuration(45), "45s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(7500), "2h05m");
}

TEST(Format, TableAlignsColumns) {
  std::string t = RenderTable({"A", "LONGER"}, {{"xxxx", "1"}, {"y", "22"}});
  EXPECT_EQ(t, "A     LONGER\nxxxx  1\ny     22\n");
}

TEST(Format, VolumesTable) {
  v1::ListVolumesResponse r;
  EXPECT_EQ(VolumesTable(r), "no volumes\n");
  v1::Volume* v = r.add_volumes();
  v->set_id("vol-1");
  v->set_size_bytes(uint64_t{256} << 20);
  v->set_state(v1::VOLUME_STATE_MIGRATING_OUT);
  v->set_worker("w1");
  v->set_migration_id("mig-1");
  EXPECT_EQ(VolumesTable(r),
            "VOLUME  SIZE       STATE          WORKER  MIGRATION\n"
            "vol-1   256.0 MiB  MIGRATING_OUT  w1      mig-1\n");
  v1::Volume* bad = r.add_volumes();
  bad->set_id("vol-2");
  bad->set_state(v1::VOLUME_STATE_UNREADABLE);
  bad->set_problem("not a LUKS2 device");
  const std::string t = VolumesTable(r);
  EXPECT_NE(t.find("UNREADABLE"), std::string::npos) << t;
  EXPECT_NE(t.find("\nvol-2: not a LUKS2 device\n"), std::string::npos) << t;
}

v1::Migration Halfway() {
  v1::Migration m;
  m.set_id("mig-1");
  m.set_volume_id("vol-1");
  m.set_source_worker("w1");
  m.set_destination_worker("w2");
  m.set_state("HYDRATING");
  auto* p = m.mutable_progress();
  p->set_total_bytes(uint64_t{4} << 30);
  p->set_hydrated_bytes(uint64_t{2} << 30);
  p->set_rate_bytes_per_second(20 << 20);
  p->set_eta_seconds(102.4);
  return m;
}

TEST(Format, PlansAndPools) {
  v1::Drain d;
  d.set_worker("w1");
  v1::PlannedMove* m = d.add_plan();
  m->set_volume_id("vol-2");
  m->set_destination_worker("w2");
  m->set_bytes(64u << 20);
  m->set_rate_bytes_per_second(8u << 20);
  m->set_eta_seconds(8);
  d.set_eta_seconds(8);
  EXPECT_EQ(DrainPlanTable(d),
            "VOLUME  TO  BYTES     RATE                 ETA\n"
            "vol-2   w2  64.0 MiB  8.0 MiB/s (assumed)  8s\n"
            "plan for w1: 1 volume(s), about 8s in all\n");
  for (auto [w, used, planned] : {std::tuple{"w1", 128u, 64u}, std::tuple{"w2", 0u, 64u}}) {
    v1::PoolUse* p = d.add_pools();
    p->set_worker(w);
    p->set_size_bytes(1u << 30);
    p->set_used_bytes(uint64_t{used} << 20);
    p->set_planned_used_bytes(uint64_t{planned} << 20);
  }
  EXPECT_EQ(PoolUseTable(d),
            "POOL  SIZE     USED               PLANNED\n"
            "w1    1.0 GiB  128.0 MiB (12.5%)  64.0 MiB (6.2%)\n"
            "w2    1.0 GiB  0 B (0.0%)         64.0 MiB (6.2%)\n");
  d.add_kept("vol-3: volume vol-3 is sealed");
  EXPECT_TRUE(absl::EndsWith(PoolUseTable(d), "64.0 MiB (6.2%)\nkept on w1: vol-3: volume vol-3 is sealed\n"))
      << PoolUseTable(d);
}

TEST(Format, DrainLine) {
  v1::Drain d;
  d.set_id("d-1");
  d.set_state("RUNNING");
  d.add_migration_ids("m-1");
  d.add_migration_ids("m-2");
  d.set_ended(1);
  d.set_remaining_seconds(42);
  EXPECT_EQ(DrainLine(d), "drain d-1: 1 of 2 ended, about 42s left");
  d.set_state("ENDED");
  d.set_ended(2);
  EXPECT_EQ(DrainLine(d), "drain d-1: 2 of 2 ended (ENDED)");
}

TEST(Format, ProgressLine) {
  EXPECT_EQ(ProgressLine(Halfway(), 10), "[#####.....]  50.0%  2.0 GiB/4.0 GiB  20.0 MiB/s  ETA 1m42s  HYDRATING");
  v1::Migration m = Halfway();
  m.mutable_progress()->set_stalled(true);
  m.mutable_progress()->set_stall_reason("no progress for 60s");
  EXPECT_NE(ProgressLine(m, 10).find("STALLED: no progress for 60s"), std::string::npos);
  v1::Migration empty;
  empty.set_state("FENCED");
  EXPECT_EQ(ProgressLine(empty, 4), "[....]   0.0%  0 B/0 B  -  ETA -  FENCED");
  m = Halfway();
  m.mutable_progress()->set_discarded_bytes(uint64_t{1} << 30);
  m.set_blackout_seconds(8.3);
  EXPECT_EQ(ProgressLine(m, 10),
            "[#####.....]  50.0%  2.0 GiB/4.0 GiB  20.0 MiB/s  ETA 1m42s  HYDRATING  1.0 GiB skipped by discard  "
            "blackout 8.3s");
}

TEST(Format, MigrationsTable) {
  v1::ListMigrationsResponse r;
  *r.add_migrations() = Halfway();
  EXPECT_EQ(MigrationsTable(r),
            "MIGRATION  VOLUME  ROUTE     STATE      DONE   RATE        ETA\n"
            "mig-1      vol-1   w1 -> w2  HYDRATING  50.0%  20.0 MiB/s  1m42s\n");
}

TEST(Format, DetailsShowErrorAndHistory) {
  v1::Migration m = Halfway();
  m.set_error("UNAVAILABLE: iSCSI login timed out");
  auto* t = m.add_history();
  t->set_at_unix_ms(1795000000000);
  t->set_to("FENCED");
  std::string d = MigrationDetails(m);
  EXPECT_NE(d.find("error:       UNAVAILABLE: iSCSI login timed out\n"), std::string::npos) << d;
  EXPECT_NE(d.find("history:\n"), std::string::npos);
  EXPECT_NE(d.find("FENCED"), std::string::npos);
}

TEST(Format, JsonUsesProtoNamesAndDefaults) {
  auto j = nlohmann::json::parse(ToJson(Halfway()));
  EXPECT_EQ(j["volume_id"], "vol-1");
  EXPECT_EQ(j["progress"]["hydrated_bytes"], "2147483648");  // 64-bit ints are strings in proto3 JSON
  EXPECT_EQ(j["blackout_seconds"], 0);
}

TEST(Format, ErrorsAndExitCodes) {
  grpc::Status s(grpc::NOT_FOUND, "no volume 'x' on worker w1");
  EXPECT_EQ(ErrorLine(s), "NOT_FOUND: no volume 'x' on worker w1");
  auto j = nlohmann::json::parse(ErrorJson(s));
  EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(ExitCodeFor(grpc::NOT_FOUND), kNotFound);
  EXPECT_EQ(ExitCodeFor(grpc::FAILED_PRECONDITION), kRefused);
  EXPECT_EQ(ExitCodeFor(grpc::UNAVAILABLE), kUnreachable);
  EXPECT_EQ(ExitCodeFor(grpc::PERMISSION_DENIED), kAuth);
  EXPECT_EQ(ExitCodeFor(grpc::INTERNAL), kServerError);
}

TEST(Format, ParseSize) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("256M"), uint64_t{256} << 20);
  EXPECT_EQ(*ParseSize("10G"), uint64_t{10} << 30);
  EXPECT_EQ(*ParseSize("1.5GiB"), uint64_t{3} << 29);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("-1G").ok());
  EXPECT_FALSE(ParseSize("10X").ok());
  EXPECT_FALSE(ParseSize("G").ok());
}

TEST(Format, RetiredTableSaysWhenEachExpires) {
  v1::ListRetiredResponse r;
  EXPECT_EQ(RetiredTable(r), "no retired copies\n");
  v1::RetiredCopy* c = r.add_copies();
  c->set_name("m-1a2b-retired");
  c->set_volume_id("vol-1");
  c->set_bytes(3 << 20);
  c->set_retired_unix(1796256000);
  c->set_expires_unix(1796342400);
  v1::RetiredCopy* old = r.add_copies();
  old->set_name("m-gone-retired");
  std::string t = RetiredTable(r);
  for (const char* want : {"NAME", "EXPIRES", "vol-1", "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z", "never"})
    EXPECT_NE(t.find(want), std::string::npos) << want << " in\n" << t;
  EXPECT_NE(t.find(FormatBytes(3 << 20)), std::string::npos) << t;
}

}  // namespace
}  // namespace volmigrate::cli
