// The source side of a migration: fence, export, offer, wait, retire.
#include "absl/strings/str_cat.h"
#include "admission/admission.h"
#include "common/log.h"
#include "common/random.h"
#include "common/status.h"
#include "luks/api.h"
#include "migration/allocation.h"
#include "migration/internal.h"
#include "migration/machines.h"
#include "spdlog/spdlog.h"
#include "volumes/lvm.h"

namespace volmigrate::migration {
namespace {

using internal::Go;
using internal::Parse;
using internal::Stay;

constexpr absl::Duration kPoll = absl::Seconds(1);
constexpr absl::Duration kFastPoll = absl::Milliseconds(200);  // while a step of the blackout waits on it

bool Retryable(const absl::Status& s) { return fsm::IsRetryable(s); }

// QUEUED: a drain's migrations wait here for a slot.
absl::StatusOr<fsm::Next> Queued(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  if (st.max_concurrent() == 0) return Go("PREPARING", st);
  // The listing is taken under the lock: one taken before it could show a
  // machine as QUEUED after another caller saw it leave and forgot it.
  std::lock_guard lock(env->released_mu);
  ASSIGN_OR_RETURN(std::vector<fsm::Record> all, env->store->List());
  std::set<std::string> busy;
  for (const fsm::Record& r : all) {
    if (r.kind() != kOutKind || r.terminal() || r.id() == c.id) continue;
    MigrationState o;
    if (!o.ParseFromString(r.data()) || o.view().drain_id() != st.view().drain_id()) continue;
    if (r.state() != "QUEUED" || env->released.contains(r.id())) busy.insert(r.id());
    if (r.state() != "QUEUED") env->released.erase(r.id());  // its own record shows it now
  }
  if (busy.size() >= st.max_concurrent()) return Stay(c, st, kPoll);
  env->released.insert(c.id);
  return Go("PREPARING", st);
}

// Where the volume holds data, from the thin pool's map: its plaintext and
// its header area. A record from before thin ids were kept (PREPARING ran in
// an older workerd) looks it up.
absl::StatusOr<v1::AllocationMap> MapOf(host::Host& h, MigrationState& st) {
  if (st.thin_id() == 0) {
    ASSIGN_OR_RETURN(volumes::LvRow lv, h.GetLv(st.view().volume_id()));
    st.set_thin_id(lv.thin_id);
  }
  ASSIGN_OR_RETURN(volumes::ThinMap m, h.Mappings(st.thin_id()));
  const uint64_t offset = st.luks().data_offset_bytes() / 512;
  return ToProto(MappedExtents(m, offset, st.plaintext_bytes() / 512), HeaderExtents(m, offset));
}

uint64_t HeaderBytes(const v1::AllocationMap& m) {
  uint64_t n = 0;
  for (uint64_t l : m.header_length_sectors()) n += l * 512;
  return n;
}

absl::StatusOr<fsm::Next> Preparing(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  host::Host& h = *env->host;
  ASSIGN_OR_RETURN(volumes::LvRow lv, h.GetLv(vol));
  ASSIGN_OR_RETURN(luks::Header hdr, h.ReadHeader(h.LvPath(vol)));
  RETURN_IF_ERROR(h.GetKey(vol).status());
  ASSIGN_OR_RETURN(v1::HealthResponse dest, env->peers->Health(st.view().destination_worker()));
  if (dest.initiator_iqn().empty())
    return absl::FailedPreconditionError(
        absl::StrCat("destination ", st.view().destination_worker(), " has no iSCSI initiator name"));
  ASSIGN_OR_RETURN(bool open, h.VolumeOpen(vol));

  st.set_was_open(open);
  st.set_initiator_iqn(dest.initiator_iqn());
  st.set_portal(env->portal);
  st.set_target_iqn(absl::StrCat("iqn.2026-11.io.volmigrate:", env->worker, ".", c.id));
  st.set_chap_user(c.id);
  st.set_chap_secret(RandomSecret(16));
  *st.mutable_luks() = luks::ToApi(hdr.layout);
  st.set_device_bytes(hdr.device_bytes);
  st.set_plaintext_bytes(hdr.plaintext_bytes);
  st.set_thin_id(lv.thin_id);
  // What the destination will write, for its room check. The consumer still
  // runs: FENCING takes the map again once it has stopped.
  ASSIGN_OR_RETURN(v1::AllocationMap mapped, MapOf(h, st));
  st.set_allocated_bytes(mapped.mapped_bytes() + HeaderBytes(mapped));
  // An empty map for a volume whose LV holds more than its header would mark
  // everything copied: a wrong thin id must stop here, before the fence.
  if (mapped.start_sectors().empty() && lv.allocated_bytes() > hdr.layout.data_offset + (1u << 20))
    return absl::InternalError(absl::StrCat("thin device ", lv.thin_id, " maps nothing, but lvm says ", vol,
                                            " holds ", lv.allocated_bytes(), " bytes"));
  st.mutable_view()->mutable_progress()->set_total_bytes(hdr.plaintext_bytes);
  return Go("EXPORTING", st);
}

// The blackout starts here: the consumer stops, the volume closes, and the
// destination (polling) logs in as soon as this machine shows WAITING.
absl::StatusOr<fsm::Next> Fencing(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  ASSIGN_OR_RETURN(bool open, env->host->VolumeOpen(vol));
  // After a crash past the close there is nothing to stop: the hook ran.
  if (open) RETURN_IF_ERROR(env->host->RunHook(env->opts.consumer_stop, vol, host::LiveDevice(vol)));
  RETURN_IF_ERROR(env->host->CloseVolume(vol));
  // Nothing writes any more: the map is exact, and the destination marks
  // every region outside it copied before its consumer starts.
  ASSIGN_OR_RETURN(*st.mutable_allocation(), MapOf(*env->host, st));
  const v1::AllocationMap& mapped = st.allocation();
  st.mutable_view()->set_source_fence_seconds(static_cast<double>(env->now_ms() - st.fence_unix_ms()) / 1000.0);
  spdlog::info("{} fenced in {:.2f} s: consumer stopped, volume closed; {} bytes hold data ({} extents) and {} "
               "of the header area",
               LogTag(vol, c.id), st.view().source_fence_seconds(), mapped.mapped_bytes(), mapped.start_sectors_size(),
               HeaderBytes(mapped));
  if (spdlog::should_log(spdlog::level::debug)) {
    std::string all;
    for (int i = 0; i < mapped.start_sectors_size(); ++i)
      absl::StrAppend(&all, " ", mapped.start_sectors(i), "+", mapped.length_sectors(i));
    spdlog::debug("{} data extents (sectors):{}", LogTag(vol, c.id), all);
  }
  return Go("WAITING", st);
}

// The export, made or completed (idempotent): only the destination's
// initiator, with this migration's CHAP account, read-only.
absl::Status Export(Env* env, const MigrationState& st) {
  return env->host->Export({.iqn = st.target_iqn(),
                            .device = env->host->LvPath(st.view().volume_id()),
                            .chap_user = st.chap_user(),
                            .chap_secret = st.chap_secret(),
                            .initiator_iqn = st.initiator_iqn()});
}

absl::StatusOr<fsm::Next> Exporting(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  RETURN_IF_ERROR(Export(env, st));
  // Before the fence: nobody reads it until this machine shows WAITING.
  spdlog::info("{} exported as {} to {} only", LogTag(vol, c.id), st.target_iqn(), st.initiator_iqn());
  st.set_offered(true);  // from here on an offer may reach the destination
  return Go("OFFERING", st);
}

absl::StatusOr<fsm::Next> Offering(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  v1::OfferMigrationRequest req;
  req.set_migration_id(c.id);
  req.set_volume_id(vol);
  req.set_source_worker(env->worker);
  req.set_size_bytes(st.plaintext_bytes());
  req.set_device_bytes(st.device_bytes());
  *req.mutable_luks() = st.luks();
  v1::IscsiTarget* t = req.mutable_target();
  t->set_portal(st.portal());
  t->set_iqn(st.target_iqn());
  t->set_lun(1);
  t->set_chap_user(st.chap_user());
  t->set_chap_secret(st.chap_secret());
  req.set_initiator_iqn(st.initiator_iqn());
  ASSIGN_OR_RETURN(std::string key, env->host->GetKey(vol));
  req.set_volume_key(key);
  req.set_allocated_bytes(st.allocated_bytes());
  auto r = env->peers->Offer(st.view().destination_worker(), req);
  if (!r.ok() && Retryable(r.status())) return r.status();
  if (!r.ok()) {
    st.set_rollback_reason(absl::StrCat("destination refused the offer: ", r.status().ToString()));
    spdlog::warn("{} {}", LogTag(vol, c.id), st.rollback_reason());
    return Go("ROLLBACK", st);
  }
  return Go("STAGING", st);
}

// Waits for the destination to have everything ready that does not need the
// source's data, so that the blackout holds only what must happen in it.
absl::StatusOr<fsm::Next> Staging(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  auto m = env->peers->GetMigration(st.view().destination_worker(), c.id);
  if (!m.ok() && m.status().code() == absl::StatusCode::kNotFound) return Go("OFFERING", st);
  if (!m.ok()) return m.status();
  if (m->terminal()) {
    st.set_rollback_reason(absl::StrCat("destination ended in ", m->state(), ": ", m->error()));
    return Go("ROLLBACK", st);
  }
  if (m->state() != "STAGED") return Stay(c, st, kFastPoll);
  st.set_fence_unix_ms(env->now_ms());
  return Go("FENCING", st);
}

// Whether the destination's record says its consumer may have started.
bool MayHaveBooted(const v1::Migration& m) { return m.consumer_may_run() || m.blackout_seconds() > 0; }

// Fenced, the destination held its record when this machine left STAGING: if
// it no longer knows the migration, nobody can say whether its consumer
// started. The source neither offers again nor rolls back: it reports and
// keeps trying, its copy closed and its export up, until the operator decides.
absl::Status Unconfirmed(const MigrationState& st, const absl::Status& s) {
  return absl::UnavailableError(absl::StrCat("destination ", st.view().destination_worker(),
                                             " cannot confirm this migration (", s.message(),
                                             "); its consumer may run: the source stays fenced and exported"));
}

// Mirrors the destination's progress; moves on when it is done or fell back.
absl::StatusOr<fsm::Next> Waiting(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  // tgt keeps no configuration across its restart or this host's reboot: the
  // export is made again whenever it is gone, or the destination's reads of
  // what it has not copied yet fail once its iSCSI replacement timeout ends.
  RETURN_IF_ERROR(Export(env, st));
  auto m = env->peers->GetMigration(st.view().destination_worker(), c.id);
  if (!m.ok() && m.status().code() == absl::StatusCode::kNotFound) return Unconfirmed(st, m.status());
  if (!m.ok()) return m.status();
  *st.mutable_view()->mutable_progress() = m->progress();
  st.mutable_view()->set_blackout_seconds(m->blackout_seconds());
  st.mutable_view()->set_hydration_seconds(m->hydration_seconds());
  if (MayHaveBooted(*m)) {
    st.set_destination_booted(true);
    st.clear_allocation();  // applied before its consumer started
  }
  if (m->state() == "DONE") return Go("RETIRING", st);
  if (m->terminal() && !st.destination_booted()) {
    st.set_rollback_reason(absl::StrCat("destination ended in ", m->state(), ": ", m->error()));
    return Go("ROLLBACK", st);
  }
  if (!st.destination_booted()) return Stay(c, st, kFastPoll);
  if (m->terminal()) {
    // After boot the destination holds new writes: nothing to roll back to. The
    // machine stays (holding the volume, reporting) and the export stays up so
    // an operator can repair the destination.
    return absl::UnavailableError(absl::StrCat("destination ended in ", m->state(), " after its consumer booted: ",
                                               m->error(), "; the export stays up"));
  }
  return Stay(c, st, kPoll);
}

absl::StatusOr<fsm::Next> Rollback(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  const std::string& dest = st.view().destination_worker();
  // The export may only go once the destination has surely let go of it.
  absl::StatusOr<v1::CancelMigrationResponse> cancelled = absl::NotFoundError("never offered");
  if (st.offered()) cancelled = env->peers->Cancel(dest, c.id);
  const bool fenced = st.fence_unix_ms() != 0;
  if (!cancelled.ok() && cancelled.status().code() == absl::StatusCode::kNotFound && fenced)
    return Unconfirmed(st, cancelled.status());
  if (!cancelled.ok() && cancelled.status().code() != absl::StatusCode::kNotFound &&
      cancelled.status().code() != absl::StatusCode::kFailedPrecondition)
    return cancelled.status();
  if (st.offered() && (cancelled.ok() || cancelled.status().code() == absl::StatusCode::kFailedPrecondition)) {
    // Whether the destination refused or took the cancel, its record says
    // what happened: a consumer that may have started means forward only.
    auto m = env->peers->GetMigration(dest, c.id);
    if (!m.ok() && m.status().code() == absl::StatusCode::kNotFound && fenced) return Unconfirmed(st, m.status());
    if (!m.ok() && m.status().code() != absl::StatusCode::kNotFound) return m.status();
    if (m.ok() && MayHaveBooted(*m)) {
      spdlog::warn("{} no rollback: the consumer may run on {} ({})", LogTag(vol, c.id), dest, m->state());
      st.set_destination_booted(true);
      st.clear_rollback_reason();
      return Go("WAITING", st);
    }
    if (!cancelled.ok())  // refused, yet not booted: a race with its step; ask again
      return absl::UnavailableError(absl::StrCat("destination refused the cancel in ", m.ok() ? m->state() : "?",
                                                 ": ", cancelled.status().message()));
    if (m.ok() && !m->terminal()) return Stay(c, st, kPoll);  // still rolling back there
  }
  RETURN_IF_ERROR(env->host->Unexport(st.target_iqn(), st.chap_user()));
  // A fence that began (fence time set) is undone; before it the consumer never stopped.
  const bool restart = st.was_open() && st.fence_unix_ms() != 0;
  if (restart) {
    RETURN_IF_ERROR(env->host->OpenVolume(vol));
    RETURN_IF_ERROR(env->host->RunHook(env->opts.consumer_start, vol, host::LiveDevice(vol)));
  }
  spdlog::info("{} rolled back: export removed{}", LogTag(vol, c.id), restart ? ", consumer restarted" : "");
  return internal::RolledBack(st);
}

absl::StatusOr<fsm::Next> Retiring(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  host::Host& h = *env->host;
  RETURN_IF_ERROR(h.Unexport(st.target_iqn(), st.chap_user()));
  if (env->opts.retire == "delete") {
    RETURN_IF_ERROR(h.DeleteLv(vol));
    RETURN_IF_ERROR(h.DeleteKey(vol));
  } else {
    const std::string retired = internal::RetiredLv(c.id);
    auto key = h.GetKey(vol);
    if (key.ok()) RETURN_IF_ERROR(h.PutKey(retired, *key));
    RETURN_IF_ERROR(h.RetireLv(vol, retired));
    RETURN_IF_ERROR(h.DeleteKey(vol));
  }
  spdlog::info("{} done: export removed, source copy {}", LogTag(vol, c.id),
               env->opts.retire == "delete" ? "deleted" : "kept as " + internal::RetiredLv(c.id));
  return Go("DONE", st);
}

}  // namespace

fsm::MachineDef SourceMachine(Env* env) {
  fsm::MachineDef d;
  d.kind = kOutKind;
  d.initial_state = "QUEUED";
  auto bind = [env](auto fn) { return fsm::Bind(env, fn); };
  auto guard = [env](auto fn) { return internal::Guard(env, fn); };
  d.steps = {{"QUEUED", bind(Queued)},
             {"PREPARING", bind(Preparing)},  // nothing made yet: a failure is FAILED
             {"EXPORTING", guard(Exporting)},
             {"OFFERING", guard(Offering)},
             {"STAGING", guard(Staging)},
             {"FENCING", guard(Fencing)},
             {"WAITING", guard(Waiting)},
             {"ROLLBACK", bind(Rollback)},
             {"RETIRING", guard(Retiring)}};
  d.terminal_states = {"DONE", "ABORTED", "FAILED"};
  d.cancel_to = {{"QUEUED", "ABORTED"},    {"PREPARING", "ABORTED"}, {"EXPORTING", "ROLLBACK"},
                 {"OFFERING", "ROLLBACK"}, {"STAGING", "ROLLBACK"},  {"FENCING", "ROLLBACK"},
                 {"WAITING", "ROLLBACK"}};
  // Drawn in machines.h. A guarded step that fails before the destination
  // boots goes to ROLLBACK (Guard): the states that can, have the edge.
  d.edges = {{"QUEUED", {"PREPARING"}},
             {"PREPARING", {"EXPORTING"}},
             {"EXPORTING", {"OFFERING", "ROLLBACK"}},
             {"OFFERING", {"STAGING", "ROLLBACK"}},
             {"STAGING", {"FENCING", "OFFERING", "ROLLBACK"}},
             {"FENCING", {"WAITING", "ROLLBACK"}},
             {"WAITING", {"RETIRING", "ROLLBACK"}},
             {"RETIRING", {"DONE"}},
             {"ROLLBACK", {"ABORTED", "WAITING"}}};
  return d;
}

absl::StatusOr<v1::Migration> StartMigration(Env* env, fsm::Runner* runner, const std::string& volume,
                                             const std::string& destination) {
  ASSIGN_OR_RETURN(volumes::LvRow lv, env->host->GetLv(volume));
  // Refused early when busy or sealed; the machine's claim (SubmitOutgoing) decides.
  RETURN_IF_ERROR(admission::Check({env->store, env->host}, admission::Op::kMigrate, volume));
  RETURN_IF_ERROR(internal::CheckPortal(env));
  ASSIGN_OR_RETURN(v1::HealthResponse dest, env->peers->Health(destination));
  return internal::SubmitOutgoing(env, runner, lv, destination, dest.pool_free_bytes(), "", 0);
}

namespace internal {

absl::Status CheckPortal(const Env* env) {
  if (!env->portal.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("worker ", env->worker, " has no iSCSI portal: set [migration] iscsi_portal"));
}

uint64_t RoomNeeded(const Options& o, const volumes::LvRow& lv) {
  return lv.allocated_bytes() + MetadataBytes(lv.size_bytes, o.region_kib) + (o.pool_reserve_mib << 20);
}

absl::StatusOr<v1::Migration> SubmitOutgoing(Env* env, fsm::Runner* runner, const volumes::LvRow& lv,
                                             const std::string& destination, uint64_t destination_free,
                                             const std::string& drain_id, uint32_t max_concurrent) {
  if (destination_free < RoomNeeded(env->opts, lv))
    return absl::ResourceExhaustedError(absl::StrCat(
        "destination ", destination, " has ", destination_free, " bytes free in its thin pool; volume ", lv.name,
        " holds ", lv.allocated_bytes(), " bytes and needs ", RoomNeeded(env->opts, lv),
        " with its clone metadata and the reserve (migration.pool_reserve_mib)"));
  MigrationState st;
  st.mutable_view()->set_volume_id(lv.name);
  st.mutable_view()->set_source_worker(env->worker);
  st.mutable_view()->set_destination_worker(destination);
  st.mutable_view()->set_drain_id(drain_id);
  st.set_max_concurrent(max_concurrent);
  st.set_allocated_bytes(lv.allocated_bytes());  // what a drain's ETA counts until PREPARING maps it exactly
  const std::string id = "m-" + RandomHex(5);
  RETURN_IF_ERROR(runner->Submit(kOutKind, id, st.SerializeAsString(), {lv.name}));
  spdlog::info("{} migration to {} started", LogTag(lv.name, id), destination);
  ASSIGN_OR_RETURN(fsm::Record r, env->store->Get(id));
  return ViewOf(r);
}

}  // namespace internal

absl::StatusOr<v1::AllocationMap> AllocationFor(Env* env, const std::string& id, const std::string& destination) {
  ASSIGN_OR_RETURN(fsm::Record r, env->store->Get(id));
  MigrationState st;
  if (r.kind() != kOutKind || !st.ParseFromString(r.data()) || st.view().destination_worker() != destination)
    return absl::NotFoundError(absl::StrCat("no migration '", id, "' to ", destination, " on worker ", env->worker));
  if (!st.has_allocation())
    return absl::FailedPreconditionError(absl::StrCat(id, " is ", r.state(), ": the map is taken once the consumer "
                                                      "stopped and kept until the destination booted"));
  return st.allocation();
}

}  // namespace volmigrate::migration
