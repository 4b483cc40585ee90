// Runs durable state machines on a bounded pool of threads.
//
// A machine is a named set of states, each with a step function. The runner:
//   load record (state S, data D) -> step(S, D) -> Next{S', D'} -> commit S', D' -> ...
// The transition is committed before the next step runs ("persist, then act"),
// so after a crash the current step simply runs again: every step must be
// idempotent and look at what already exists before it creates anything.
//
//   step result                         runner does
//   Next{S', D'}                        commit; run S' (terminal states end it)
//   Next{S, D, wait}  (nothing changed) no commit; run S again after `wait` (polling)
//   Next{S, D', wait} (new data)        commit; run S again after `wait` (polling with progress)
//   Unavailable/Aborted/DeadlineExceeded/ResourceExhausted
//                                       record the error; retry S with capped backoff
//   any other error                     commit the definition's failed state
//   Next{S'} with S' not in edges[S]    the same: a step took an edge its table lacks
//
// Cancellation is durable: Cancel() records the request, and the machine moves
// to the state its definition names for its current state (a rollback state,
// typically) instead of running its step. States with no such entry refuse it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsm/store.h"

namespace volmigrate::fsm {

struct Next {
  std::string state;
  std::string data;
  absl::Duration wait = absl::ZeroDuration();  // only when the state is unchanged
};

struct StepContext {
  const std::string& id;
  const std::string& state;
  const std::string& data;
  uint32_t attempt;  // 0 on the first try of this state
};

using StepFn = std::function<absl::StatusOr<Next>(const StepContext&)>;
// A step of the form fn(env, context) as the runner wants it.
template <typename Env, typename F>
StepFn Bind(Env* env, F fn) {
  return [env, fn](const StepContext& c) { return fn(env, c); };
}

struct MachineDef {
  std::string kind;
  std::string initial_state;
  std::map<std::string, StepFn> steps;        // every non-terminal state
  std::set<std::string> terminal_states;      // must include failed_state
  std::string failed_state = "FAILED";
  std::map<std::string, std::string> cancel_to;  // state -> where a cancel leads
  // state -> where its step may go, besides staying and failed_state. Every
  // state with a step has an entry; a step going anywhere else fails the
  // machine. Each machine's header draws this table and cancel_to.
  std::map<std::string, std::set<std::string>> edges;
};

// What came of a step, for RunnerOptions::observe: it returned (a transition
// or a poll), its error is retried, or its error fails the machine.
enum class StepOutcome { kOk, kRetry, kFailed };

struct RunnerOptions {
  int max_concurrent = 4;  // machines executing a step at once
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_max = absl::Seconds(30);
  // Called before each step and after it returns (before its commit). Crash
  // tests kill the process from here; production leaves it empty.
  std::function<void(const std::string& kind, const std::string& state, bool after)> step_hook;
  // Called after each step with its duration and outcome (metrics count them).
  std::function<void(const std::string& kind, const std::string& state, absl::Duration took, StepOutcome)> observe;
};

bool IsRetryable(const absl::Status& s);

class Runner {
 public:
  Runner(Store* store, RunnerOptions options);
  ~Runner();  // Stop()
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // REQUIRES: before Start().
  absl::Status Register(MachineDef def);

  // Schedules every unfinished machine in the store and starts the threads.
  // FailedPrecondition if a stored machine's kind has no definition.
  absl::Status Start();

  // Creates a machine in its initial state, holding `claims` (volume names)
  // until it is terminal, and schedules it. FailedPrecondition if another
  // machine or a lease holds one of them (Store::Create).
  absl::Status Submit(const std::string& kind, const std::string& id, const std::string& data,
                      const std::vector<std::string>& claims = {});

  // Records a cancel request. FailedPrecondition when the current state cannot be
  // cancelled; NotFound for an unknown id. A terminal machine: FailedPrecondition.
  absl::Status Cancel(const std::string& id);

  // Lets steps in flight finish and commit, starts no new ones, joins the threads.
  // Every machine stays resumable by the next Start().
  void Stop();

  // A counter bumped on every commit: wait for it to pass `seen` (or the deadline).
  uint64_t Version() const;
  uint64_t WaitForChange(uint64_t seen, absl::Time deadline) const;

  // Machines scheduled or running (not terminal).
  int Active() const;

  Store* store() const { return store_; }

 private:
  void Worker();
  void RunOne(const std::string& id);
  absl::StatusOr<Next> Step(const MachineDef& def, const Record& r);  // with the step hook around it
  void Reschedule(const std::string& id, absl::Duration delay);       // REQUIRES: mu_ not held
  void Finish(const std::string& id);                                 // REQUIRES: mu_ not held
  void Schedule(const std::string& id, absl::Duration delay);  // REQUIRES: mu_ held
  void Bump();

  Store* store_;
  RunnerOptions opts_;
  std::map<std::string, MachineDef> defs_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;          // work for the threads
  mutable std::condition_variable changed_cv_;  // for WaitForChange
  std::deque<std::string> ready_;
  std::multimap<absl::Time, std::string> delayed_;
  std::set<std::string> active_;  // scheduled or running
  std::set<std::string> running_;
  uint64_t version_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace volmigrate::fsm
