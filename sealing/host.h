// What sealing, shipping and restoring do to their host, as one narrow
// interface: the real one composes migration::Host (volumes, LUKS2, hooks) and
// lvm2's snapshots and thin_dump; tests give a world of files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "luks/keystore.h"
#include "migration/host.h"
#include "volumes/lvm.h"

namespace volmigrate::sealing {

class Host {
 public:
  virtual ~Host() = default;
  virtual absl::StatusOr<bool> VolumeOpen(const std::string& volume) = 0;
  virtual absl::Status OpenVolume(const std::string& volume) = 0;
  virtual absl::Status CloseVolume(const std::string& volume) = 0;
  virtual absl::Status RunHook(const std::string& path, const std::string& volume, const std::string& device) = 0;
  virtual absl::StatusOr<std::string> LuksUuid(const std::string& lv) = 0;
  virtual absl::StatusOr<bool> LvExists(const std::string& lv) = 0;
  virtual absl::Status CreateVolumeLv(const std::string& lv, uint64_t bytes) = 0;
  virtual absl::Status DeleteLv(const std::string& lv) = 0;
  // Read-only thin snapshot; an existing one is success.
  virtual absl::Status Snapshot(const std::string& origin, const std::string& name) = 0;
  // Snapshot names of `volume`, any point.
  virtual absl::StatusOr<std::vector<std::string>> Snapshots(const std::string& volume) = 0;
  virtual absl::StatusOr<uint64_t> ThinId(const std::string& lv) = 0;
  virtual absl::StatusOr<std::string> PoolMappings() = 0;  // thin_dump XML
  virtual std::string LvPath(const std::string& lv) = 0;
  virtual luks::KeyStore& keys() = 0;
};

std::unique_ptr<Host> NewSystemHost(migration::Host* host, volumes::Lvm* lvm);

}  // namespace volmigrate::sealing
