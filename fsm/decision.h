// What the runner does with one step's outcome, decided without threads or
// the store: the runner decides, commits the decision's record, then
// schedules (leveldb's VersionSet::LogAndApply: build the edit, write it,
// install it). The table in runner.h is what these functions implement.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsm/record.pb.h"

namespace volmigrate::fsm {

struct MachineDef;
struct Next;
struct RunnerOptions;

struct Decision {
  // false: the step polled and changed nothing; there is nothing to record.
  bool commit = true;
  Record next;                 // the record to commit (terminal() set)
  std::string error;           // the history entry's error, if any
  bool clears_cancel = false;  // the commit consumes the cancel request
  absl::Duration then;         // delay before the next step, unless next is terminal
};

// For a record whose cancel was requested: the definition's cancel state for
// the current one, or (a step moved on first) the request dropped with an error.
Decision DecideCancel(const MachineDef& def, const Record& r);

// For the result of running r's step: the next state, a retry with backoff,
// the failed state, or (a poll with no new data) no commit.
Decision DecideStep(const MachineDef& def, const Record& r, const absl::StatusOr<Next>& res,
                    const RunnerOptions& opts);

// The capped exponential backoff before retry number `attempts` (1-based).
absl::Duration Backoff(const RunnerOptions& opts, uint32_t attempts);

}  // namespace volmigrate::fsm
