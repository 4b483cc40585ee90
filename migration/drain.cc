// A drain: one migration per volume of this worker, all sharing a drain id and
// a concurrency limit that the migrations enforce themselves (QUEUED), so a
// drain is as durable and resumable as its migrations.
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "migration/internal.h"
#include "migration/machines.h"
#include "migration/plan.h"
#include "spdlog/spdlog.h"

namespace volmigrate::migration {
namespace {

// The drain still running on this worker, if any.
absl::StatusOr<v1::Drain> Unfinished(Env* env) {
  ASSIGN_OR_RETURN(std::vector<fsm::Record> all, env->store->List());
  v1::Drain d;
  for (const fsm::Record& r : all) {
    MigrationState st;
    if (r.kind() != kOutKind || r.terminal() || !st.ParseFromString(r.data()) || st.view().drain_id().empty())
      continue;
    d.set_id(st.view().drain_id());
    break;
  }
  if (d.id().empty()) return d;
  for (const fsm::Record& r : all) {
    MigrationState st;
    if (r.kind() == kOutKind && st.ParseFromString(r.data()) && st.view().drain_id() == d.id())
      d.add_migration_ids(r.id());
  }
  d.set_worker(env->worker);
  d.set_state("RUNNING");
  return d;
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

absl::StatusOr<v1::Drain> StartRebalance(Env* env, fsm::Runner* runner, std::vector<std::string> destinations,
                                         const std::vector<std::string>& all_peers, uint32_t max_concurrent,
                                         const RebalanceTarget& target, bool plan_only) {
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
  if (plan_only) return d;
  RETURN_IF_ERROR(Run(env, runner, plan.drain, max_concurrent, "r-", d));
  return d;
}

}  // namespace volmigrate::migration
