// Hydration progress from dm-clone status samples: bytes, rate, ETA, stall
// detection and the rate limit's pause/resume decision. Pure functions of the
// migration's durable state, so a restarted workerd carries on where it was.
#pragma once

#include <cstdint>
#include <string>

#include "dmutil/clone.h"
#include "migration/state.pb.h"

namespace volmigrate::migration {

struct Sample {
  dm::CloneStatus status;
  int64_t now_ms = 0;
  std::string session_state;  // of the iSCSI session to the source ("" = none)
  std::string disk, disk_state;  // the session's disk ("sda") and its SCSI state ("running", "offline", ...)
  std::string kernel_error;   // the first kernel error about the clone or the source disk, if looked up
  uint64_t pool_free_bytes = 0;  // this worker's thin pool
  bool pool_full = false;        // it ran out: writes to it fail
  uint64_t busy_ms = 0;          // the clone's io_ticks: ms its consumer had I/O in flight
};

// Whether hydration must pause (or may resume) for the thin pool here: below
// `reserve_bytes` free, or full, it pauses; it resumes at twice the reserve.
// Sets st.pool_low; true when it changed.
bool UpdatePoolLow(MigrationState& st, const Sample& s, uint64_t reserve_bytes);

// dm-clone starts copies only while its device has no I/O in flight, and once
// a second besides; a consumer that always has some holds hydration back
// (measured in tests/vm/bench_hydration.sh: half the rate, where the same
// reads beside the clone cost little). While the consumer kept the clone busy
// at least half of the time since the last sample, hydration runs deep (more
// regions per start; kDeepFactor times the configured threshold and batch),
// until the busy share falls below a fifth. Idle, the configured depth: a deep
// one slowed an idle copy of scattered regions; and never under a rate cap
// (the caller's part). Sets st.hydration_deep; true when it changed.
inline constexpr uint32_t kDeepFactor = 4;
bool UpdateDepth(MigrationState& st, const Sample& s);

// Whether a sample would be reported stalled: then the kernel's log is worth
// reading for the reason (it is not read every poll).
bool LooksStalled(const MigrationState& st, const Sample& s, int stall_seconds);

// Updates st.view.progress (and the bookkeeping fields behind it) from a
// sample. The kernel only logs a failed hydration and retries forever, so no
// progress for `stall_seconds` is reported as a stall with the likeliest reason.
void UpdateProgress(MigrationState& st, const Sample& s, int stall_seconds);

enum class Throttle { kRun, kPause };

// Pauses hydration while it is ahead of `max_bytes_per_second` (0: no limit)
// on average since it started, with at most a couple of seconds' allowance
// saved up from slower spells.
Throttle DecideThrottle(MigrationState& st, const Sample& s, uint64_t max_bytes_per_second);

}  // namespace volmigrate::migration
