// A drain: one migration per volume of this worker, all sharing a drain id and
// a concurrency limit that the migrations enforce themselves (QUEUED), so a
// drain is as durable and resumable as its migrations.
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "migration/internal.h"
#include "migration/machines.h"
#include "migration/plan.h"
#include "spdlog/spdlog.h"

namespace volmigrate::migration {
namespace {

// The id of the drain still running among `all` (the store's records); ""
// if none.
std::string Running(const std::vector<fsm::Record>& all) {
  for (const fsm::Record& r : all) {
    MigrationState st;
    if (r.kind() == kOutKind && !r.terminal() && st.ParseFromString(r.data()) && !st.view().drain_id().empty())
      return st.view().drain_id();
  }
  return "";
}

// The drain `id` from its migrations' records among `all` (the store's);
// NotFound if it has none.
absl::StatusOr<v1::Drain> Collect(Env* env, const std::vector<fsm::Record>& all, const std::string& id) {
  ASSIGN_OR_RETURN(const auto rates, LinkRates(all));
  v1::Drain d;
  d.set_id(id);
  d.set_worker(env->worker);
  std::vector<double> hydrating, waiting;  // seconds left of each unfinished migration
  uint32_t slots = 1, failed = 0;
  for (const fsm::Record& r : all) {
    MigrationState st;
    if (r.kind() != kOutKind || !st.ParseFromString(r.data()) || st.view().drain_id() != id) continue;
    d.add_migration_ids(r.id());
    slots = std::max(slots, st.max_concurrent());
    if (r.terminal()) {
      d.set_ended(d.ended() + 1);
      failed += r.state() != "DONE";
      continue;
    }
    const v1::MigrationProgress& p = st.view().progress();
    if (st.destination_booted() && p.total_bytes() > 0) {
      hydrating.push_back(p.eta_seconds());
    } else {
      const ExpectedRate rate = RateTo(*env, rates, st.view().destination_worker());
      waiting.push_back(static_cast<double>(st.allocated_bytes()) / rate.bytes_per_second);
    }
  }
  if (d.migration_ids_size() == 0)
    return absl::NotFoundError(absl::StrCat("no drain '", id, "' on worker ", env->worker));
  // The ones hydrating hold their slots now; the others follow as slots free.
  hydrating.insert(hydrating.end(), waiting.begin(), waiting.end());
  d.set_remaining_seconds(Makespan(hydrating, slots));
  const bool running = d.ended() < static_cast<uint32_t>(d.migration_ids_size());
  d.set_state(running ? "RUNNING" : failed ? "ENDED" : "DONE");
  return d;
}

// The drain still running on this worker, if any (an empty id otherwise).
absl::StatusOr<v1::Drain> Unfinished(Env* env) {
  ASSIGN_OR_RETURN(std::vector<fsm::Record> all, env->store->List());
  const std::string id = Running(all);
  if (id.empty()) return v1::Drain{};
  return Collect(env, all, id);
}

v1::Drain PlanView(const DrainPlan& plan, const std::string& worker) {
  v1::Drain d;
  d.set_worker(worker);
  d.set_state(plan.moves.empty() ? "DONE" : "PLANNED");
  for (const PlannedMove& m : plan.moves) {
    v1::PlannedMove* p = d.add_plan();
    p->set_volume_id(m.lv.name);
    p->set_destination_worker(m.destination);
    p->set_bytes(m.bytes);
    p->set_rate_bytes_per_second(m.rate);
    p->set_rate_measured(m.measured);
    p->set_eta_seconds(m.eta_seconds);
  }
  d.set_eta_seconds(plan.eta_seconds);
  return d;
}

// Destinations to use (all peers when none are named) and the concurrency
// (2 when 0); FailedPrecondition when there is nowhere to go.
absl::Status Defaults(Env* env, const std::vector<std::string>& all_peers, std::vector<std::string>& destinations,
                      uint32_t& max_concurrent) {
  if (destinations.empty()) destinations = all_peers;
  if (destinations.empty())
    return absl::FailedPreconditionError(absl::StrCat("worker ", env->worker, " has no peers to move volumes to"));
  if (max_concurrent == 0) max_concurrent = 2;
  return absl::OkStatus();
}

// Starts every move of `plan` as a migration of drain `d`, whose id is made
// here with `prefix`.
absl::Status Run(Env* env, fsm::Runner* runner, const DrainPlan& plan, uint32_t max_concurrent,
                 const std::string& prefix, v1::Drain& d) {
  d.set_id(prefix + RandomHex(5));
  if (plan.moves.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(internal::CheckPortal(env));
  d.set_state("RUNNING");
  for (const PlannedMove& m : plan.moves) {
    // The destination's room was counted by the plan: it is not asked again.
    ASSIGN_OR_RETURN(v1::Migration started,
                     internal::SubmitOutgoing(env, runner, m.lv, m.destination, UINT64_MAX, d.id(), max_concurrent));
    d.add_migration_ids(started.id());
  }
  spdlog::info("drain {}: {} volume(s), at most {} at once, about {:.0f} s", d.id(), d.migration_ids_size(),
               max_concurrent, plan.eta_seconds);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Drain> StartDrain(Env* env, fsm::Runner* runner, std::vector<std::string> destinations,
                                     const std::vector<std::string>& all_peers, uint32_t max_concurrent,
                                     bool plan_only) {
  std::lock_guard<std::mutex> lock(env->drain_start_mu);
  ASSIGN_OR_RETURN(v1::Drain running, Unfinished(env));
  if (!running.id().empty()) {
    spdlog::info("drain {} is still running: resuming the watch, not starting another", running.id());
    return running;
  }
  RETURN_IF_ERROR(Defaults(env, all_peers, destinations, max_concurrent));
  ASSIGN_OR_RETURN(DrainPlan plan, PlanDrain(env, destinations, max_concurrent));
  v1::Drain d = PlanView(plan, env->worker);
  if (plan_only) return d;
  RETURN_IF_ERROR(Run(env, runner, plan, max_concurrent, "d-", d));
  return d;
}

absl::StatusOr<v1::Drain> GetDrain(Env* env, const std::string& id) {
  if (!id.empty()) {
    ASSIGN_OR_RETURN(std::vector<fsm::Record> all, env->store->List());
    return Collect(env, all, id);
  }
  ASSIGN_OR_RETURN(v1::Drain d, Unfinished(env));
  if (d.id().empty()) return absl::NotFoundError(absl::StrCat("no drain is running on worker ", env->worker));
  return d;
}

absl::StatusOr<v1::Drain> AbortDrain(Env* env, fsm::Runner* runner, const std::string& id) {
  ASSIGN_OR_RETURN(v1::Drain d, GetDrain(env, id));
  if (d.state() != "RUNNING")
    return absl::FailedPreconditionError(absl::StrCat("drain ", d.id(), " has already ended (", d.state(), ")"));
  for (const std::string& m : d.migration_ids()) {
    absl::Status s = AbortMigration(env, runner, m);
    // Refused: it ended meanwhile, or its destination booted (it finishes).
    if (s.ok()) d.add_rolling_back_ids(m);
    else if (s.code() != absl::StatusCode::kFailedPrecondition) return s;
  }
  spdlog::info("drain {} aborted: {} migration(s) roll back, the rest finish", d.id(), d.rolling_back_ids_size());
  return d;
}

absl::StatusOr<v1::Drain> StartRebalance(Env* env, fsm::Runner* runner, std::vector<std::string> destinations,
                                         const std::vector<std::string>& all_peers, uint32_t max_concurrent,
                                         const RebalanceTarget& target, bool plan_only) {
  std::lock_guard<std::mutex> lock(env->drain_start_mu);
  ASSIGN_OR_RETURN(v1::Drain running, Unfinished(env));
  if (!running.id().empty()) {
    spdlog::info("drain {} is still running: resuming the watch, not starting a rebalance", running.id());
    return running;
  }
  RETURN_IF_ERROR(Defaults(env, all_peers, destinations, max_concurrent));
  ASSIGN_OR_RETURN(RebalancePlan plan, PlanRebalance(env, destinations, max_concurrent, target));
  v1::Drain d = PlanView(plan.drain, env->worker);
  for (const PoolUse& p : plan.pools) {
    v1::PoolUse* u = d.add_pools();
    u->set_worker(p.worker);
    u->set_size_bytes(p.size);
    u->set_used_bytes(p.used);
    u->set_planned_used_bytes(p.planned);
  }
  for (const std::string& k : plan.kept) d.add_kept(k);
  if (plan_only) return d;
  RETURN_IF_ERROR(Run(env, runner, plan.drain, max_concurrent, "r-", d));
  return d;
}

}  // namespace volmigrate::migration
