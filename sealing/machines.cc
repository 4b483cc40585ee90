#include "sealing/machines.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admission/admission.h"
#include "common/files.h"
#include "common/random.h"
#include "common/status.h"
#include "lsvd/thin.h"
#include "host/host.h"
#include "spdlog/spdlog.h"

namespace volmigrate::sealing {

namespace {

using fsm::Bind;

absl::StatusOr<TransferState> Parse(const fsm::StepContext& c) {
  TransferState st;
  if (!st.ParseFromString(c.data)) return absl::DataLossError(absl::StrCat(c.id, ": unreadable transfer data"));
  return st;
}
fsm::Next Go(const std::string& state, const TransferState& st) { return fsm::Next{state, st.SerializeAsString()}; }
fsm::Next Again(const TransferState& st, const std::string& state) {
  return fsm::Next{state, st.SerializeAsString(), absl::ZeroDuration()};
}

// Rate over the current phase, for progress lines.
void Progress(Env* env, TransferState& st, uint64_t done) {
  const int64_t now = env->now_ms();
  if (st.rate_since_ms() == 0) {
    st.set_rate_since_ms(now);
    st.set_rate_since_bytes(st.done_bytes());
  }
  st.set_done_bytes(done);
  const double secs = static_cast<double>(now - st.rate_since_ms()) / 1000.0;
  if (secs > 0.5) st.set_rate(static_cast<double>(done - st.rate_since_bytes()) / secs);
}

// The log of `volume`, refused when it belongs to another volume of the same
// name (one deleted and made again, say).
absl::StatusOr<lsvd::LogScan> ScanFor(Env* env, const std::string& volume, const lsvd::Uuid& uuid) {
  ASSIGN_OR_RETURN(lsvd::LogScan scan, lsvd::ScanLog(*env->objects, lsvd::LogPrefix(volume)));
  if (!scan.objects.empty() && scan.volume() != uuid) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the log of ", volume, " in ", env->objects->Describe(), " belongs to another volume (LUKS2 UUID ",
        lsvd::UuidString(scan.volume()), ", this one is ", lsvd::UuidString(uuid), "); move it away first"));
  }
  return scan;
}

absl::StatusOr<bool> LvExists(host::Host& h, const std::string& lv) {
  auto r = h.GetLv(lv);
  if (absl::IsNotFound(r.status())) return false;
  RETURN_IF_ERROR(r.status());
  return true;
}

absl::StatusOr<lsvd::Uuid> VolumeUuid(Env* env, const std::string& lv) {
  ASSIGN_OR_RETURN(luks::Header h, env->host->ReadHeader(env->host->LvPath(lv)));
  return lsvd::ParseUuid(h.layout.uuid);
}

lsvd::Uuid UuidOf(const TransferState& st) {
  lsvd::Uuid u{};
  std::copy_n(st.uuid().begin(), std::min<size_t>(st.uuid().size(), u.size()), u.begin());
  return u;
}

// ---- seal and ship ----

absl::StatusOr<fsm::Next> Fencing(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(bool open, env->host->VolumeOpen(st.volume()));
  if (open) {
    RETURN_IF_ERROR(env->host->RunHook(env->opts.consumer_stop, st.volume(), host::LiveDevice(st.volume())));
    RETURN_IF_ERROR(env->host->CloseVolume(st.volume()));
  }
  return Go("SNAPSHOTTING", st);
}

absl::StatusOr<fsm::Next> Snapshotting(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(lsvd::Uuid uuid, VolumeUuid(env, st.volume()));
  ASSIGN_OR_RETURN(lsvd::LogScan scan, ScanFor(env, st.volume(), uuid));
  const lsvd::Header* last = scan.LastCheckpoint();
  // Objects after the last checkpoint belong to a ship that never finished:
  // this point replaces them.
  RETURN_IF_ERROR(lsvd::TruncateLog(*env->objects, lsvd::LogPrefix(st.volume()), last ? last->seq : 0));
  st.set_point(last ? last->point + 1 : 1);
  st.set_first_seq(last ? last->seq + 1 : 1);
  st.set_uuid(std::string(uuid.begin(), uuid.end()));
  st.set_snapshot(volumes::SealedSnapshotName(st.volume(), st.point()));
  st.set_base("");
  if (last) {
    ASSIGN_OR_RETURN(std::vector<std::string> snaps, env->host->SealedSnapshots(st.volume()));
    const std::string base = volumes::SealedSnapshotName(st.volume(), last->point);
    if (std::find(snaps.begin(), snaps.end(), base) != snaps.end()) st.set_base(base);
  }
  RETURN_IF_ERROR(env->host->Snapshot(st.volume(), st.snapshot()));
  if (st.created_unix() == 0) st.set_created_unix(env->now_ms() / 1000);
  return Go(st.ship() ? "MAPPING" : "DONE", st);
}

// The point's objects, from the two snapshots' mappings.
absl::StatusOr<std::shared_ptr<const lsvd::PointPlan>> PlanOf(Env* env, const std::string& id, TransferState& st) {
  {
    std::lock_guard<std::mutex> l(env->mu);
    if (auto it = env->plans.find(id); it != env->plans.end()) {
      st.set_allocated_bytes(it->second->allocated_bytes);
      st.set_volume_bytes(it->second->plan.volume_bytes);
      return std::shared_ptr<const lsvd::PointPlan>(it->second, &it->second->plan);
    }
  }
  // Both snapshots are read-only: their maps cannot change between the two reads.
  ASSIGN_OR_RETURN(volumes::LvRow snap, env->host->GetLv(st.snapshot()));
  ASSIGN_OR_RETURN(volumes::ThinMap now_map, env->host->Mappings(snap.thin_id));
  std::vector<volumes::ThinRun> before;
  if (!st.base().empty()) {
    ASSIGN_OR_RETURN(volumes::LvRow base, env->host->GetLv(st.base()));
    ASSIGN_OR_RETURN(volumes::ThinMap base_map, env->host->Mappings(base.thin_id));
    before = std::move(base_map.runs);
  }
  const std::vector<volumes::ThinRun>& now = now_map.runs;
  const uint64_t block_sectors = now_map.block_sectors;
  ASSIGN_OR_RETURN(uint64_t bytes, env->host->DeviceBytes(env->host->LvPath(st.snapshot())));
  auto planned = std::make_shared<Planned>();
  lsvd::PointPlan* plan = &planned->plan;
  plan->prefix = lsvd::LogPrefix(st.volume());
  plan->volume = UuidOf(st);
  plan->point = st.point();
  plan->first_seq = st.first_seq();
  plan->volume_bytes = bytes;
  plan->created_unix = st.created_unix();
  plan->objects = lsvd::PlanObjects(lsvd::ChangedRanges(before, now, block_sectors, bytes / lsvd::kSector),
                                    env->opts.object_bytes);
  uint64_t allocated = 0;
  for (const auto& r : now) allocated += r.length * block_sectors * lsvd::kSector;
  planned->allocated_bytes = std::min(allocated, bytes);
  st.set_allocated_bytes(planned->allocated_bytes);
  st.set_volume_bytes(bytes);
  std::lock_guard<std::mutex> l(env->mu);
  env->plans[id] = planned;
  return std::shared_ptr<const lsvd::PointPlan>(planned, plan);
}

absl::StatusOr<fsm::Next> Mapping(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(auto plan, PlanOf(env, c.id, st));
  st.set_objects_total(static_cast<uint32_t>(plan->objects.size()));
  uint64_t total = 0;
  for (size_t i = 0; i < plan->objects.size(); ++i) total += plan->ObjectBytes(i);
  st.set_total_bytes(total);
  spdlog::info("{}: point {} of {}: {} objects, {} bytes ({}), {} bytes allocated", c.id, st.point(), st.volume(),
               plan->objects.size(), total, st.base().empty() ? "whole volume" : "changed since " + st.base(),
               st.allocated_bytes());
  return Go("UPLOADING", st);
}

absl::StatusOr<fsm::Next> Uploading(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(auto plan, PlanOf(env, c.id, st));
  ASSIGN_OR_RETURN(std::vector<bool> done, lsvd::UploadedObjects(*env->objects, *plan));
  std::vector<size_t> pending;
  uint64_t done_bytes = 0;
  for (size_t i = 0; i < done.size(); ++i) {
    if (done[i]) {
      done_bytes += plan->ObjectBytes(i);
    } else {
      pending.push_back(i);
    }
  }
  if (pending.empty()) {
    st.set_objects_done(st.objects_total());
    Progress(env, st, done_bytes);
    return Go("CHECKPOINTING", st);
  }
  // A batch at a time, so progress is committed as it goes.
  pending.resize(std::min<size_t>(pending.size(), static_cast<size_t>(env->opts.parallel) * 2));
  const std::string path = env->host->LvPath(st.snapshot());
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", path));
  ASSIGN_OR_RETURN(uint64_t sent, lsvd::UploadObjects(*env->objects, *plan, fd.get(), pending,
                                                      {.parallel = env->opts.parallel, .attempts = env->opts.attempts}));
  st.set_objects_done(static_cast<uint32_t>(std::count(done.begin(), done.end(), true) + pending.size()));
  Progress(env, st, done_bytes + sent);
  return Again(st, "UPLOADING");
}

absl::StatusOr<fsm::Next> Checkpointing(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(auto plan, PlanOf(env, c.id, st));
  const std::string name = lsvd::ObjectName(plan->prefix, plan->checkpoint_seq());
  if (auto have = env->objects->Get(name); have.ok() && lsvd::ParseHeader(*have).ok()) {
    st.set_checkpoint_seq(plan->checkpoint_seq());
    return Go("CLEANING", st);  // written before a crash
  }
  std::vector<lsvd::MapEntry> previous;
  if (!st.base().empty()) {
    // An incremental point builds on the checkpoint just before it.
    ASSIGN_OR_RETURN(std::string bytes, env->objects->Get(lsvd::ObjectName(plan->prefix, plan->first_seq - 1)));
    ASSIGN_OR_RETURN(lsvd::Header prev, lsvd::ParseHeader(bytes));
    if (prev.kind != lsvd::Kind::kCheckpoint) {
      return absl::DataLossError(absl::StrCat("object ", plan->first_seq - 1, " of ", st.volume(), " is not a checkpoint"));
    }
    previous = std::move(prev.map);
  }
  ASSIGN_OR_RETURN(lsvd::Header cp, lsvd::WriteCheckpoint(*env->objects, *plan, previous));
  st.set_checkpoint_seq(cp.seq);
  return Go("CLEANING", st);
}

absl::StatusOr<fsm::Next> Cleaning(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  // The new snapshot is the next ship's base; the old one is no longer needed.
  if (!st.base().empty()) RETURN_IF_ERROR(env->host->DeleteLv(st.base()));
  std::lock_guard<std::mutex> l(env->mu);
  env->plans.erase(c.id);
  return Go("DONE", st);
}

// ---- restore ----

absl::StatusOr<lsvd::Point> ChoosePoint(const lsvd::LogScan& scan, uint64_t as_of, const std::string& volume,
                                        const std::string& where) {
  if (scan.points.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no shipped point in the log of ", volume, " in ", where,
                                                      scan.stopped.empty() ? "" : " (" + scan.stopped + ")"));
  }
  if (as_of == 0) return scan.points.back();
  std::vector<std::string> seqs;
  for (const lsvd::Point& p : scan.points) {
    if (p.checkpoint_seq == as_of) return p;
    seqs.push_back(absl::StrCat(p.checkpoint_seq));
  }
  return absl::InvalidArgumentError(absl::StrCat("object ", as_of, " of ", volume,
                                                 " is not a checkpoint; restore as of one of: ", absl::StrJoin(seqs, ", ")));
}

absl::StatusOr<fsm::Next> Planning(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(lsvd::LogScan scan, lsvd::ScanLog(*env->objects, lsvd::LogPrefix(st.volume())));
  ASSIGN_OR_RETURN(lsvd::Point p, ChoosePoint(scan, st.checkpoint_seq(), st.volume(), env->objects->Describe()));
  st.set_checkpoint_seq(p.checkpoint_seq);
  st.set_point(p.point);
  st.set_volume_bytes(p.volume_bytes);
  st.set_total_bytes(p.live_bytes);
  const lsvd::Uuid u = scan.volume();
  st.set_uuid(std::string(u.begin(), u.end()));
  // The key first: a restore that could never open is not started.
  if (auto have = env->host->GetKey(st.new_volume()); absl::IsNotFound(have.status())) {
    std::string key;
    if (st.key_from().empty()) {
      ASSIGN_OR_RETURN(key, env->host->GetKey(st.volume()));
    } else {
      ASSIGN_OR_RETURN(key, env->fetch_key(st.key_from(), st.volume()));
    }
    RETURN_IF_ERROR(env->host->PutKey(st.new_volume(), key));
  } else if (!have.ok()) {
    return have.status();
  }
  RETURN_IF_ERROR(env->host->CreateLv(st.new_volume(), st.volume_bytes(), volumes::kVolumeTag));
  return Go("WRITING", st);
}

absl::StatusOr<std::shared_ptr<const std::vector<lsvd::ReadGroup>>> GroupsOf(Env* env, const std::string& id,
                                                                             const TransferState& st) {
  {
    std::lock_guard<std::mutex> l(env->mu);
    if (auto it = env->groups.find(id); it != env->groups.end()) return it->second;
  }
  ASSIGN_OR_RETURN(std::string bytes, env->objects->Get(lsvd::ObjectName(lsvd::LogPrefix(st.volume()), st.checkpoint_seq())));
  ASSIGN_OR_RETURN(lsvd::Header cp, lsvd::ParseHeader(bytes));
  if (cp.kind != lsvd::Kind::kCheckpoint || UuidOf(st) != cp.volume) {
    return absl::DataLossError(absl::StrCat("object ", st.checkpoint_seq(), " of ", st.volume(), " is not its checkpoint"));
  }
  auto g = std::make_shared<const std::vector<lsvd::ReadGroup>>(lsvd::GroupForRead(cp.map));
  std::lock_guard<std::mutex> l(env->mu);
  env->groups[id] = g;
  return g;
}

absl::StatusOr<fsm::Next> Writing(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(auto groups, GroupsOf(env, c.id, st));
  const size_t begin = st.groups_done();
  if (begin >= groups->size()) return Go("VERIFYING", st);
  const size_t end = std::min(groups->size(), begin + static_cast<size_t>(env->opts.parallel) * 8);
  const std::string path = env->host->LvPath(st.new_volume());
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", path));
  ASSIGN_OR_RETURN(uint64_t n, lsvd::RestoreGroups(*env->objects, lsvd::LogPrefix(st.volume()), *groups, begin, end, fd.get(),
                                                   {.parallel = env->opts.parallel, .attempts = env->opts.attempts}));
  st.set_groups_done(end);
  st.set_objects_total(static_cast<uint32_t>(groups->size()));
  st.set_objects_done(static_cast<uint32_t>(end));
  Progress(env, st, st.done_bytes() + n);
  return Again(st, "WRITING");
}

absl::StatusOr<fsm::Next> Verifying(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(TransferState st, Parse(c));
  ASSIGN_OR_RETURN(lsvd::Uuid uuid, VolumeUuid(env, st.new_volume()));
  if (uuid != UuidOf(st)) {
    return absl::DataLossError(absl::StrCat("restored ", st.new_volume(), " has LUKS2 UUID ", lsvd::UuidString(uuid),
                                            ", the log says ", lsvd::UuidString(UuidOf(st))));
  }
  // It opens with its key: the header and keyslots came back intact.
  RETURN_IF_ERROR(env->host->OpenVolume(st.new_volume()));
  RETURN_IF_ERROR(env->host->CloseVolume(st.new_volume()));
  {
    std::lock_guard<std::mutex> l(env->mu);
    env->groups.erase(c.id);
  }
  return Go("DONE", st);
}

fsm::MachineDef Def(const std::string& kind, const std::string& initial) {
  fsm::MachineDef d;
  d.kind = kind;
  d.initial_state = initial;
  d.terminal_states = {"DONE", "FAILED"};
  return d;
}

std::string NewId(const std::string& kind) { return absl::StrCat(kind, "-", RandomHex(4)); }

}  // namespace

fsm::MachineDef SealMachine(Env* env) {
  fsm::MachineDef d = Def(kSealKind, "FENCING");
  d.steps = {{"FENCING", Bind(env, Fencing)},           {"SNAPSHOTTING", Bind(env, Snapshotting)},
             {"MAPPING", Bind(env, Mapping)},           {"UPLOADING", Bind(env, Uploading)},
             {"CHECKPOINTING", Bind(env, Checkpointing)}, {"CLEANING", Bind(env, Cleaning)}};
  d.edges = {{"FENCING", {"SNAPSHOTTING"}}, {"SNAPSHOTTING", {"MAPPING", "DONE"}}, {"MAPPING", {"UPLOADING"}},
             {"UPLOADING", {"CHECKPOINTING"}}, {"CHECKPOINTING", {"CLEANING"}}, {"CLEANING", {"DONE"}}};
  return d;
}

fsm::MachineDef RestoreMachine(Env* env) {
  fsm::MachineDef d = Def(kRestoreKind, "PLANNING");
  d.steps = {{"PLANNING", Bind(env, Planning)}, {"WRITING", Bind(env, Writing)}, {"VERIFYING", Bind(env, Verifying)}};
  d.edges = {{"PLANNING", {"WRITING"}}, {"WRITING", {"VERIFYING"}}, {"VERIFYING", {"DONE"}}};
  return d;
}

bool IsTransferKind(const std::string& kind) { return kind == kSealKind || kind == kRestoreKind; }

absl::StatusOr<v1::Transfer> TransferView(const fsm::Record& r, const Env& env) {
  TransferState st;
  if (!st.ParseFromString(r.data())) return absl::DataLossError(absl::StrCat(r.id(), ": unreadable transfer data"));
  v1::Transfer t;
  t.set_id(r.id());
  t.set_kind(r.kind() == kRestoreKind ? "restore" : st.ship() ? "ship" : "seal");
  t.set_volume_id(st.volume());
  t.set_new_volume_id(st.new_volume());
  t.set_state(r.state());
  t.set_terminal(r.terminal());
  t.set_error(r.last_error());
  t.set_point(st.point());
  t.set_checkpoint_object(st.checkpoint_seq());
  t.set_allocated_bytes(st.allocated_bytes());
  t.set_total_bytes(st.total_bytes());
  t.set_done_bytes(st.done_bytes());
  t.set_objects_total(st.objects_total());
  t.set_objects_done(st.objects_done());
  t.set_rate_bytes_per_second(st.rate());
  t.set_incremental(!st.base().empty());
  t.set_started_unix(r.created_ms() / 1000);
  t.set_updated_unix(r.updated_ms() / 1000);
  if (env.objects) t.set_store(env.objects->Describe());
  return t;
}

absl::StatusOr<v1::Transfer> StartSeal(Env* env, fsm::Runner* runner, const std::string& volume, bool ship) {
  ASSIGN_OR_RETURN(bool exists, LvExists(*env->host, volume));
  if (!exists) return volumes::NoVolume(volume, env->worker);
  // The same request again (a retry whose answer was lost, say) follows the
  // one already running instead of being refused.
  const admission::Node node{env->store, env->host};
  ASSIGN_OR_RETURN(admission::Holder holder, admission::HolderOf(node, volume));
  if (holder.kind == kSealKind) {
    auto r = env->store->Get(holder.id);
    TransferState st;
    if (r.ok() && st.ParseFromString(r->data()) && st.ship() == ship) return TransferView(*r, *env);
  }
  RETURN_IF_ERROR(admission::Check(node, admission::Op::kSeal, volume));
  if (ship) {
    ASSIGN_OR_RETURN(lsvd::Uuid uuid, VolumeUuid(env, volume));
    RETURN_IF_ERROR(ScanFor(env, volume, uuid).status());
  }
  TransferState st;
  st.set_volume(volume);
  st.set_ship(ship);
  const std::string id = NewId(ship ? "ship" : "seal");
  RETURN_IF_ERROR(runner->Submit(kSealKind, id, st.SerializeAsString(), {volume}));
  ASSIGN_OR_RETURN(fsm::Record r, env->store->Get(id));
  return TransferView(r, *env);
}

absl::StatusOr<v1::Transfer> StartRestore(Env* env, fsm::Runner* runner, const v1::RestoreVolumeRequest& req) {
  const std::string id = NewId("restore");
  // Held from the check that the new name is free until the machine holds it.
  // The log it reads is not held: a ship only adds objects past the last
  // checkpoint (or removes a torn tail there), and a restore reads up to one.
  ASSIGN_OR_RETURN(fsm::Lease lease, admission::Hold({env->store, env->host}, admission::Op::kArrive, req.new_volume_id(), id));
  ASSIGN_OR_RETURN(bool exists, LvExists(*env->host, req.new_volume_id()));
  if (exists) {
    return absl::AlreadyExistsError(absl::StrCat("volume '", req.new_volume_id(), "' exists on worker ", env->worker,
                                                 "; restore into a new name"));
  }
  ASSIGN_OR_RETURN(lsvd::LogScan scan, lsvd::ScanLog(*env->objects, lsvd::LogPrefix(req.volume_id())));
  RETURN_IF_ERROR(ChoosePoint(scan, req.as_of_object(), req.volume_id(), env->objects->Describe()).status());
  TransferState st;
  st.set_volume(req.volume_id());
  st.set_new_volume(req.new_volume_id());
  st.set_checkpoint_seq(req.as_of_object());
  st.set_key_from(req.key_from());
  RETURN_IF_ERROR(runner->Submit(kRestoreKind, id, st.SerializeAsString(), {req.new_volume_id()}));
  ASSIGN_OR_RETURN(fsm::Record r, env->store->Get(id));
  return TransferView(r, *env);
}

absl::Status Unseal(Env* env, const std::string& volume) {
  // Held to the end: nothing may start on the volume while it is reopened.
  ASSIGN_OR_RETURN(fsm::Lease lease, admission::Hold({env->store, env->host}, admission::Op::kUnseal, volume));
  ASSIGN_OR_RETURN(bool exists, LvExists(*env->host, volume));
  if (!exists) return volumes::NoVolume(volume, env->worker);
  ASSIGN_OR_RETURN(lsvd::LogScan scan, lsvd::ScanLog(*env->objects, lsvd::LogPrefix(volume)));
  const uint64_t shipped = scan.points.empty() ? 0 : scan.points.back().point;
  ASSIGN_OR_RETURN(std::vector<std::string> snaps, env->host->SealedSnapshots(volume));
  for (const std::string& s : snaps) {
    // A seal never shipped would be a stale base once the volume changes.
    if (s != volumes::SealedSnapshotName(volume, shipped)) RETURN_IF_ERROR(env->host->DeleteLv(s));
  }
  RETURN_IF_ERROR(env->host->OpenVolume(volume));
  return env->host->RunHook(env->opts.consumer_start, volume, host::LiveDevice(volume));
}

absl::StatusOr<v1::ListSnapshotsResponse> ListSnapshots(Env* env, const std::string& volume) {
  ASSIGN_OR_RETURN(lsvd::LogScan scan, lsvd::ScanLog(*env->objects, lsvd::LogPrefix(volume)));
  v1::ListSnapshotsResponse out;
  for (const lsvd::Point& p : scan.points) {
    v1::Snapshot* s = out.add_snapshots();
    s->set_point(p.point);
    s->set_checkpoint_object(p.checkpoint_seq);
    s->set_first_object(p.first_seq);
    s->set_created_unix(p.created_unix);
    s->set_volume_bytes(p.volume_bytes);
    s->set_shipped_bytes(p.shipped_bytes);
    s->set_live_bytes(p.live_bytes);
  }
  out.set_objects(scan.last_seq());
  out.set_stopped(scan.stopped);
  if (!scan.objects.empty()) out.set_volume_uuid(lsvd::UuidString(scan.volume()));
  out.set_store(env->objects->Describe());
  return out;
}

}  // namespace volmigrate::sealing
