// What both machines share: their data, their view, abort, and lookups.

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "migration/internal.h"
#include "migration/machines.h"
#include "spdlog/spdlog.h"

namespace volmigrate::migration {
namespace internal {

absl::StatusOr<MigrationState> Parse(const fsm::StepContext& c) {
  MigrationState st;
  if (!st.ParseFromString(c.data)) return absl::DataLossError(absl::StrCat("migration ", c.id, ": unreadable data"));
  return st;
}

fsm::Next Go(const std::string& state, const MigrationState& st) { return fsm::Next{state, st.SerializeAsString()}; }

fsm::Next Stay(const fsm::StepContext& c, const MigrationState& st, absl::Duration wait) {
  return fsm::Next{c.state, st.SerializeAsString(), wait};
}

absl::StatusOr<fsm::Next> RolledBack(const MigrationState& st) {
  if (!st.rollback_reason().empty())
    return absl::FailedPreconditionError(absl::StrCat("rolled back: ", st.rollback_reason()));
  return Go("ABORTED", st);
}

fsm::StepFn Guard(Env* env, std::function<absl::StatusOr<fsm::Next>(Env*, const fsm::StepContext&)> fn) {
  return [env, fn = std::move(fn)](const fsm::StepContext& c) -> absl::StatusOr<fsm::Next> {
    absl::StatusOr<fsm::Next> r = fn(env, c);
    if (r.ok() || fsm::IsRetryable(r.status())) return r;
    ASSIGN_OR_RETURN(MigrationState st, Parse(c));
    if (st.view().consumer_may_run() || st.destination_booted())  // the runner logs the retry
      return absl::UnavailableError(absl::StrCat(r.status().ToString(), " (retried: the migration only goes forward)"));
    st.set_rollback_reason(r.status().ToString());
    spdlog::warn("{} {} failed before boot, rolling back: {}", LogTag(st.view().volume_id(), c.id), c.state,
                 st.rollback_reason());
    return Go("ROLLBACK", st);
  };
}


std::string MetadataLv(const std::string& id) { return id + "-meta"; }
std::string RetiredLv(const std::string& id) { return id + "-retired"; }

uint64_t MetadataBytes(uint64_t clone_bytes, uint32_t region_kib) {
  uint64_t regions = clone_bytes / (uint64_t{region_kib} * 1024) + 1;
  return ((8u << 20) + regions / 2 + (1u << 20) - 1) / (1u << 20) * (1u << 20);
}

}  // namespace internal

bool IsMigrationKind(const std::string& kind) { return kind == kOutKind || kind == kInKind; }

absl::StatusOr<v1::Migration> ViewOf(const fsm::Record& r) {
  MigrationState st;
  if (!st.ParseFromString(r.data()))
    return absl::DataLossError(absl::StrCat("migration ", r.id(), ": stored data is unreadable"));
  v1::Migration m = std::move(*st.mutable_view());
  m.set_id(r.id());
  m.set_state(r.state());
  m.set_terminal(r.terminal());
  if (!r.last_error().empty()) m.set_error(r.last_error());
  m.set_started_unix(r.created_ms() / 1000);
  m.set_updated_unix(r.updated_ms() / 1000);
  return m;
}

absl::Status AbortMigration(Env* env, fsm::Runner* runner, const std::string& id) {
  ASSIGN_OR_RETURN(fsm::Record r, env->store->Get(id));
  if (r.terminal()) return absl::FailedPreconditionError(absl::StrCat(id, " has already ended in ", r.state()));
  if (r.kind() == kOutKind && (r.state() == "OFFERING" || r.state() == "WAITING")) {
    // The destination decides: only it knows whether its consumer booted.
    MigrationState st;
    if (!st.ParseFromString(r.data())) return absl::DataLossError(absl::StrCat(id, ": unreadable data"));
    auto c = env->peers->Cancel(st.view().destination_worker(), id);
    if (!c.ok() && c.status().code() != absl::StatusCode::kNotFound) return c.status();
  }
  return runner->Cancel(id);
}

}  // namespace volmigrate::migration
