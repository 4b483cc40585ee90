#include "fsm/decision.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "fsm/runner.h"
#include "spdlog/spdlog.h"

namespace volmigrate::fsm {
namespace {

void SetTerminal(const MachineDef& def, Decision& d) {
  d.next.set_terminal(def.terminal_states.contains(d.next.state()));
}

}  // namespace

absl::Duration Backoff(const RunnerOptions& opts, uint32_t attempts) {
  absl::Duration d = opts.backoff_initial;
  for (uint32_t i = 1; i < attempts && d < opts.backoff_max; ++i) d *= 2;
  return std::min(d, opts.backoff_max);
}

Decision DecideCancel(const MachineDef& def, const Record& r) {
  Decision d{.next = r, .clears_cancel = true, .then = absl::ZeroDuration()};
  d.next.set_cancel_requested(false);
  auto to = def.cancel_to.find(r.state());
  if (to != def.cancel_to.end()) {
    d.next.set_state(to->second);
    d.next.set_attempts(0);
    d.next.set_last_error("");
    spdlog::info("fsm: {} {} -> {} (cancelled)", r.id(), r.state(), to->second);
  } else {
    // Requested in a cancellable state, but a step moved on first.
    d.error = absl::StrCat("cancel refused: ", r.state(), " only goes forward");
    spdlog::warn("fsm: {} {}", r.id(), d.error);
  }
  SetTerminal(def, d);
  return d;
}

Decision DecideStep(const MachineDef& def, const Record& r, const absl::StatusOr<Next>& step,
                    const RunnerOptions& opts) {
  const std::string& from = r.state();
  Decision d{.next = r, .then = absl::ZeroDuration()};
  absl::StatusOr<Next> res = step;
  if (res.ok() && res->state == from && res->data == r.data()) {
    d.commit = false;  // polling: nothing to record
    d.then = std::max(res->wait, absl::Milliseconds(1));
    return d;
  }
  if (res.ok() && res->state != from && res->state != def.failed_state) {
    auto edges = def.edges.find(from);
    if (edges == def.edges.end() || !edges->second.contains(res->state))
      res = absl::InternalError(absl::StrCat("step ", from, " went to ", res->state, ", not an edge of its table"));
  }
  if (res.ok()) {
    if (res->state == from) d.then = res->wait;  // polling that recorded new data
    d.next.set_state(res->state);
    d.next.set_data(res->data);
    d.next.set_attempts(0);
    d.next.set_last_error("");
    if (res->state != from) spdlog::info("fsm: {} {} -> {}", r.id(), from, res->state);
  } else if (IsRetryable(res.status())) {
    d.error = res.status().ToString();
    d.next.set_attempts(r.attempts() + 1);
    d.next.set_last_error(d.error);
    d.then = Backoff(opts, d.next.attempts());
    spdlog::warn("fsm: {} {} failed (attempt {}), retrying in {}: {}", r.id(), from, d.next.attempts(),
                 absl::FormatDuration(d.then), d.error);
  } else {
    d.error = res.status().ToString();
    d.next.set_state(def.failed_state);
    d.next.set_last_error(d.error);
    spdlog::error("fsm: {} {} -> {}: {}", r.id(), from, def.failed_state, d.error);
  }
  SetTerminal(def, d);
  return d;
}

}  // namespace volmigrate::fsm
