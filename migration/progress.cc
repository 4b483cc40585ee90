#include "migration/progress.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace volmigrate::migration {
namespace {

// The rate cap is a schedule that allows max_bytes_per_second from an origin:
// a copy faster than the cap runs one poll past it, then pauses until the
// schedule catches up, so the average holds at the cap whatever the link's
// speed. (Windows that each began with a poll at full speed let a fast copy
// run at several times the cap.)
constexpr int64_t kRateBurstMs = 2000;

// The rate the ETA divides by: regions copied since rate_from over the time
// since, where rate_from is the last sample before copying started (the wait
// for the first copies is not the link's speed), and moves up one window at
// a time in a long copy (so the rate follows a change within two windows).
// Unlike the 0.3-weighted average of samples it replaced, one slow first
// interval weighs no more than its share of the time. The copy still comes in
// bursts while a consumer reads, so an ETA from its first second can be far
// off (tests/vm/README.md).
constexpr int64_t kEtaWindowMs = 30000;

void UpdateRate(MigrationState& st, const Sample& s, v1::MigrationProgress& p) {
  const uint64_t region_bytes = s.status.region_sectors * 512;
  p.set_total_bytes(s.status.total_regions * region_bytes);
  p.set_hydrated_bytes(s.status.hydrated * region_bytes);
  // A pause for the rate cap is no idle time: the stall clock starts when it ends.
  if (st.last_progress_unix_ms() == 0 || s.status.hydrated != st.last_hydrated() || st.hydration_paused()) {
    st.set_last_hydrated(s.status.hydrated);
    st.set_last_progress_unix_ms(s.now_ms);
  }
  // No copy measured yet, a clone rebuilt from older metadata, or a pause for
  // the pool (its length is no measure of the link): start again from here.
  const bool restart = st.rate_from_unix_ms() == 0 || s.status.hydrated < st.rate_from_hydrated() ||
                       s.status.hydrated < st.rate_next_hydrated() || st.pool_low();
  if (restart || s.status.hydrated == st.rate_from_hydrated()) {
    st.set_rate_from_unix_ms(s.now_ms);
    st.set_rate_from_hydrated(s.status.hydrated);
    st.clear_rate_next_unix_ms();
    st.clear_rate_next_hydrated();
    p.set_rate_bytes_per_second(0);
  } else {
    if (st.rate_next_unix_ms() != 0 && s.now_ms - st.rate_next_unix_ms() >= kEtaWindowMs) {
      st.set_rate_from_unix_ms(st.rate_next_unix_ms());
      st.set_rate_from_hydrated(st.rate_next_hydrated());
      st.clear_rate_next_unix_ms();
    }
    if (st.rate_next_unix_ms() == 0 && s.now_ms - st.rate_from_unix_ms() >= kEtaWindowMs) {
      st.set_rate_next_unix_ms(s.now_ms);
      st.set_rate_next_hydrated(s.status.hydrated);
    }
    const double dt = static_cast<double>(s.now_ms - st.rate_from_unix_ms()) / 1000.0;
    const double copied = static_cast<double>((s.status.hydrated - st.rate_from_hydrated()) * region_bytes);
    p.set_rate_bytes_per_second(dt > 0 ? copied / dt : 0);
  }
  uint64_t left = p.total_bytes() - p.hydrated_bytes();
  p.set_eta_seconds(p.rate_bytes_per_second() > 0 ? static_cast<double>(left) / p.rate_bytes_per_second() : 0);
}

// Why no region has been copied for a while, naming the side that fails;
// `cause` is the short name metrics count stalls by.
struct Why {
  std::string cause, reason;
};
Why StallReason(const MigrationState& st, const Sample& s, int64_t idle_ms, const std::string& kernel) {
  std::string idle = absl::StrCat("no hydration progress for ", idle_ms / 1000, " s: ");
  const bool offline = absl::EndsWith(s.disk_state, "offline");  // "offline" or "transport-offline"
  const std::string disk =
      offline ? absl::StrCat("; the source's disk ", s.disk, " is ", s.disk_state, ": the kernel fails I/O to it") : "";
  if (s.pool_full)
    return {"pool_full", absl::StrCat(idle, "the destination's thin pool on ", st.view().destination_worker(),
                                      " is full: writes to it fail", kernel)};
  if (s.session_state.empty()) return {"no_session", absl::StrCat(idle, "no iSCSI session to the source", kernel)};
  if (s.session_state != "LOGGED_IN")
    return {"session_down", absl::StrCat(idle, "iSCSI session to the source is ", s.session_state,
                                         " (link or source down?); ",
                                         offline ? "I/O fails until it logs in again" : "I/O waits for it to recover",
                                         disk, kernel)};
  if (offline) return {"disk_offline", absl::StrCat(idle, "the iSCSI session is logged in", disk, kernel)};
  if (!kernel.empty())
    return {"hydration_failing", absl::StrCat(idle, "hydration is failing and dm-clone retries it forever", kernel)};
  return {"consumer_io", idle + "the source is reachable and the kernel logged no error about the clone or the "
                                "source disk; the consumer's I/O may keep background hydration paused"};
}

void Stall(v1::MigrationProgress& p, Why why) {
  p.set_stalled(true);
  p.set_rate_bytes_per_second(0);
  p.set_eta_seconds(0);
  p.set_stall_cause(std::move(why.cause));
  p.set_stall_reason(std::move(why.reason));
}

}  // namespace

void UpdateProgress(MigrationState& st, const Sample& s, int stall_seconds) {
  v1::MigrationProgress& p = *st.mutable_view()->mutable_progress();
  const std::string kernel = s.kernel_error.empty() ? "" : absl::StrCat("; the kernel logged: ", s.kernel_error);
  if (s.status.failed || s.status.error) {
    p.set_stalled(true);
    p.set_stall_cause("clone_failed");
    p.set_stall_reason(absl::StrCat(s.status.failed ? "dm-clone metadata is in fail mode"
                                                    : "dm-clone reports an error status",
                                    kernel.empty() ? " (see the kernel log)" : kernel));
    return;
  }
  UpdateRate(st, s, p);
  const uint64_t left = p.total_bytes() - p.hydrated_bytes();
  if (st.pool_low() && left > 0) {
    const std::string room = s.pool_full ? " is full" : absl::StrCat(" has ", s.pool_free_bytes, " bytes free");
    return Stall(p, {"pool_low", absl::StrCat("hydration paused: the destination's thin pool on ",
                                              st.view().destination_worker(), room,
                                              " (migration.pool_reserve_mib keeps some free); ", left,
                                              " bytes are still to copy: free space there and it resumes")});
  }
  const int64_t idle_ms = s.now_ms - st.last_progress_unix_ms();
  if (left == 0 || st.hydration_paused() || idle_ms < int64_t{stall_seconds} * 1000) {
    p.set_stalled(false);
    p.clear_stall_cause();
    p.clear_stall_reason();
    return;
  }
  Stall(p, StallReason(st, s, idle_ms, kernel));
}

bool LooksStalled(const MigrationState& st, const Sample& s, int stall_seconds) {
  if (s.status.failed || s.status.error) return true;
  return st.last_progress_unix_ms() != 0 && !st.hydration_paused() && s.status.hydrated <= st.last_hydrated() &&
         s.now_ms - st.last_progress_unix_ms() >= int64_t{stall_seconds} * 1000;
}

bool UpdatePoolLow(MigrationState& st, const Sample& s, uint64_t reserve_bytes) {
  const bool low = st.pool_low() ? s.pool_full || s.pool_free_bytes < 2 * reserve_bytes
                                 : s.pool_full || s.pool_free_bytes < reserve_bytes;
  if (low == st.pool_low()) return false;
  st.set_pool_low(low);
  return true;
}

bool UpdateDepth(MigrationState& st, const Sample& s) {
  const int64_t elapsed = s.now_ms - st.busy_unix_ms();
  // No earlier sample, or the clone was made again (its counter restarts).
  const bool comparable = st.busy_unix_ms() != 0 && elapsed > 0 && s.busy_ms >= st.busy_ms();
  const double busy = comparable ? static_cast<double>(s.busy_ms - st.busy_ms()) / static_cast<double>(elapsed) : 0;
  st.set_busy_ms(s.busy_ms);
  st.set_busy_unix_ms(s.now_ms);
  if (!comparable) return false;
  const bool deep = st.hydration_deep() ? busy >= 0.2 : busy >= 0.5;
  if (deep == st.hydration_deep()) return false;
  st.set_hydration_deep(deep);
  return true;
}

Throttle DecideThrottle(MigrationState& st, const Sample& s, uint64_t max_bytes_per_second) {
  if (max_bytes_per_second == 0) return Throttle::kRun;
  // A counter that went back (the clone rebuilt from its metadata) or a clock
  // that did: a new origin.
  if (st.rate_window_unix_ms() == 0 || s.status.hydrated < st.rate_window_hydrated() ||
      s.now_ms < st.rate_window_unix_ms()) {
    st.set_rate_window_unix_ms(s.now_ms);
    st.set_rate_window_hydrated(s.status.hydrated);
    return Throttle::kRun;
  }
  // In bytes times milliseconds per second, exactly (a double's rounding
  // would pause a copy that is exactly on schedule).
  __extension__ typedef unsigned __int128 Wide;
  const Wide allowed = Wide{max_bytes_per_second} * static_cast<uint64_t>(s.now_ms - st.rate_window_unix_ms());
  const Wide done = Wide{s.status.hydrated - st.rate_window_hydrated()} * s.status.region_sectors * 512 * 1000;
  if (done > allowed) return Throttle::kPause;
  // Allowance left unused (a slow link, a cut) is kept only up to a burst's
  // worth: the origin follows up behind it.
  const Wide burst = Wide{max_bytes_per_second} * kRateBurstMs;
  if (allowed - done > burst)
    st.set_rate_window_unix_ms(st.rate_window_unix_ms() +
                               static_cast<int64_t>((allowed - done - burst) / max_bytes_per_second));
  return Throttle::kRun;
}

}  // namespace volmigrate::migration
