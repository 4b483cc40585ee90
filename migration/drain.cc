// A drain: one migration per volume of this worker, all sharing a drain id and
// a concurrency limit that the migrations enforce themselves (QUEUED), so a
// drain is as durable and resumable as its migrations.
#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admission/admission.h"
#include "common/random.h"
#include "common/status.h"
#include "migration/internal.h"
#include "migration/machines.h"
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

// The volumes a drain moves: all but those already migrating. Any other
// refusal a single migrate would get (a seal, a restore, a delete holding
// one; a sealed volume) is the operator's to settle first.
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
  // Biggest volumes first, so each goes where the most room is left.
  std::sort(todo.begin(), todo.end(), [](const volumes::LvRow& a, const volumes::LvRow& b) {
    return std::make_pair(a.allocated_bytes(), a.name) > std::make_pair(b.allocated_bytes(), b.name);
  });
  return todo;
}

// Free space per destination as it reports it (and as this drain leaves it).
struct Room {
  uint64_t left, reported;
  std::string worker;
};

// The destinations that answer; Unavailable naming each if none does.
absl::StatusOr<std::vector<Room>> AskRoom(Env* env, const std::vector<std::string>& destinations) {
  std::vector<Room> room;
  std::vector<std::string> unreachable;
  for (const std::string& w : destinations) {
    auto h = env->peers->Health(w);
    if (h.ok()) {
      room.push_back({h->pool_free_bytes(), h->pool_free_bytes(), w});
    } else {
      unreachable.push_back(absl::StrCat(w, " (", h.status().message(), ")"));
    }
  }
  if (room.empty())
    return absl::UnavailableError(absl::StrCat("no destination answers: ", absl::StrJoin(unreachable, "; ")));
  return room;
}

}  // namespace

absl::StatusOr<v1::Drain> StartDrain(Env* env, fsm::Runner* runner, std::vector<std::string> destinations,
                                     const std::vector<std::string>& all_peers, uint32_t max_concurrent) {
  ASSIGN_OR_RETURN(v1::Drain running, Unfinished(env));
  if (!running.id().empty()) {
    spdlog::info("drain {} is still running: resuming the watch, not starting another", running.id());
    return running;
  }
  if (destinations.empty()) destinations = all_peers;
  if (destinations.empty())
    return absl::FailedPreconditionError(absl::StrCat("worker ", env->worker, " has no peers to drain to"));
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> todo, ToMove(env));
  v1::Drain d;
  d.set_id("d-" + RandomHex(5));
  d.set_worker(env->worker);
  if (todo.empty()) {
    d.set_state("DONE");
    return d;
  }
  ASSIGN_OR_RETURN(std::vector<Room> room, AskRoom(env, destinations));
  RETURN_IF_ERROR(internal::CheckPortal(env));
  if (max_concurrent == 0) max_concurrent = 2;
  d.set_state("RUNNING");
  for (const volumes::LvRow& lv : todo) {
    auto best = std::max_element(room.begin(), room.end(), [](const Room& a, const Room& b) {
      return std::tie(a.left, a.worker) < std::tie(b.left, b.worker);
    });
    const uint64_t need = internal::RoomNeeded(env->opts, lv);
    const uint64_t bytes = need - (env->opts.pool_reserve_mib << 20);  // the reserve stays free once
    if (best->left < need)
      return absl::ResourceExhaustedError(absl::StrCat("no destination has room for ", lv.name, " (", bytes,
                                                       " bytes); ", d.migration_ids_size(), " migration(s) of drain ",
                                                       d.id(), " already started"));
    ASSIGN_OR_RETURN(v1::Migration m, internal::SubmitOutgoing(env, runner, lv, best->worker, best->reported, d.id(),
                                                               max_concurrent));
    best->left -= bytes;
    d.add_migration_ids(m.id());
  }
  spdlog::info("drain {}: {} volume(s), at most {} at once", d.id(), d.migration_ids_size(), max_concurrent);
  return d;
}

}  // namespace volmigrate::migration
