// One running workerd: state store, FSM runner and gRPC server, started and
// stopped as a unit. main() and the tests both use it.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "fsm/runner.h"
#include "fsm/store.h"
#include "host/host.h"
#include "metrics/metrics.h"
#include "migration/machines.h"
#include "objstore/store.h"
#include "sealing/machines.h"
#include "workerd/config.h"
#include "workerd/services.h"
#include "workerd/volume_manager.h"

namespace volmigrate::workerd {

class Daemon {
 public:
  // Opens the state store (refusing a damaged one), resumes unfinished machines
  // and starts serving. Errors are one clear line for the operator.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(Config cfg);
  ~Daemon();

  // Stops taking calls, lets steps in flight commit, and leaves every machine
  // resumable by the next start.
  void Shutdown(absl::Duration grace);

  int port() const { return port_; }
  const Config& config() const { return cfg_; }

 private:
  explicit Daemon(Config cfg) : cfg_(std::move(cfg)) {}

  // Start's parts, in this order: the state store and runner; the host and
  // the volumes on it (only with [storage]); the migration and
  // sealing machines, registered before the runner resumes any; the server;
  // the metrics server ([metrics] listen).
  absl::Status OpenState();
  absl::Status OpenStorage();
  absl::Status StartMigrations();
  absl::Status StartSealing();
  absl::Status Serve(std::shared_ptr<grpc::ServerCredentials> creds);
  absl::Status ServeMetrics();
  // Deletes retired copies past [migration] retire_after, until Shutdown.
  void ExpireRetiredLoop();
  luks::Pbkdf Pbkdf() const { return {cfg_.storage.pbkdf, cfg_.storage.pbkdf_iterations}; }

  Config cfg_;
  std::unique_ptr<Executor> exec_;
  std::unique_ptr<dm::DeviceMapper> lvm_dm_;  // the pool's messages
  std::unique_ptr<volumes::Lvm> lvm_;
  std::unique_ptr<luks::KeyStore> keys_;
  std::unique_ptr<VolumeManager> volumes_;
  std::unique_ptr<host::Host> host_;
  std::unique_ptr<migration::Peers> peers_;
  std::unique_ptr<migration::Env> env_;
  std::unique_ptr<objstore::ObjectStore> objects_;
  std::unique_ptr<sealing::Env> seal_;
  std::unique_ptr<fsm::Store> store_;
  std::shared_ptr<metrics::Steps> steps_;
  std::unique_ptr<fsm::Runner> runner_;
  std::unique_ptr<OperatorService> operator_;
  std::unique_ptr<PeerService> peer_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex expiry_mu_;
  std::condition_variable expiry_cv_;
  bool stopping_ = false;  // guarded by expiry_mu_
  std::thread expiry_;
  std::unique_ptr<metrics::Server> metrics_;  // reads the store, host and sealing: goes first
};

// Calls Health on every configured peer over mutual TLS, as this worker.
// Unavailable naming each unreachable peer and why.
absl::Status CheckPeers(const Config& cfg, absl::Duration timeout);

}  // namespace volmigrate::workerd
