// The calls one worker makes on another during a migration, behind an
// interface so the machines' logic is tested without a network.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "volmigrate/v1/volmigrate.grpc.pb.h"

namespace volmigrate::migration {

class Peers {
 public:
  virtual ~Peers() = default;
  // Errors carry the gRPC code as an absl code (UNAVAILABLE: retry later).
  virtual absl::StatusOr<v1::HealthResponse> Health(const std::string& worker) = 0;
  virtual absl::StatusOr<v1::OfferMigrationResponse> Offer(const std::string& worker,
                                                           const v1::OfferMigrationRequest& req) = 0;
  virtual absl::StatusOr<v1::Migration> GetMigration(const std::string& worker, const std::string& id) = 0;
  virtual absl::StatusOr<v1::CancelMigrationResponse> Cancel(const std::string& worker, const std::string& id) = 0;
  virtual absl::Status Report(const std::string& worker, const v1::ReportProgressRequest& req) = 0;
  // Where the volume of migration `id` holds data, from its source `worker`
  // (asked by `destination`, this worker).
  virtual absl::StatusOr<v1::AllocationMap> GetAllocation(const std::string& worker, const std::string& id,
                                                         const std::string& destination) = 0;
  // The passphrase of `volume` held by `worker` (restoring its shipped log here).
  virtual absl::StatusOr<std::string> FetchVolumeKey(const std::string& worker, const std::string& volume) {
    return absl::UnimplementedError(absl::StrCat("cannot fetch the key of ", volume, " from ", worker));
  }
};

// Over gRPC with this worker's client certificate; `address_of`: a worker's
// host:port, "" for a worker that is not a peer.
using AddressOf = std::function<std::string(const std::string& worker)>;
std::unique_ptr<Peers> NewGrpcPeers(AddressOf address_of, std::shared_ptr<grpc::ChannelCredentials> creds,
                                    absl::Duration timeout);

}  // namespace volmigrate::migration
