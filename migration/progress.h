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
};

// Whether hydration must pause (or may resume) for the thin pool here: below
// `reserve_bytes` free, or full, it pauses; it resumes at twice the reserve.
// Sets st.pool_low; true when it changed.
bool UpdatePoolLow(MigrationState& st, const Sample& s, uint64_t reserve_bytes);

// Whether a sample would be reported stalled: then the kernel's log is worth
// reading for the reason (it is not read every poll).
bool LooksStalled(const MigrationState& st, const Sample& s, int stall_seconds);

// Updates st.view.progress (and the bookkeeping fields behind it) from a
// sample. The kernel only logs a failed hydration and retries forever, so no
// progress for `stall_seconds` is reported as a stall with the likeliest reason.
void UpdateProgress(MigrationState& st, const Sample& s, int stall_seconds);

enum class Throttle { kRun, kPause };

// Duty-cycles hydration to stay under `max_bytes_per_second` (0: no limit),
// measured over windows of a few seconds.
Throttle DecideThrottle(MigrationState& st, const Sample& s, uint64_t max_bytes_per_second);

}  // namespace volmigrate::migration
