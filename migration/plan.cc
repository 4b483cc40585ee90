#include "migration/plan.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admission/admission.h"
#include "common/status.h"
#include "migration/internal.h"

namespace volmigrate::migration {
namespace {

// The volumes a drain moves: all but those already migrating. Any other
// refusal a single migrate would get (a seal, a restore, a delete holding
// one; a sealed volume) refuses them all, the operator's to settle first;
// unless `kept` is given (a rebalance), which takes that volume as "NAME:
// why" instead. Biggest first, so each goes where the most room is left.
absl::StatusOr<std::vector<volumes::LvRow>> ToMove(Env* env, std::vector<std::string>* kept = nullptr) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> vols, env->host->ListLvs(volumes::kVolumeTag));
  std::vector<volumes::LvRow> todo;
  const admission::Node node{env->store, env->host};
  for (const auto& lv : vols) {
    ASSIGN_OR_RETURN(admission::Holder holder, admission::HolderOf(node, lv.name));
    if (IsMigrationKind(holder.kind)) continue;
    if (absl::Status refused = admission::Check(node, admission::Op::kMigrate, lv.name); !refused.ok()) {
      if (kept == nullptr)
        return absl::FailedPreconditionError(absl::StrCat(refused.message(), "; the drain started nothing"));
      kept->push_back(absl::StrCat(lv.name, ": ", refused.message()));
      continue;
    }
    todo.push_back(lv);
  }
  std::sort(todo.begin(), todo.end(), [](const volumes::LvRow& a, const volumes::LvRow& b) {
    return std::make_pair(a.allocated_bytes(), a.name) > std::make_pair(b.allocated_bytes(), b.name);
  });
  return todo;
}

// Free space per destination as it reports it (and as the plan leaves it).
struct Room {
  uint64_t left;
  std::string worker;
  uint64_t size = 0;  // the pool's
};

// The destinations that answer; Unavailable naming each if none does.
absl::StatusOr<std::vector<Room>> AskRoom(Env* env, const std::vector<std::string>& destinations) {
  std::vector<Room> room;
  std::vector<std::string> unreachable;
  for (const std::string& w : destinations) {
    auto h = env->peers->Health(w);
    if (h.ok()) {
      room.push_back({h->pool_free_bytes(), w, h->pool_size_bytes()});
    } else {
      unreachable.push_back(absl::StrCat(w, " (", h.status().message(), ")"));
    }
  }
  if (room.empty())
    return absl::UnavailableError(absl::StrCat("no destination answers: ", absl::StrJoin(unreachable, "; ")));
  return room;
}

// Each move's rate and ETA (its link's measured rate, else the assumed one),
// and the whole plan's at most `slots` at once.
absl::Status Estimate(Env* env, uint32_t slots, DrainPlan& plan) {
  ASSIGN_OR_RETURN(std::vector<fsm::Record> all, env->store->List());
  std::map<std::string, double> rates;  // (a comma in the type would split the macro's arguments)
  ASSIGN_OR_RETURN(rates, LinkRates(all));
  std::vector<double> durations;
  for (PlannedMove& m : plan.moves) {
    const ExpectedRate r = RateTo(*env, rates, m.destination);
    m.measured = r.measured;
    m.rate = r.bytes_per_second;
    m.eta_seconds = static_cast<double>(m.bytes) / m.rate;
    durations.push_back(m.eta_seconds);
  }
  plan.eta_seconds = Makespan(durations, slots);
  return absl::OkStatus();
}

}  // namespace

double HydrationRate(const v1::Migration& m) {
  const uint64_t total = m.progress().total_bytes(), skipped = m.progress().discarded_bytes();
  if (m.hydration_seconds() > 0 && total > skipped)
    return static_cast<double>(total - skipped) / m.hydration_seconds();
  return m.progress().rate_bytes_per_second();  // the last rate it showed, for a copy too short to time
}

double Makespan(const std::vector<double>& durations, uint32_t slots) {
  // Each slot's end time; the next move takes the slot that frees first.
  std::priority_queue<double, std::vector<double>, std::greater<>> ends;
  for (uint32_t i = 0; i < std::max<uint32_t>(slots, 1); ++i) ends.push(0);
  double last = 0;
  for (double d : durations) {
    const double end = ends.top() + d;
    ends.pop();
    ends.push(end);
    last = std::max(last, end);
  }
  return last;
}

absl::StatusOr<std::map<std::string, double>> LinkRates(const std::vector<fsm::Record>& records) {
  std::map<std::string, std::vector<std::pair<int64_t, double>>> seen;  // destination -> (ended, rate)
  for (const fsm::Record& r : records) {
    if (r.kind() != kOutKind || r.state() != "DONE") continue;
    ASSIGN_OR_RETURN(v1::Migration m, ViewOf(r));
    if (const double rate = HydrationRate(m); rate > 0) seen[m.destination_worker()].emplace_back(r.updated_ms(), rate);
  }
  std::map<std::string, double> out;
  for (auto& [w, rates] : seen) {
    // The newest first (equal times by rate: the same answer every time).
    std::sort(rates.begin(), rates.end(), std::greater<>());
    rates.resize(std::min(rates.size(), kLinkRateSamples));
    std::vector<double> r;
    for (const auto& [at, rate] : rates) r.push_back(rate);
    std::sort(r.begin(), r.end());
    out[w] = r.size() % 2 ? r[r.size() / 2] : (r[r.size() / 2 - 1] + r[r.size() / 2]) / 2;
  }
  return out;
}

ExpectedRate RateTo(const Env& env, const std::map<std::string, double>& rates, const std::string& destination) {
  auto rate = rates.find(destination);
  if (rate != rates.end()) return {rate->second, true};
  return {static_cast<double>(env.opts.planning_rate_mib << 20), false};
}

absl::StatusOr<DrainPlan> PlanDrain(Env* env, const std::vector<std::string>& destinations, uint32_t max_concurrent) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> todo, ToMove(env));
  DrainPlan plan;
  if (todo.empty()) return plan;
  ASSIGN_OR_RETURN(std::vector<Room> room, AskRoom(env, destinations));
  for (const volumes::LvRow& lv : todo) {
    auto best = std::max_element(room.begin(), room.end(), [](const Room& a, const Room& b) {
      return std::tie(a.left, a.worker) < std::tie(b.left, b.worker);
    });
    const uint64_t need = internal::RoomNeeded(env->opts, lv);
    const uint64_t bytes = need - (env->opts.pool_reserve_mib << 20);  // the reserve stays free once
    if (best->left < need)
      return absl::ResourceExhaustedError(absl::StrCat("no destination has room for ", lv.name, " (", bytes,
                                                       " bytes with its clone metadata) after the volumes planned "
                                                       "before it; the drain started nothing"));
    best->left -= bytes;
    plan.moves.push_back({.lv = lv, .destination = best->worker, .bytes = lv.allocated_bytes()});
  }
  RETURN_IF_ERROR(Estimate(env, max_concurrent, plan));
  return plan;
}

namespace {

double Use(const PoolUse& p) { return p.size ? static_cast<double>(p.planned) / static_cast<double>(p.size) : 1.0; }

}  // namespace

absl::StatusOr<RebalancePlan> PlanRebalance(Env* env, const std::vector<std::string>& destinations,
                                            uint32_t max_concurrent, const RebalanceTarget& target) {
  RebalancePlan plan;
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> todo, ToMove(env, &plan.kept));
  ASSIGN_OR_RETURN(dm::PoolSpace here, env->host->PoolSpace());
  ASSIGN_OR_RETURN(std::vector<Room> room, AskRoom(env, destinations));
  auto pool = [](const std::string& w, uint64_t size, uint64_t free) {
    const uint64_t used = size - std::min(size, free);
    return PoolUse{.worker = w, .size = size, .used = used, .planned = used};
  };
  plan.pools.push_back(pool(env->worker, here.total_bytes, here.free_bytes));
  for (const Room& r : room) plan.pools.push_back(pool(r.worker, r.size, r.left));
  uint64_t used = 0, size = 0;
  for (const PoolUse& p : plan.pools) used += p.used, size += p.size;
  const double mean = size ? static_cast<double>(used) / static_cast<double>(size) : 0;
  // What this worker aims to get under, and no destination may be put over:
  // so no move overshoots, and the plan does not flip when the volumes grow
  // a little between a plan and its apply.
  const double limit =
      target.ceiling_percent > 0 ? target.ceiling_percent / 100 : mean * (1 + target.tolerance_percent / 100);
  PoolUse& self = plan.pools[0];
  for (const volumes::LvRow& lv : todo) {  // biggest first
    if (Use(self) <= limit) break;
    const uint64_t need = internal::RoomNeeded(env->opts, lv), bytes = lv.allocated_bytes();
    size_t best = 0;  // the destination (pools[i], room[i - 1]) least used after taking it, among those it fits
    double best_use = 0;
    for (size_t i = 1; i < plan.pools.size(); ++i) {
      if (room[i - 1].left < need) continue;
      PoolUse after = plan.pools[i];
      after.planned += bytes;
      if (best == 0 || Use(after) < best_use) best = i, best_use = Use(after);
    }
    if (best == 0 || best_use > limit) continue;
    self.planned -= std::min(self.planned, bytes);
    plan.pools[best].planned += bytes;
    room[best - 1].left -= need - (env->opts.pool_reserve_mib << 20);
    plan.drain.moves.push_back({.lv = lv, .destination = room[best - 1].worker, .bytes = bytes});
  }
  RETURN_IF_ERROR(Estimate(env, max_concurrent, plan.drain));
  return plan;
}

}  // namespace volmigrate::migration
