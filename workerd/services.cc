#include "workerd/services.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status.h"
#include "rpc/status.h"
#include "rpc/tls.h"
#include "spdlog/spdlog.h"
#include "workerd/attach.h"
#include "workerd/validate.h"

namespace volmigrate::workerd {
namespace {

// The worker a client certificate speaks for; "" if it is not a peer. A
// worker-role certificate names it (any worker with [fleet]
// address_template, a listed one otherwise); one without a role, by its
// common name, only if listed; an operator-role one never.
std::string PeerName(const Config& cfg, const grpc::ServerContext& ctx) {
  const rpc::Role r = rpc::PeerRole(ctx);
  if (r.role == "worker") return cfg.IsPeer(r.name) ? r.name : "";
  if (!r.role.empty()) return "";
  std::string cn = rpc::PeerCommonName(ctx);
  return cfg.FindPeer(cn) ? cn : "";
}

constexpr char kVersion[] = "0.1.0";
// Health writes a marker when nothing has written the store for this long.
constexpr absl::Duration kStoreProbeInterval = absl::Seconds(5);

absl::Status NoStorage(const Config& cfg) {
  return absl::FailedPreconditionError(
      absl::StrCat("worker ", cfg.worker, " has no [storage] configured, so it holds no volumes"));
}

// Writes what `load` returns each time a machine commits and it changed, until
// it is terminal or the client goes away.
template <typename Msg>
grpc::Status StreamUntilTerminal(fsm::Runner* runner, grpc::ServerContext* ctx, grpc::ServerWriter<Msg>* writer,
                                 const std::function<absl::StatusOr<Msg>()>& load) {
  uint64_t seen = runner->Version();
  std::string last;
  for (;;) {
    absl::StatusOr<Msg> m = load();
    if (!m.ok()) return ToGrpc(m.status());
    std::string now = m->SerializeAsString();
    if (now != last) {
      if (!writer->Write(*m)) return grpc::Status::CANCELLED;
      last = std::move(now);
    }
    if (m->terminal()) return grpc::Status::OK;
    // Wake at least once a second to notice a client that went away.
    uint64_t v;
    while ((v = runner->WaitForChange(seen, absl::Now() + absl::Seconds(1))) == seen) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    }
    seen = v;
  }
}

}  // namespace

grpc::Status OperatorService::Authorize(const grpc::ServerContext* ctx, std::string* peer) const {
  if (cfg_.plaintext) return grpc::Status::OK;  // development mode: nothing to check against
  std::string cn = rpc::PeerCommonName(*ctx);
  const rpc::Role role = rpc::PeerRole(*ctx);
  // A role decides; a certificate without one is judged by its common name.
  if (role.role == "operator" || (role.role.empty() && cfg_.IsOperator(cn))) return grpc::Status::OK;
  if (peer) {
    *peer = PeerName(cfg_, *ctx);
    if (!peer->empty()) return grpc::Status::OK;
  }
  spdlog::warn("operator call refused: client certificate '{}' is not an operator", cn.substr(0, 64));
  return ToGrpc(absl::PermissionDeniedError(absl::StrCat("client certificate '", cn.substr(0, 64),
                                                         "' is not an operator of worker ", cfg_.worker,
                                                         " (workerd.toml: operators)")));
}

OperatorService::OperatorService(const Config& cfg, fsm::Runner* runner, VolumeManager* volumes,
                                 migration::Env* env, sealing::Env* seal)
    : cfg_(cfg), runner_(runner), volumes_(volumes), env_(env), seal_(seal), started_(absl::Now()) {}

void OperatorService::ShowMigration(v1::Volume& v) {
  auto id = runner_->store()->HolderOf(v.id());
  if (!id.ok() || id->empty()) return;
  auto r = runner_->store()->Get(*id);
  if (!r.ok() || !migration::IsMigrationKind(r->kind())) return;
  v.set_migration_id(*id);
  v.set_state(r->kind() == migration::kOutKind ? v1::VOLUME_STATE_MIGRATING_OUT : v1::VOLUME_STATE_MIGRATING_IN);
}

// A machine cannot move while the store refuses its commits: the operator
// sees why on the migration itself, not only in the log.
void OperatorService::ShowStoreProblem(const fsm::Record& r, v1::Migration& m) {
  if (r.terminal()) return;
  absl::Status s = runner_->store()->WriteStatus();
  if (s.ok()) return;
  m.mutable_progress()->set_stalled(true);
  m.mutable_progress()->set_stall_reason(std::string(s.message()));
}

grpc::Status OperatorService::Health(grpc::ServerContext* ctx, const v1::HealthRequest*, v1::HealthResponse* out) {
  std::string peer;  // workerd checks its peers' health when it starts
  if (grpc::Status s = Authorize(ctx, &peer); !s.ok()) return s;
  out->set_worker(cfg_.worker);
  out->set_version(kVersion);
  out->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  out->set_active_machines(runner_->Active());
  out->set_status(v1::SERVING);
  // Every machine stops at its next commit while the store cannot be written.
  if (absl::Status s = runner_->store()->Probe(kStoreProbeInterval); !s.ok()) {
    out->set_status(v1::NOT_SERVING);
    out->add_problems(std::string(runner_->store()->WriteStatus().message()));
  }
  for (const PeerConfig& p : cfg_.peers) {
    v1::PeerInfo* pi = out->add_peers();
    pi->set_name(p.name);
    pi->set_address(p.address);
  }
  if (env_) {
    out->set_initiator_iqn(env_->initiator_iqn);
    auto pool = env_->host->PoolSpace();
    if (!pool.ok()) return ToGrpc(pool.status());
    out->set_pool_free_bytes(pool->free_bytes);
    out->set_pool_size_bytes(pool->total_bytes);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListVolumes(grpc::ServerContext* ctx, const v1::ListVolumesRequest*,
                                          v1::ListVolumesResponse* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  // Without storage the worker truly holds no volumes: an empty list is the answer.
  if (!volumes_) return grpc::Status::OK;
  auto all = volumes_->List();
  if (!all.ok()) return ToGrpc(all.status());
  for (auto& v : *all) {
    ShowMigration(v);
    *out->add_volumes() = std::move(v);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::GetVolume(grpc::ServerContext* ctx, const v1::GetVolumeRequest* req, v1::Volume* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->id()); !s.ok()) return ToGrpc(s);
  return Describe(req->id(), out);
}

grpc::Status OperatorService::Describe(const std::string& id, v1::Volume* out) {
  if (!volumes_) return ToGrpc(volumes::NoVolume(id, cfg_.worker));
  auto v = volumes_->Get(id);
  if (!v.ok()) return ToGrpc(v.status());
  ShowMigration(*v);
  *out = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status OperatorService::CreateVolume(grpc::ServerContext* ctx, const v1::CreateVolumeRequest* req, v1::Volume* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateCreateVolume(*req); !s.ok()) return ToGrpc(s);
  if (!volumes_) return ToGrpc(NoStorage(cfg_));
  // An offer or restore of the same name may be deciding that it is free.
  auto lease = admission::Hold(AdmissionNode(), admission::Op::kCreate, req->id());
  if (!lease.ok()) return ToGrpc(lease.status());
  auto v = volumes_->Create(req->id(), req->size_bytes());
  if (!v.ok()) return ToGrpc(v.status());
  spdlog::info("{} created, {} bytes", LogTag(req->id(), ""), req->size_bytes());
  *out = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status OperatorService::DeleteVolume(grpc::ServerContext* ctx, const v1::DeleteVolumeRequest* req,
                                           v1::DeleteVolumeResponse*) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->id()); !s.ok()) return ToGrpc(s);
  if (!volumes_) return ToGrpc(volumes::NoVolume(req->id(), cfg_.worker));
  auto lease = admission::Hold(AdmissionNode(), admission::Op::kDelete, req->id());
  if (!lease.ok()) return ToGrpc(lease.status());
  if (absl::Status s = volumes_->Delete(req->id()); !s.ok()) return ToGrpc(s);
  spdlog::info("{} deleted", LogTag(req->id(), ""));
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListRetired(grpc::ServerContext* ctx, const v1::ListRetiredRequest*,
                                          v1::ListRetiredResponse* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (!env_) return grpc::Status::OK;  // no storage: nothing retired here
  auto all = migration::ListRetired(env_);
  if (!all.ok()) return ToGrpc(all.status());
  for (const migration::RetiredCopy& c : *all) {
    v1::RetiredCopy* r = out->add_copies();
    r->set_name(c.name);
    r->set_volume_id(c.volume);
    r->set_migration_id(c.migration_id);
    r->set_bytes(c.bytes);
    r->set_retired_unix(c.retired_unix_ms / 1000);
    r->set_expires_unix(c.expires_unix_ms / 1000);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::PurgeRetired(grpc::ServerContext* ctx, const v1::PurgeRetiredRequest* req,
                                           v1::PurgeRetiredResponse*) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (!ValidName(req->name()))
    return ToGrpc(absl::InvalidArgumentError(absl::StrCat("'", req->name().substr(0, 64), "' is not a retired copy's name")));
  if (!env_) return ToGrpc(migration::NoRetiredCopy(req->name(), cfg_.worker));
  if (absl::Status s = migration::PurgeRetired(env_, req->name()); !s.ok()) return ToGrpc(s);
  spdlog::info("retired copy {} purged by an operator", req->name());
  return grpc::Status::OK;
}

grpc::Status OperatorService::AttachVolume(grpc::ServerContext* ctx, const v1::AttachVolumeRequest* req, v1::Volume* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->id()); !s.ok()) return ToGrpc(s);
  if (!env_ || !seal_) return ToGrpc(volumes::NoVolume(req->id(), cfg_.worker));
  if (absl::Status s = Attach(*env_, req->id()); !s.ok()) return ToGrpc(s);
  spdlog::info("{} attached: open, consumer started", LogTag(req->id(), ""));
  return Describe(req->id(), out);
}

grpc::Status OperatorService::DetachVolume(grpc::ServerContext* ctx, const v1::DetachVolumeRequest* req, v1::Volume* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->id()); !s.ok()) return ToGrpc(s);
  if (!env_) return ToGrpc(volumes::NoVolume(req->id(), cfg_.worker));
  if (absl::Status s = Detach(*env_, req->id()); !s.ok()) return ToGrpc(s);
  spdlog::info("{} detached: consumer stopped, closed", LogTag(req->id(), ""));
  return Describe(req->id(), out);
}

absl::Status OperatorService::CheckPeer(const std::string& worker) const {
  if (worker == cfg_.worker)
    return absl::InvalidArgumentError(absl::StrCat("destination ", worker, " is this worker itself"));
  if (cfg_.IsPeer(worker)) return absl::OkStatus();
  std::vector<std::string> names;
  for (const auto& p : cfg_.peers) names.push_back(p.name);
  return absl::NotFoundError(absl::StrCat("unknown worker '", worker.substr(0, 64), "' (peers of ", cfg_.worker, ": ",
                                          names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
}

grpc::Status OperatorService::StartMigration(grpc::ServerContext* ctx, const v1::StartMigrationRequest* req,
                                             v1::Migration* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->volume_id()); !s.ok()) return ToGrpc(s);
  if (absl::Status s = CheckPeer(req->destination_worker()); !s.ok()) return ToGrpc(s);
  v1::GetVolumeRequest get;
  get.set_id(req->volume_id());
  v1::Volume vol;
  if (grpc::Status s = GetVolume(ctx, &get, &vol); !s.ok()) return s;
  if (!env_) return ToGrpc(NoStorage(cfg_));
  auto m = migration::StartMigration(env_, runner_, req->volume_id(), req->destination_worker());
  if (!m.ok()) return ToGrpc(m.status());
  *out = std::move(*m);
  return grpc::Status::OK;
}

absl::Status OperatorService::CheckMoveOut(const std::string& worker,
                                          const google::protobuf::RepeatedPtrField<std::string>& destinations,
                                          uint32_t max_concurrent) const {
  if (!worker.empty() && worker != cfg_.worker)
    return absl::FailedPreconditionError(absl::StrCat("this is workerd '", cfg_.worker, "', not '", worker.substr(0, 64),
                                                      "': point --server at the worker to move volumes off"));
  for (const std::string& d : destinations) RETURN_IF_ERROR(CheckPeer(d));
  if (max_concurrent > 64) return absl::InvalidArgumentError("max_concurrent must be 0..64");
  return absl::OkStatus();
}

std::vector<std::string> OperatorService::PeerNames() const {
  std::vector<std::string> peers;
  for (const auto& p : cfg_.peers) peers.push_back(p.name);
  return peers;
}

grpc::Status OperatorService::DrainWorker(grpc::ServerContext* ctx, const v1::DrainWorkerRequest* req, v1::Drain* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = CheckMoveOut(req->worker(), req->destinations(), req->max_concurrent()); !s.ok())
    return ToGrpc(s);
  if (!env_) {
    // No storage, no volumes: the drain is complete as soon as it is asked for.
    out->set_worker(cfg_.worker);
    out->set_state("DONE");
    return grpc::Status::OK;
  }
  auto d = migration::StartDrain(env_, runner_, {req->destinations().begin(), req->destinations().end()}, PeerNames(),
                                 req->max_concurrent(), req->plan());
  if (!d.ok()) return ToGrpc(d.status());
  *out = std::move(*d);
  return grpc::Status::OK;
}

grpc::Status OperatorService::Rebalance(grpc::ServerContext* ctx, const v1::RebalanceRequest* req, v1::Drain* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = CheckMoveOut(req->worker(), req->destinations(), req->max_concurrent()); !s.ok())
    return ToGrpc(s);
  // NaN fails both comparisons, so it is refused too.
  if (!(req->tolerance_percent() >= 0 && req->tolerance_percent() <= 1000))
    return ToGrpc(absl::InvalidArgumentError("tolerance_percent must be 0..1000"));
  if (!(req->ceiling_percent() >= 0 && req->ceiling_percent() <= 100))
    return ToGrpc(absl::InvalidArgumentError("ceiling_percent must be 0..100"));
  if (!env_) return ToGrpc(absl::FailedPreconditionError(absl::StrCat("worker ", cfg_.worker, " has no [storage]")));
  migration::RebalanceTarget target;
  if (req->tolerance_percent() > 0) target.tolerance_percent = req->tolerance_percent();
  target.ceiling_percent = req->ceiling_percent();
  auto d = migration::StartRebalance(env_, runner_, {req->destinations().begin(), req->destinations().end()},
                                     PeerNames(), req->max_concurrent(), target, req->plan());
  if (!d.ok()) return ToGrpc(d.status());
  *out = std::move(*d);
  return grpc::Status::OK;
}

namespace {

// A drain id is "d-" or "r-" and ten hex digits; empty: the one running.
absl::Status ValidDrainId(const std::string& id) {
  if (id.empty() || (ValidName(id) && (absl::StartsWith(id, "d-") || absl::StartsWith(id, "r-"))))
    return absl::OkStatus();
  return absl::InvalidArgumentError("drain id is invalid: d-... or r-..., 1-63 characters [a-z0-9-]");
}

}  // namespace

grpc::Status OperatorService::GetDrain(grpc::ServerContext* ctx, const v1::GetDrainRequest* req, v1::Drain* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidDrainId(req->id()); !s.ok()) return ToGrpc(s);
  if (!env_) return ToGrpc(absl::NotFoundError(absl::StrCat("no drain on worker ", cfg_.worker)));
  auto d = migration::GetDrain(env_, req->id());
  if (!d.ok()) return ToGrpc(d.status());
  *out = std::move(*d);
  return grpc::Status::OK;
}

grpc::Status OperatorService::AbortDrain(grpc::ServerContext* ctx, const v1::AbortDrainRequest* req, v1::Drain* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidDrainId(req->id()); !s.ok()) return ToGrpc(s);
  if (!env_) return ToGrpc(absl::NotFoundError(absl::StrCat("no drain on worker ", cfg_.worker)));
  auto d = migration::AbortDrain(env_, runner_, req->id());
  if (!d.ok()) return ToGrpc(d.status());
  *out = std::move(*d);
  return grpc::Status::OK;
}

absl::StatusOr<v1::Migration> OperatorService::LoadMigration(const std::string& id, bool with_history) {
  if (!ValidName(id)) return absl::InvalidArgumentError("migration id is invalid: 1-63 characters [a-z0-9-]");
  auto rec = runner_->store()->Get(id);
  if (!rec.ok() || !migration::IsMigrationKind(rec->kind())) {
    if (rec.ok() || rec.status().code() == absl::StatusCode::kNotFound)
      return absl::NotFoundError(absl::StrCat("no migration '", id, "' on worker ", cfg_.worker));
    return rec.status();
  }
  ASSIGN_OR_RETURN(v1::Migration m, migration::ViewOf(*rec));
  ShowStoreProblem(*rec, m);
  if (!with_history) return m;
  ASSIGN_OR_RETURN(auto hist, runner_->store()->History(id));
  for (const fsm::HistoryEntry& h : hist) {
    v1::Transition* t = m.add_history();
    t->set_at_unix_ms(h.at_ms());
    t->set_from(h.from());
    t->set_to(h.to());
    t->set_error(h.error());
  }
  return m;
}

grpc::Status OperatorService::GetMigration(grpc::ServerContext* ctx, const v1::GetMigrationRequest* req,
                                           v1::Migration* out) {
  // Each side of a migration polls the other's record; a peer reads only
  // the migrations it takes part in.
  std::string peer;
  if (grpc::Status s = Authorize(ctx, &peer); !s.ok()) return s;
  auto m = LoadMigration(req->id(), true);
  if (m.ok() && !peer.empty() && m->source_worker() != peer && m->destination_worker() != peer)
    m = absl::NotFoundError(absl::StrCat("no migration '", req->id(), "' with ", peer, " on worker ", cfg_.worker));
  if (!m.ok()) return ToGrpc(m.status());
  *out = std::move(*m);
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListMigrations(grpc::ServerContext* ctx, const v1::ListMigrationsRequest* req,
                                             v1::ListMigrationsResponse* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  auto all = runner_->store()->List();
  if (!all.ok()) return ToGrpc(all.status());
  for (const fsm::Record& r : *all) {
    if (!migration::IsMigrationKind(r.kind()) || (r.terminal() && !req->include_finished())) continue;
    auto m = migration::ViewOf(r);
    if (!m.ok()) return ToGrpc(m.status());
    ShowStoreProblem(r, *m);
    *out->add_migrations() = std::move(*m);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::WatchMigration(grpc::ServerContext* ctx, const v1::WatchMigrationRequest* req,
                                             grpc::ServerWriter<v1::Migration>* writer) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  return StreamUntilTerminal<v1::Migration>(runner_, ctx, writer, [&] { return LoadMigration(req->id(), false); });
}

grpc::Status OperatorService::AbortMigration(grpc::ServerContext* ctx, const v1::AbortMigrationRequest* req,
                                             v1::Migration* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (auto m = LoadMigration(req->id(), false); !m.ok()) return ToGrpc(m.status());
  absl::Status s = env_ ? migration::AbortMigration(env_, runner_, req->id()) : runner_->Cancel(req->id());
  if (!s.ok()) return ToGrpc(s);
  spdlog::info("{} abort requested", LogTag("", req->id()));
  auto m = LoadMigration(req->id(), false);
  if (!m.ok()) return ToGrpc(m.status());
  *out = std::move(*m);
  return grpc::Status::OK;
}

grpc::Status OperatorService::Seal(const std::string& volume, bool ship, v1::Transfer* out) {
  if (absl::Status s = ValidateVolumeId(volume); !s.ok()) return ToGrpc(s);
  if (!seal_) return ToGrpc(NoStorage(cfg_));
  auto t = sealing::StartSeal(seal_, runner_, volume, ship);
  if (!t.ok()) return ToGrpc(t.status());
  spdlog::info("{} {} started to {}", LogTag(volume, t->id()), t->kind(), t->store());
  *out = std::move(*t);
  return grpc::Status::OK;
}

grpc::Status OperatorService::SealVolume(grpc::ServerContext* ctx, const v1::SealVolumeRequest* req, v1::Transfer* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  return Seal(req->volume_id(), false, out);
}

grpc::Status OperatorService::ShipVolume(grpc::ServerContext* ctx, const v1::ShipVolumeRequest* req, v1::Transfer* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  return Seal(req->volume_id(), true, out);
}

grpc::Status OperatorService::UnsealVolume(grpc::ServerContext* ctx, const v1::UnsealVolumeRequest* req, v1::Volume* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->volume_id()); !s.ok()) return ToGrpc(s);
  if (!seal_) return ToGrpc(NoStorage(cfg_));
  if (absl::Status s = sealing::Unseal(seal_, req->volume_id()); !s.ok()) return ToGrpc(s);
  spdlog::info("{} unsealed: open, consumer started", LogTag(req->volume_id(), ""));
  auto v = volumes_->Get(req->volume_id());
  if (!v.ok()) return ToGrpc(v.status());
  *out = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status OperatorService::RestoreVolume(grpc::ServerContext* ctx, const v1::RestoreVolumeRequest* req,
                                            v1::Transfer* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  for (const std::string* id : {&req->volume_id(), &req->new_volume_id()})
    if (absl::Status s = ValidateVolumeId(*id); !s.ok()) return ToGrpc(s);
  if (!req->key_from().empty())
    if (absl::Status s = CheckPeer(req->key_from()); !s.ok()) return ToGrpc(s);
  if (!seal_) return ToGrpc(NoStorage(cfg_));
  auto t = sealing::StartRestore(seal_, runner_, *req);
  if (!t.ok()) return ToGrpc(t.status());
  spdlog::info("{} restore of {} started from {}", LogTag(req->new_volume_id(), t->id()), req->volume_id(), t->store());
  *out = std::move(*t);
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListSnapshots(grpc::ServerContext* ctx, const v1::ListSnapshotsRequest* req,
                                            v1::ListSnapshotsResponse* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (absl::Status s = ValidateVolumeId(req->volume_id()); !s.ok()) return ToGrpc(s);
  if (!seal_) return ToGrpc(NoStorage(cfg_));
  auto l = sealing::ListSnapshots(seal_, req->volume_id());
  if (!l.ok()) return ToGrpc(l.status());
  *out = std::move(*l);
  return grpc::Status::OK;
}

absl::StatusOr<v1::Transfer> OperatorService::LoadTransfer(const std::string& id) {
  if (!ValidName(id)) return absl::InvalidArgumentError("transfer id is invalid: 1-63 characters [a-z0-9-]");
  auto rec = runner_->store()->Get(id);
  if (!rec.ok() || !sealing::IsTransferKind(rec->kind()) || !seal_) {
    if (rec.ok() || absl::IsNotFound(rec.status()))
      return absl::NotFoundError(absl::StrCat("no seal, ship or restore '", id, "' on worker ", cfg_.worker));
    return rec.status();
  }
  return sealing::TransferView(*rec, *seal_);
}

grpc::Status OperatorService::GetTransfer(grpc::ServerContext* ctx, const v1::GetTransferRequest* req, v1::Transfer* out) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  auto t = LoadTransfer(req->id());
  if (!t.ok()) return ToGrpc(t.status());
  *out = std::move(*t);
  return grpc::Status::OK;
}

grpc::Status OperatorService::WatchTransfer(grpc::ServerContext* ctx, const v1::GetTransferRequest* req,
                                            grpc::ServerWriter<v1::Transfer>* writer) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  return StreamUntilTerminal<v1::Transfer>(runner_, ctx, writer, [&] { return LoadTransfer(req->id()); });
}

PeerService::PeerService(const Config& cfg, fsm::Runner* runner, migration::Env* env, sealing::Env* seal)
    : cfg_(cfg), runner_(runner), env_(env), seal_(seal) {}

absl::StatusOr<std::string> PeerService::Authorize(const grpc::ServerContext& ctx) const {
  if (cfg_.plaintext) return std::string();  // development mode: nothing to check against
  if (std::string name = PeerName(cfg_, ctx); !name.empty()) return name;
  std::string cn = rpc::PeerCommonName(ctx);
  spdlog::warn("peer call refused: client certificate '{}' is not a peer", cn.substr(0, 64));
  return absl::PermissionDeniedError(absl::StrCat(
      "client certificate '", cn.substr(0, 64), "' is not a peer of worker ", cfg_.worker,
      cfg_.address_template.empty() ? " (workerd.toml: peers)" : " (it has no worker role: make-certs.sh --role worker)"));
}

namespace {

// A peer may only speak for itself.
absl::Status SameWorker(const std::string& caller, const std::string& claimed, const char* field) {
  if (caller.empty() || caller == claimed) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("peer ", caller, " may not act as ", field, " '", claimed.substr(0, 64), "'"));
}

}  // namespace

grpc::Status PeerService::OfferMigration(grpc::ServerContext* ctx, const v1::OfferMigrationRequest* req,
                                         v1::OfferMigrationResponse* out) {
  auto caller = Authorize(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (absl::Status s = ValidateOffer(*req); !s.ok()) return ToGrpc(s);
  if (absl::Status s = SameWorker(*caller, req->source_worker(), "source_worker"); !s.ok()) return ToGrpc(s);
  if (!env_) return ToGrpc(NoStorage(cfg_));
  auto state = migration::AcceptOffer(env_, runner_, *req);
  if (!state.ok()) {
    spdlog::warn("{} offer from {} refused: {}", LogTag(req->volume_id(), req->migration_id()), req->source_worker(),
                 state.status().ToString());
    return ToGrpc(state.status());
  }
  out->set_accepted(true);
  out->set_destination_state(*state);
  return grpc::Status::OK;
}

grpc::Status PeerService::ReportProgress(grpc::ServerContext* ctx, const v1::ReportProgressRequest* req,
                                         v1::ReportProgressResponse*) {
  auto caller = Authorize(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!ValidName(req->migration_id())) return ToGrpc(absl::InvalidArgumentError("migration_id is invalid"));
  if (absl::Status s = SameWorker(*caller, req->destination_worker(), "destination_worker"); !s.ok()) return ToGrpc(s);
  auto r = runner_->store()->Get(req->migration_id());
  auto view = r.ok() ? migration::ViewOf(*r) : r.status();
  if (!view.ok() || r->kind() != migration::kOutKind || view->destination_worker() != req->destination_worker())
    return ToGrpc(absl::NotFoundError(absl::StrCat("no migration '", req->migration_id(), "' to ",
                                                   req->destination_worker().substr(0, 64), " on worker ", cfg_.worker)));
  // The source's WAITING step reads the destination's state itself within a
  // second; this call is the destination's receipt that the source knows it.
  spdlog::info("{} destination {} reports {}", LogTag(view->volume_id(), req->migration_id()),
               req->destination_worker(), req->done() ? "done" : req->state());
  return grpc::Status::OK;
}

grpc::Status PeerService::CancelMigration(grpc::ServerContext* ctx, const v1::CancelMigrationRequest* req,
                                          v1::CancelMigrationResponse* out) {
  auto caller = Authorize(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!ValidName(req->migration_id())) return ToGrpc(absl::InvalidArgumentError("migration_id is invalid"));
  if (!env_) return ToGrpc(absl::NotFoundError(absl::StrCat("no migration '", req->migration_id(), "'")));
  std::string source = *caller;
  if (source.empty()) {  // plaintext: trust the record
    auto r = runner_->store()->Get(req->migration_id());
    if (!r.ok()) return ToGrpc(r.status());
    auto v = migration::ViewOf(*r);
    if (v.ok()) source = v->source_worker();
  }
  auto state = migration::CancelIncoming(env_, runner_, req->migration_id(), source);
  if (!state.ok()) return ToGrpc(state.status());
  out->set_destination_state(*state);
  return grpc::Status::OK;
}

grpc::Status PeerService::GetAllocation(grpc::ServerContext* ctx, const v1::GetAllocationRequest* req,
                                        v1::AllocationMap* out) {
  auto caller = Authorize(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!ValidName(req->migration_id())) return ToGrpc(absl::InvalidArgumentError("migration_id is invalid"));
  if (absl::Status s = SameWorker(*caller, req->destination_worker(), "destination_worker"); !s.ok()) return ToGrpc(s);
  if (!env_) return ToGrpc(NoStorage(cfg_));
  auto map = migration::AllocationFor(env_, req->migration_id(), req->destination_worker());
  if (!map.ok()) return ToGrpc(map.status());
  *out = *std::move(map);
  return grpc::Status::OK;
}

grpc::Status PeerService::FetchVolumeKey(grpc::ServerContext* ctx, const v1::FetchVolumeKeyRequest* req,
                                         v1::FetchVolumeKeyResponse* out) {
  auto caller = Authorize(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (absl::Status s = ValidateVolumeId(req->volume_id()); !s.ok()) return ToGrpc(s);
  if (!seal_) return ToGrpc(NoStorage(cfg_));
  // A key serves a restore, which reads a shipped log: keys of volumes never
  // shipped (live ones included) stay here.
  auto log = sealing::ListSnapshots(seal_, req->volume_id());
  if (!log.ok()) return ToGrpc(log.status());
  if (log->snapshots_size() == 0) {
    spdlog::warn("{} key refused to peer {}: the volume was never shipped", LogTag(req->volume_id(), ""), *caller);
    return ToGrpc(absl::PermissionDeniedError(absl::StrCat(req->volume_id(), " has no shipped snapshot in ",
                                                           log->store(), "; worker ", cfg_.worker,
                                                           " hands out keys of shipped volumes only")));
  }
  auto key = seal_->host->GetKey(req->volume_id());
  if (!key.ok()) {
    if (absl::IsNotFound(key.status()))
      return ToGrpc(absl::NotFoundError(absl::StrCat("worker ", cfg_.worker, " holds no key for ", req->volume_id())));
    return ToGrpc(key.status());
  }
  spdlog::info("{} key handed to peer {} for a restore", LogTag(req->volume_id(), ""), *caller);
  out->set_key(*key);
  return grpc::Status::OK;
}

}  // namespace volmigrate::workerd
