#include "fsm/runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "fsm/decision.h"
#include "spdlog/spdlog.h"

namespace volmigrate::fsm {

bool IsRetryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

namespace {

// Every state with a step has its edges; every edge and cancel ends in a state
// of the machine.
absl::Status CheckEdges(const MachineDef& def) {
  auto known = [&](const std::string& s) { return def.steps.contains(s) || def.terminal_states.contains(s); };
  for (const auto& [state, step] : def.steps)
    if (!def.edges.contains(state))
      return absl::InvalidArgumentError(absl::StrCat(def.kind, ": state ", state, " has no edges"));
  for (const auto& [from, tos] : def.edges) {
    if (!def.steps.contains(from))
      return absl::InvalidArgumentError(absl::StrCat(def.kind, ": edges from ", from, ", which has no step"));
    for (const std::string& to : tos)
      if (!known(to)) return absl::InvalidArgumentError(absl::StrCat(def.kind, ": edge ", from, " -> unknown ", to));
  }
  for (const auto& [from, to] : def.cancel_to)
    if (!def.steps.contains(from) || !known(to))
      return absl::InvalidArgumentError(absl::StrCat(def.kind, ": cancel ", from, " -> ", to, " leaves the machine"));
  return absl::OkStatus();
}

}  // namespace

Runner::Runner(Store* store, RunnerOptions options) : store_(store), opts_(options) {
  opts_.max_concurrent = std::max(1, opts_.max_concurrent);
}

Runner::~Runner() { Stop(); }

absl::Status Runner::Register(MachineDef def) {
  if (def.kind.empty()) return absl::InvalidArgumentError("machine kind must not be empty");
  if (!def.terminal_states.contains(def.failed_state))
    return absl::InvalidArgumentError(absl::StrCat(def.kind, ": failed state ", def.failed_state, " is not terminal"));
  if (!def.steps.contains(def.initial_state) && !def.terminal_states.contains(def.initial_state))
    return absl::InvalidArgumentError(absl::StrCat(def.kind, ": initial state ", def.initial_state, " has no step"));
  RETURN_IF_ERROR(CheckEdges(def));
  std::lock_guard lock(mu_);
  if (started_) return absl::FailedPreconditionError("Register after Start");
  std::string kind = def.kind;
  if (!defs_.emplace(kind, std::move(def)).second)
    return absl::AlreadyExistsError(absl::StrCat("machine kind ", kind, " registered twice"));
  return absl::OkStatus();
}

absl::Status Runner::Start() {
  ASSIGN_OR_RETURN(std::vector<Record> all, store_->List());
  std::lock_guard lock(mu_);
  for (const Record& r : all) {
    if (r.terminal()) continue;
    if (!defs_.contains(r.kind()))
      return absl::FailedPreconditionError(
          absl::StrCat("machine ", r.id(), " is of kind '", r.kind(), "', which this build does not know"));
  }
  int resumed = 0;
  for (const Record& r : all) {
    // A machine submitted before Start is queued already: queued twice, two
    // workers would run its step at once.
    if (r.terminal() || active_.contains(r.id())) continue;
    Schedule(r.id(), absl::ZeroDuration());
    ++resumed;
  }
  if (resumed) spdlog::info("fsm: resuming {} unfinished machine(s) from {}", resumed, store_->path());
  started_ = true;
  stopping_ = false;
  for (int i = 0; i < opts_.max_concurrent; ++i) threads_.emplace_back([this] { Worker(); });
  return absl::OkStatus();
}

absl::Status Runner::Submit(const std::string& kind, const std::string& id, const std::string& data,
                            const std::vector<std::string>& claims) {
  std::string initial;
  {
    std::lock_guard lock(mu_);
    auto it = defs_.find(kind);
    if (it == defs_.end()) return absl::InvalidArgumentError(absl::StrCat("unknown machine kind ", kind));
    initial = it->second.initial_state;
  }
  Record r;
  r.set_id(id);
  r.set_kind(kind);
  r.set_state(initial);
  r.set_data(data);
  for (const std::string& c : claims) r.add_claims(c);
  RETURN_IF_ERROR(store_->Create(r));
  std::lock_guard lock(mu_);
  Schedule(id, absl::ZeroDuration());
  Bump();
  return absl::OkStatus();
}

absl::Status Runner::Cancel(const std::string& id) {
  std::map<std::string, std::set<std::string>> cancellable;  // kind -> states
  {
    std::lock_guard lock(mu_);
    for (const auto& [kind, def] : defs_)
      for (const auto& [state, to] : def.cancel_to) cancellable[kind].insert(state);
  }
  // Checked and recorded in one store transaction: a step moving the machine
  // on meanwhile cannot make a cancellable machine look refused.
  RETURN_IF_ERROR(store_->RequestCancel(id, [&](const Record& r) -> absl::Status {
    if (r.terminal()) return absl::FailedPreconditionError(absl::StrCat(id, " has already ended in ", r.state()));
    if (!cancellable[r.kind()].contains(r.state()))
      return absl::FailedPreconditionError(absl::StrCat(id, " cannot be cancelled in state ", r.state()));
    return absl::OkStatus();
  }));
  std::lock_guard lock(mu_);
  // A machine waiting out a backoff should act on the cancel now.
  for (auto it = delayed_.begin(); it != delayed_.end(); ++it) {
    if (it->second == id) {
      delayed_.erase(it);
      ready_.push_back(id);
      cv_.notify_one();
      break;
    }
  }
  Bump();
  return absl::OkStatus();
}

void Runner::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mu_);
  ready_.clear();
  delayed_.clear();
  active_.clear();
  started_ = false;
}

uint64_t Runner::Version() const {
  std::lock_guard lock(mu_);
  return version_;
}

uint64_t Runner::WaitForChange(uint64_t seen, absl::Time deadline) const {
  std::unique_lock lock(mu_);
  while (version_ <= seen && !stopping_) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    changed_cv_.wait_for(lock, absl::ToChronoMilliseconds(left) + std::chrono::milliseconds(1));
  }
  return version_;
}

int Runner::Active() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(active_.size());
}

void Runner::Schedule(const std::string& id, absl::Duration delay) {
  active_.insert(id);
  if (delay <= absl::ZeroDuration()) {
    ready_.push_back(id);
  } else {
    delayed_.emplace(absl::Now() + delay, id);
  }
  cv_.notify_one();
}

void Runner::Bump() {
  ++version_;
  changed_cv_.notify_all();
}

void Runner::Worker() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    absl::Time now = absl::Now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      ready_.push_back(delayed_.begin()->second);
      delayed_.erase(delayed_.begin());
    }
    if (ready_.empty()) {
      if (delayed_.empty()) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, absl::ToChronoMilliseconds(delayed_.begin()->first - now) + std::chrono::milliseconds(1));
      }
      continue;
    }
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    running_.insert(id);
    lock.unlock();
    RunOne(id);
    lock.lock();
    running_.erase(id);
  }
}

// Runs one step of machine `id`: decide, persist, schedule. Called without mu_ held.
void Runner::RunOne(const std::string& id) {
  absl::StatusOr<Record> got = store_->Get(id);
  if (!got.ok()) {
    spdlog::error("fsm: machine {}: {}", id, got.status().ToString());
    return Reschedule(id, opts_.backoff_max);
  }
  const Record& r = *got;
  if (r.terminal()) return Finish(id);
  const MachineDef* def;
  {
    std::lock_guard lock(mu_);
    def = &defs_.at(r.kind());
  }
  Decision d = r.cancel_requested() ? DecideCancel(*def, r) : DecideStep(*def, r, Step(*def, r), opts_);
  if (!d.commit) return Reschedule(id, d.then);
  if (absl::Status s = store_->Commit(d.next, r.state(), d.error, d.clears_cancel); !s.ok()) {
    // The store itself failing is not the step's fault: try again later, state unchanged.
    spdlog::error("fsm: {}: committing {} -> {}: {}", id, r.state(), d.next.state(), s.ToString());
    return Reschedule(id, opts_.backoff_max);
  }
  if (d.next.terminal()) return Finish(id);
  std::lock_guard lock(mu_);
  Bump();
  Schedule(id, d.then);
}

absl::StatusOr<Next> Runner::Step(const MachineDef& def, const Record& r) {
  auto step = def.steps.find(r.state());
  if (step == def.steps.end()) return absl::InternalError(absl::StrCat("no step for state ", r.state()));
  if (opts_.step_hook) opts_.step_hook(r.kind(), r.state(), false);
  const absl::Time start = absl::Now();
  absl::StatusOr<Next> res = step->second(StepContext{r.id(), r.state(), r.data(), r.attempts()});
  if (opts_.step_hook) opts_.step_hook(r.kind(), r.state(), true);
  if (opts_.observe) {
    const StepOutcome o = res.ok() ? StepOutcome::kOk : IsRetryable(res.status()) ? StepOutcome::kRetry
                                                                                 : StepOutcome::kFailed;
    opts_.observe(r.kind(), r.state(), absl::Now() - start, o);
  }
  return res;
}

void Runner::Reschedule(const std::string& id, absl::Duration delay) {
  std::lock_guard lock(mu_);
  Schedule(id, delay);
}

void Runner::Finish(const std::string& id) {
  std::lock_guard lock(mu_);
  active_.erase(id);
  Bump();
}

}  // namespace volmigrate::fsm
