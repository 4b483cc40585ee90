// The gRPC services of one workerd. Handlers validate, read durable state or hand
// work to the FSM runner, and answer; they never wait on kernel work.
#pragma once

#include "absl/time/time.h"
#include "fsm/runner.h"
#include "admission/admission.h"
#include "migration/machines.h"
#include "sealing/machines.h"
#include "volmigrate/v1/volmigrate.grpc.pb.h"
#include "workerd/config.h"
#include "workerd/volume_manager.h"

namespace volmigrate::workerd {

class OperatorService final : public v1::Operator::Service {
 public:
  // `volumes`, `env` and `seal` are null when the worker has no [storage].
  OperatorService(const Config& cfg, fsm::Runner* runner, VolumeManager* volumes, migration::Env* env,
                  sealing::Env* seal);

  grpc::Status Health(grpc::ServerContext*, const v1::HealthRequest*, v1::HealthResponse*) override;
  grpc::Status ListVolumes(grpc::ServerContext*, const v1::ListVolumesRequest*, v1::ListVolumesResponse*) override;
  grpc::Status GetVolume(grpc::ServerContext*, const v1::GetVolumeRequest*, v1::Volume*) override;
  grpc::Status CreateVolume(grpc::ServerContext*, const v1::CreateVolumeRequest*, v1::Volume*) override;
  grpc::Status DeleteVolume(grpc::ServerContext*, const v1::DeleteVolumeRequest*, v1::DeleteVolumeResponse*) override;
  grpc::Status ListRetired(grpc::ServerContext*, const v1::ListRetiredRequest*, v1::ListRetiredResponse*) override;
  grpc::Status PurgeRetired(grpc::ServerContext*, const v1::PurgeRetiredRequest*, v1::PurgeRetiredResponse*) override;
  grpc::Status AttachVolume(grpc::ServerContext*, const v1::AttachVolumeRequest*, v1::Volume*) override;
  grpc::Status DetachVolume(grpc::ServerContext*, const v1::DetachVolumeRequest*, v1::Volume*) override;
  grpc::Status StartMigration(grpc::ServerContext*, const v1::StartMigrationRequest*, v1::Migration*) override;
  grpc::Status DrainWorker(grpc::ServerContext*, const v1::DrainWorkerRequest*, v1::Drain*) override;
  grpc::Status Rebalance(grpc::ServerContext*, const v1::RebalanceRequest*, v1::Drain*) override;
  grpc::Status GetDrain(grpc::ServerContext*, const v1::GetDrainRequest*, v1::Drain*) override;
  grpc::Status AbortDrain(grpc::ServerContext*, const v1::AbortDrainRequest*, v1::Drain*) override;
  grpc::Status GetMigration(grpc::ServerContext*, const v1::GetMigrationRequest*, v1::Migration*) override;
  grpc::Status ListMigrations(grpc::ServerContext*, const v1::ListMigrationsRequest*,
                              v1::ListMigrationsResponse*) override;
  grpc::Status WatchMigration(grpc::ServerContext*, const v1::WatchMigrationRequest*,
                              grpc::ServerWriter<v1::Migration>*) override;
  grpc::Status AbortMigration(grpc::ServerContext*, const v1::AbortMigrationRequest*, v1::Migration*) override;
  grpc::Status SealVolume(grpc::ServerContext*, const v1::SealVolumeRequest*, v1::Transfer*) override;
  grpc::Status ShipVolume(grpc::ServerContext*, const v1::ShipVolumeRequest*, v1::Transfer*) override;
  grpc::Status UnsealVolume(grpc::ServerContext*, const v1::UnsealVolumeRequest*, v1::Volume*) override;
  grpc::Status RestoreVolume(grpc::ServerContext*, const v1::RestoreVolumeRequest*, v1::Transfer*) override;
  grpc::Status ListSnapshots(grpc::ServerContext*, const v1::ListSnapshotsRequest*, v1::ListSnapshotsResponse*) override;
  grpc::Status GetTransfer(grpc::ServerContext*, const v1::GetTransferRequest*, v1::Transfer*) override;
  grpc::Status WatchTransfer(grpc::ServerContext*, const v1::GetTransferRequest*,
                             grpc::ServerWriter<v1::Transfer>*) override;

 private:
  absl::StatusOr<v1::Transfer> LoadTransfer(const std::string& id);
  grpc::Status Seal(const std::string& volume, bool ship, v1::Transfer* out);
  absl::StatusOr<v1::Migration> LoadMigration(const std::string& id, bool with_history);
  absl::Status CheckPeer(const std::string& worker) const;
  // What a drain and a rebalance both check first: `worker` is this one (or
  // empty), each destination a peer, max_concurrent 0..64.
  absl::Status CheckMoveOut(const std::string& worker,
                            const google::protobuf::RepeatedPtrField<std::string>& destinations,
                            uint32_t max_concurrent) const;
  std::vector<std::string> PeerNames() const;
  // OK for a certificate named in cfg_.operators, and for a peer's when
  // `peer` is given (set to the peer's name; left empty for an operator);
  // PERMISSION_DENIED otherwise.
  grpc::Status Authorize(const grpc::ServerContext* ctx, std::string* peer = nullptr) const;
  void ShowMigration(v1::Volume& v);
  // The volume as GetVolume shows it.
  grpc::Status Describe(const std::string& id, v1::Volume* out);
  void ShowStoreProblem(const fsm::Record& r, v1::Migration& m);
  // What admission looks at; no host without [storage].
  admission::Node AdmissionNode() const { return {runner_->store(), env_ ? env_->host : nullptr}; }

  const Config& cfg_;
  fsm::Runner* runner_;
  VolumeManager* volumes_;
  migration::Env* env_;
  sealing::Env* seal_;
  absl::Time started_;
};

// Only callers whose certificate names a configured peer get in.
class PeerService final : public v1::Peer::Service {
 public:
  // `env` is null when the worker has no [storage]: it then takes no migrations.
  PeerService(const Config& cfg, fsm::Runner* runner, migration::Env* env, sealing::Env* seal);

  grpc::Status OfferMigration(grpc::ServerContext*, const v1::OfferMigrationRequest*,
                              v1::OfferMigrationResponse*) override;
  grpc::Status ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest*,
                              v1::ReportProgressResponse*) override;
  grpc::Status CancelMigration(grpc::ServerContext*, const v1::CancelMigrationRequest*,
                               v1::CancelMigrationResponse*) override;
  grpc::Status FetchVolumeKey(grpc::ServerContext*, const v1::FetchVolumeKeyRequest*,
                              v1::FetchVolumeKeyResponse*) override;
  grpc::Status GetAllocation(grpc::ServerContext*, const v1::GetAllocationRequest*, v1::AllocationMap*) override;

 private:
  // The calling peer's worker name; "" in plaintext mode (nothing to check against).
  absl::StatusOr<std::string> Authorize(const grpc::ServerContext& ctx) const;

  const Config& cfg_;
  fsm::Runner* runner_;
  migration::Env* env_;
  sealing::Env* seal_;
};

}  // namespace volmigrate::workerd
