#include "workerd/services.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status.h"
#include "rpc/tls.h"
#include "spdlog/spdlog.h"
#include "workerd/migration_view.h"
#include "workerd/validate.h"

namespace volmigrate::workerd {
namespace {

constexpr char kVersion[] = "0.1.0";

absl::Status NoStorage(const Config& cfg) {
  return absl::FailedPreconditionError(
      absl::StrCat("worker ", cfg.worker, " has no [storage] configured, so it holds no volumes"));
}

}  // namespace

OperatorService::OperatorService(const Config& cfg, fsm::Runner* runner, VolumeManager* volumes)
    : cfg_(cfg), runner_(runner), volumes_(volumes), started_(absl::Now()) {}

grpc::Status OperatorService::Health(grpc::ServerContext*, const v1::HealthRequest*, v1::HealthResponse* out) {
  out->set_worker(cfg_.worker);
  out->set_version(kVersion);
  out->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  out->set_active_machines(runner_->Active());
  for (const PeerConfig& p : cfg_.peers) {
    v1::PeerInfo* pi = out->add_peers();
    pi->set_name(p.name);
    pi->set_address(p.address);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListVolumes(grpc::ServerContext*, const v1::ListVolumesRequest*,
                                          v1::ListVolumesResponse* out) {
  // Without storage the worker truly holds no volumes: an empty list is the answer.
  if (!volumes_) return grpc::Status::OK;
  auto all = volumes_->List();
  if (!all.ok()) return ToGrpc(all.status());
  for (auto& v : *all) *out->add_volumes() = std::move(v);
  return grpc::Status::OK;
}

grpc::Status OperatorService::GetVolume(grpc::ServerContext*, const v1::GetVolumeRequest* req, v1::Volume* out) {
  if (absl::Status s = ValidateVolumeId(req->id()); !s.ok()) return ToGrpc(s);
  if (!volumes_) return ToGrpc(absl::NotFoundError(absl::StrCat("no volume '", req->id(), "' on worker ", cfg_.worker)));
  auto v = volumes_->Get(req->id());
  if (!v.ok()) return ToGrpc(v.status());
  *out = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status OperatorService::CreateVolume(grpc::ServerContext*, const v1::CreateVolumeRequest* req, v1::Volume* out) {
  if (absl::Status s = ValidateCreateVolume(*req); !s.ok()) return ToGrpc(s);
  if (!volumes_) return ToGrpc(NoStorage(cfg_));
  auto v = volumes_->Create(req->id(), req->size_bytes());
  if (!v.ok()) return ToGrpc(v.status());
  spdlog::info("{} created, {} bytes", LogTag(req->id(), ""), req->size_bytes());
  *out = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status OperatorService::DeleteVolume(grpc::ServerContext*, const v1::DeleteVolumeRequest* req,
                                           v1::DeleteVolumeResponse*) {
  if (absl::Status s = ValidateVolumeId(req->id()); !s.ok()) return ToGrpc(s);
  if (!volumes_) return ToGrpc(absl::NotFoundError(absl::StrCat("no volume '", req->id(), "' on worker ", cfg_.worker)));
  if (absl::Status s = volumes_->Delete(req->id()); !s.ok()) return ToGrpc(s);
  spdlog::info("{} deleted", LogTag(req->id(), ""));
  return grpc::Status::OK;
}

absl::Status OperatorService::CheckPeer(const std::string& worker) const {
  if (worker == cfg_.worker)
    return absl::InvalidArgumentError(absl::StrCat("destination ", worker, " is this worker itself"));
  if (cfg_.FindPeer(worker)) return absl::OkStatus();
  std::vector<std::string> names;
  for (const auto& p : cfg_.peers) names.push_back(p.name);
  return absl::NotFoundError(absl::StrCat("unknown worker '", worker.substr(0, 64), "' (peers of ", cfg_.worker, ": ",
                                          names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
}

grpc::Status OperatorService::StartMigration(grpc::ServerContext* ctx, const v1::StartMigrationRequest* req,
                                             v1::Migration*) {
  if (absl::Status s = ValidateVolumeId(req->volume_id()); !s.ok()) return ToGrpc(s);
  if (absl::Status s = CheckPeer(req->destination_worker()); !s.ok()) return ToGrpc(s);
  v1::GetVolumeRequest get;
  get.set_id(req->volume_id());
  v1::Volume vol;
  if (grpc::Status s = GetVolume(ctx, &get, &vol); !s.ok()) return s;
  return ToGrpc(absl::UnimplementedError("live migration is not implemented in this build"));
}

grpc::Status OperatorService::DrainWorker(grpc::ServerContext*, const v1::DrainWorkerRequest* req, v1::Drain* out) {
  if (!req->worker().empty() && req->worker() != cfg_.worker)
    return ToGrpc(absl::FailedPreconditionError(
        absl::StrCat("this is workerd '", cfg_.worker, "', not '", req->worker().substr(0, 64),
                     "': point --server at the worker to drain")));
  for (const std::string& d : req->destinations())
    if (absl::Status s = CheckPeer(d); !s.ok()) return ToGrpc(s);
  size_t held = 0;
  if (volumes_) {
    auto all = volumes_->List();
    if (!all.ok()) return ToGrpc(all.status());
    held = all->size();
  }
  if (held == 0) {
    // Nothing to move: the drain is complete as soon as it is asked for.
    out->set_worker(cfg_.worker);
    out->set_state("DONE");
    return grpc::Status::OK;
  }
  return ToGrpc(absl::UnimplementedError("live migration is not implemented in this build"));
}

absl::StatusOr<v1::Migration> OperatorService::LoadMigration(const std::string& id, bool with_history) {
  if (!ValidName(id)) return absl::InvalidArgumentError("migration id is invalid: 1-63 characters [a-z0-9-]");
  auto rec = runner_->store()->Get(id);
  if (!rec.ok() || !IsMigrationKind(rec->kind())) {
    if (rec.ok() || rec.status().code() == absl::StatusCode::kNotFound)
      return absl::NotFoundError(absl::StrCat("no migration '", id, "' on worker ", cfg_.worker));
    return rec.status();
  }
  if (!with_history) return MigrationFromRecord(*rec, nullptr);
  ASSIGN_OR_RETURN(auto hist, runner_->store()->History(id));
  return MigrationFromRecord(*rec, &hist);
}

grpc::Status OperatorService::GetMigration(grpc::ServerContext*, const v1::GetMigrationRequest* req,
                                           v1::Migration* out) {
  auto m = LoadMigration(req->id(), true);
  if (!m.ok()) return ToGrpc(m.status());
  *out = std::move(*m);
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListMigrations(grpc::ServerContext*, const v1::ListMigrationsRequest* req,
                                             v1::ListMigrationsResponse* out) {
  auto all = runner_->store()->List();
  if (!all.ok()) return ToGrpc(all.status());
  for (const fsm::Record& r : *all) {
    if (!IsMigrationKind(r.kind()) || (r.terminal() && !req->include_finished())) continue;
    auto m = MigrationFromRecord(r, nullptr);
    if (!m.ok()) return ToGrpc(m.status());
    *out->add_migrations() = std::move(*m);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::WatchMigration(grpc::ServerContext* ctx, const v1::WatchMigrationRequest* req,
                                             grpc::ServerWriter<v1::Migration>* writer) {
  uint64_t seen = runner_->Version();
  std::string last;
  for (;;) {
    auto m = LoadMigration(req->id(), false);
    if (!m.ok()) return ToGrpc(m.status());
    std::string now = m->SerializeAsString();
    if (now != last) {
      if (!writer->Write(*m)) return grpc::Status::CANCELLED;
      last = std::move(now);
    }
    if (m->terminal()) return grpc::Status::OK;
    // Wake at least once a second to notice a client that went away.
    uint64_t v;
    while ((v = runner_->WaitForChange(seen, absl::Now() + absl::Seconds(1))) == seen) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    }
    seen = v;
  }
}

grpc::Status OperatorService::AbortMigration(grpc::ServerContext*, const v1::AbortMigrationRequest* req,
                                             v1::Migration* out) {
  if (auto m = LoadMigration(req->id(), false); !m.ok()) return ToGrpc(m.status());
  if (absl::Status s = runner_->Cancel(req->id()); !s.ok()) return ToGrpc(s);
  spdlog::info("{} abort requested", LogTag("", req->id()));
  auto m = LoadMigration(req->id(), false);
  if (!m.ok()) return ToGrpc(m.status());
  *out = std::move(*m);
  return grpc::Status::OK;
}

PeerService::PeerService(const Config& cfg) : cfg_(cfg) {}

absl::Status PeerService::Authorize(const grpc::ServerContext& ctx) const {
  if (cfg_.plaintext) return absl::OkStatus();  // development mode: nothing to check against
  std::string cn = rpc::PeerCommonName(ctx);
  if (cfg_.FindPeer(cn)) return absl::OkStatus();
  spdlog::warn("peer call refused: client certificate '{}' is not a configured peer", cn.substr(0, 64));
  return absl::PermissionDeniedError(
      absl::StrCat("client certificate '", cn.substr(0, 64), "' is not a peer of worker ", cfg_.worker));
}

grpc::Status PeerService::OfferMigration(grpc::ServerContext* ctx, const v1::OfferMigrationRequest* req,
                                         v1::OfferMigrationResponse*) {
  if (absl::Status s = Authorize(*ctx); !s.ok()) return ToGrpc(s);
  if (absl::Status s = ValidateOffer(*req); !s.ok()) return ToGrpc(s);
  if (!cfg_.storage.configured) return ToGrpc(NoStorage(cfg_));
  return ToGrpc(absl::UnimplementedError("incoming migrations are not implemented in this build"));
}

grpc::Status PeerService::ReportProgress(grpc::ServerContext* ctx, const v1::ReportProgressRequest* req,
                                         v1::ReportProgressResponse*) {
  if (absl::Status s = Authorize(*ctx); !s.ok()) return ToGrpc(s);
  if (!ValidName(req->migration_id())) return ToGrpc(absl::InvalidArgumentError("migration_id is invalid"));
  return ToGrpc(absl::NotFoundError(absl::StrCat("no migration '", req->migration_id(), "' on worker ", cfg_.worker)));
}

}  // namespace volmigrate::workerd
