#include "migration/progress.h"

#include "gtest/gtest.h"

namespace volmigrate::migration {
namespace {

Sample At(int64_t ms, uint64_t hydrated, const std::string& session = "LOGGED_IN") {
  Sample s;
  s.status.region_sectors = 128;  // 64 KiB
  s.status.total_regions = 1000;
  s.status.hydrated = hydrated;
  s.now_ms = ms;
  s.session_state = session;
  return s;
}

TEST(Progress, BytesRateAndEta) {
  MigrationState st;
  UpdateProgress(st, At(1000, 100), 30);
  const auto& p = st.view().progress();
  EXPECT_EQ(p.total_bytes(), 1000u * 65536);
  EXPECT_EQ(p.hydrated_bytes(), 100u * 65536);
  EXPECT_EQ(p.rate_bytes_per_second(), 0);  // one sample: no rate yet
  UpdateProgress(st, At(3000, 300), 30);     // 200 regions in 2 s
  EXPECT_DOUBLE_EQ(p.rate_bytes_per_second(), 100.0 * 65536);
  EXPECT_DOUBLE_EQ(p.eta_seconds(), 7.0);
  EXPECT_FALSE(p.stalled());
}

// The wait before the first copies is not the link's speed, and one slow
// interval weighs only its share of the time: the ETA at a tenth holds.
TEST(Progress, EtaRateStartsWithTheCopyAndFollowsAChange) {
  MigrationState st;
  UpdateProgress(st, At(1000, 0), 30);
  const auto& p = st.view().progress();
  UpdateProgress(st, At(2000, 0), 30);      // hydration enabled, nothing copied yet
  UpdateProgress(st, At(3000, 50), 30);     // 50 regions in the first second of copying
  UpdateProgress(st, At(4000, 150), 30);    // then 100 a second
  EXPECT_DOUBLE_EQ(p.rate_bytes_per_second(), 75.0 * 65536);  // 150 in the 2 s since the copy began
  UpdateProgress(st, At(5000, 250), 30);
  EXPECT_NEAR(p.rate_bytes_per_second(), 250.0 / 3 * 65536, 1);
  EXPECT_NEAR(p.eta_seconds(), 750.0 / (250.0 / 3), 1e-6);
  // The rate halves: within two windows (30 s each) the ETA knows only the new one.
  uint64_t h = 250;
  for (int64_t t = 6000; t <= 66000; t += 1000) UpdateProgress(st, At(t, h += 5), 30);
  EXPECT_GT(p.rate_bytes_per_second(), 5.0 * 65536 * 0.99);
  EXPECT_LT(p.rate_bytes_per_second(), 5.0 * 65536 * 1.5);
  // A clone rebuilt from older metadata starts the measure again.
  UpdateProgress(st, At(67000, 200), 30);
  EXPECT_EQ(p.rate_bytes_per_second(), 0);
  EXPECT_EQ(p.eta_seconds(), 0);
}

TEST(Progress, StallNamesTheLikelyCause) {
  MigrationState st;
  UpdateProgress(st, At(1000, 10), 30);
  UpdateProgress(st, At(30000, 10), 30);
  EXPECT_FALSE(st.view().progress().stalled());
  UpdateProgress(st, At(32000, 10, "FAILED"), 30);
  EXPECT_TRUE(st.view().progress().stalled());
  EXPECT_NE(st.view().progress().stall_reason().find("iSCSI session to the source is FAILED"), std::string::npos)
      << st.view().progress().stall_reason();
  EXPECT_EQ(st.view().progress().stall_cause(), "session_down");
  UpdateProgress(st, At(33000, 10, ""), 30);
  EXPECT_NE(st.view().progress().stall_reason().find("no iSCSI session"), std::string::npos);
  EXPECT_EQ(st.view().progress().stall_cause(), "no_session");
  UpdateProgress(st, At(34000, 11), 30);  // progress again
  EXPECT_FALSE(st.view().progress().stalled());
  EXPECT_TRUE(st.view().progress().stall_reason().empty());
  EXPECT_TRUE(st.view().progress().stall_cause().empty());
}

// dm-clone retries a failed region forever and only logs it: the stall says
// what the kernel logged, so the operator knows which side is failing.
TEST(Progress, StallNamesTheKernelsFirstError) {
  MigrationState st;
  UpdateProgress(st, At(1000, 10), 30);
  Sample s = At(31000, 10);
  EXPECT_TRUE(LooksStalled(st, s, 30));
  EXPECT_FALSE(LooksStalled(st, At(2000, 10), 30));
  EXPECT_FALSE(LooksStalled(st, At(31000, 11), 30));
  s.kernel_error = "I/O error, dev sdb, sector 2048 op 0x0:(READ)";
  UpdateProgress(st, s, 30);
  const auto& p = st.view().progress();
  EXPECT_TRUE(p.stalled());
  EXPECT_NE(p.stall_reason().find("hydration is failing"), std::string::npos) << p.stall_reason();
  EXPECT_NE(p.stall_reason().find("the kernel logged: I/O error, dev sdb"), std::string::npos) << p.stall_reason();
  EXPECT_EQ(p.stall_cause(), "hydration_failing");
  UpdateProgress(st, At(32000, 10), 30);  // the source reachable and no error logged
  EXPECT_NE(p.stall_reason().find("logged no error"), std::string::npos) << p.stall_reason();
  EXPECT_EQ(p.stall_cause(), "consumer_io");
}

// The source reboot: the replacement timeout expired and the kernel
// offlined the disk; the stall names it, whether the session is back or not.
TEST(Progress, StallNamesAnOfflineSourceDisk) {
  MigrationState st;
  UpdateProgress(st, At(1000, 10), 30);
  Sample s = At(31000, 10, "FAILED");
  s.disk = "sda";
  s.disk_state = "transport-offline";
  UpdateProgress(st, s, 30);
  const auto& p = st.view().progress();
  EXPECT_NE(p.stall_reason().find("session to the source is FAILED (link or source down?); I/O fails until it logs "
                                  "in again; the source's disk sda is transport-offline"),
            std::string::npos)
      << p.stall_reason();
  s = At(32000, 10);
  s.disk = "sda";
  s.disk_state = "offline";
  UpdateProgress(st, s, 30);
  EXPECT_NE(p.stall_reason().find("logged in; the source's disk sda is offline: the kernel fails I/O to it"),
            std::string::npos)
      << p.stall_reason();
}

TEST(Progress, FailModeIsAStall) {
  MigrationState st;
  Sample s = At(0, 10);
  s.status.failed = true;
  UpdateProgress(st, s, 30);
  EXPECT_TRUE(st.view().progress().stalled());
  EXPECT_NE(st.view().progress().stall_reason().find("fail mode"), std::string::npos);
}

TEST(Throttle, PausesWhileAheadOfTheCap) {
  MigrationState st;
  EXPECT_EQ(DecideThrottle(st, At(0, 0), 0), Throttle::kRun);  // no limit
  const uint64_t limit = 10 * 65536;                            // 10 regions a second
  EXPECT_EQ(DecideThrottle(st, At(10000, 20), limit), Throttle::kRun);
  EXPECT_EQ(DecideThrottle(st, At(11000, 25), limit), Throttle::kRun);
  EXPECT_EQ(DecideThrottle(st, At(12000, 60), limit), Throttle::kPause);  // 40 in 2 s
  EXPECT_EQ(DecideThrottle(st, At(13000, 60), limit), Throttle::kPause);  // still ahead
  EXPECT_EQ(DecideThrottle(st, At(14000, 60), limit), Throttle::kRun);    // caught up
  EXPECT_EQ(DecideThrottle(st, At(15000, 3), limit), Throttle::kRun);     // the clone rebuilt: a new origin
  EXPECT_EQ(st.rate_window_hydrated(), 3u);
}

// A copy 16 times faster than the cap, polled each second as HYDRATING does,
// averages the cap: it overshoots by one poll at most. The minute the link was
// down saves no allowance for a burst after it.
TEST(Throttle, AFastCopyAveragesTheCap) {
  const uint64_t limit = 10 * 65536, speed = 160;  // regions a second when running
  MigrationState st;
  uint64_t hydrated = 0;
  Throttle t = DecideThrottle(st, At(10000, 20), limit);
  int64_t ms = 10'000;
  for (; ms < 130'000;) {
    ms += 1000;
    if (t == Throttle::kRun) hydrated += speed;
    t = DecideThrottle(st, At(ms, hydrated), limit);
  }
  EXPECT_LE(hydrated, 10u * 120 + speed);
  EXPECT_GE(hydrated, 10u * 120 - speed);
  for (; ms < 190'000; ms += 1000) t = DecideThrottle(st, At(ms, hydrated), limit);  // the link down
  const uint64_t before = hydrated;
  for (; ms < 200'000;) {
    ms += 1000;
    if (t == Throttle::kRun) hydrated += speed;
    t = DecideThrottle(st, At(ms, hydrated), limit);
  }
  EXPECT_LE(hydrated - before, 10u * 10 + 20 + speed);  // ten seconds, two saved up, one poll over
}

// The stall clock does not run while the cap holds hydration paused.
TEST(Throttle, APauseIsNotAStall) {
  MigrationState st;
  UpdateProgress(st, At(0, 100), 30);
  st.set_hydration_paused(true);
  UpdateProgress(st, At(60'000, 100), 30);
  EXPECT_FALSE(st.view().progress().stalled());
  st.set_hydration_paused(false);
  UpdateProgress(st, At(61'000, 100), 30);
  EXPECT_FALSE(st.view().progress().stalled());
  EXPECT_FALSE(LooksStalled(st, At(62'000, 100), 30));
}

// Busy half the time or more: deep; back below a fifth: configured again; in
// between it stays as it was. A counter that went back (the clone made again
// after a reboot) starts a new baseline, deciding nothing.
TEST(Depth, DeepWhileTheConsumerKeepsTheCloneBusy) {
  MigrationState st;
  Sample s;
  auto at = [&](int64_t now_ms, uint64_t busy_ms) {
    s.now_ms = now_ms;
    s.busy_ms = busy_ms;
    return UpdateDepth(st, s);
  };
  EXPECT_FALSE(at(10'000, 5'000));  // the first sample: a baseline only
  EXPECT_FALSE(at(11'000, 5'400));  // 40%
  EXPECT_FALSE(st.hydration_deep());
  EXPECT_TRUE(at(12'000, 5'900));   // 50%
  EXPECT_TRUE(st.hydration_deep());
  EXPECT_FALSE(at(13'000, 6'200));  // 30%: stays deep
  EXPECT_FALSE(at(14'000, 100));    // counter restarted
  EXPECT_TRUE(st.hydration_deep());
  EXPECT_TRUE(at(15'000, 250));     // 15%
  EXPECT_FALSE(st.hydration_deep());
  EXPECT_FALSE(at(15'000, 900));    // no time passed: nothing decided
}

}  // namespace
}  // namespace volmigrate::migration
