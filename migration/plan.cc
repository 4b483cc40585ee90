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
// one; a sealed volume) is the operator's to settle first. Biggest first, so
// each goes where the most room is left.
absl::StatusOr<std::vector<volumes::LvRow>> ToMove(Env* env) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> vols, env->host->ListLvs(volumes::kVolumeTag));
  std::vector<volumes::LvRow> todo;
  const admission::Node node{env->store, env->host};
  for (const auto& lv : vols) {
    ASSIGN_OR_RETURN(admission::Holder holder, admission::HolderOf(node, lv.name));
    if (IsMigrationKind(holder.kind)) continue;
    if (absl::Status refused = admission::Check(node, admission::Op::kMigrate, lv.name); !refused.ok())
      return absl::FailedPreconditionError(absl::StrCat(refused.message(), "; the drain started nothing"));
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
};

// The destinations that answer; Unavailable naming each if none does.
absl::StatusOr<std::vector<Room>> AskRoom(Env* env, const std::vector<std::string>& destinations) {
  std::vector<Room> room;
  std::vector<std::string> unreachable;
  for (const std::string& w : destinations) {
    auto h = env->peers->Health(w);
    if (h.ok()) {
      room.push_back({h->pool_free_bytes(), w});
    } else {
      unreachable.push_back(absl::StrCat(w, " (", h.status().message(), ")"));
    }
  }
  if (room.empty())
    return absl::UnavailableError(absl::StrCat("no destination answers: ", absl::StrJoin(unreachable, "; ")));
  return room;
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

absl::StatusOr<std::map<std::string, double>> LinkRates(Env* env) {
  ASSIGN_OR_RETURN(std::vector<fsm::Record> all, env->store->List());
  std::map<std::string, std::pair<int64_t, double>> latest;  // destination -> (ended, rate)
  for (const fsm::Record& r : all) {
    if (r.kind() != kOutKind || r.state() != "DONE") continue;
    ASSIGN_OR_RETURN(v1::Migration m, ViewOf(r));
    const double rate = HydrationRate(m);
    auto& seen = latest[m.destination_worker()];
    if (rate > 0 && r.updated_ms() >= seen.first) seen = {r.updated_ms(), rate};
  }
  std::map<std::string, double> out;
  for (const auto& [w, seen] : latest)
    if (seen.second > 0) out[w] = seen.second;
  return out;
}

absl::StatusOr<DrainPlan> PlanDrain(Env* env, const std::vector<std::string>& destinations, uint32_t max_concurrent) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> todo, ToMove(env));
  DrainPlan plan;
  if (todo.empty()) return plan;
  ASSIGN_OR_RETURN(std::vector<Room> room, AskRoom(env, destinations));
  std::map<std::string, double> rates;
  ASSIGN_OR_RETURN(rates, LinkRates(env));
  const double assumed = static_cast<double>(env->opts.planning_rate_mib << 20);
  std::vector<double> durations;
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
    PlannedMove m{.lv = lv, .destination = best->worker, .bytes = lv.allocated_bytes()};
    auto rate = rates.find(m.destination);
    m.measured = rate != rates.end();
    m.rate = m.measured ? rate->second : assumed;
    m.eta_seconds = static_cast<double>(m.bytes) / m.rate;
    durations.push_back(m.eta_seconds);
    plan.moves.push_back(std::move(m));
  }
  plan.eta_seconds = Makespan(durations, max_concurrent);
  return plan;
}

}  // namespace volmigrate::migration
