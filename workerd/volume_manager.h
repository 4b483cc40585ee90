// A worker's volumes as the API shows them: an encrypted thin LV each (LUKS2
// on top, its passphrase in the key store), all through the host. Knows
// nothing of RPC.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "host/host.h"
#include "volmigrate/v1/volmigrate.pb.h"

namespace volmigrate::workerd {

class VolumeManager {
 public:
  VolumeManager(std::string worker, host::Host* host) : worker_(std::move(worker)), host_(host) {}

  // Thin LV, key, LUKS2 header: each step idempotent, so a retry after a crash
  // finishes what the first attempt started. size_bytes is the plaintext size.
  absl::StatusOr<v1::Volume> Create(const std::string& id, uint64_t size_bytes);
  // Every volume; one whose LUKS2 header cannot be read is listed as
  // UNREADABLE with the reason, not an error of the whole list.
  absl::StatusOr<std::vector<v1::Volume>> List();
  absl::StatusOr<v1::Volume> Get(const std::string& id);
  // Refused while the volume is open; removes its sealed snapshots, the LV,
  // then its key.
  absl::Status Delete(const std::string& id);

 private:
  absl::StatusOr<v1::Volume> Describe(const volumes::LvRow& lv);
  // Open as created here (the LUKS2 mapping is the live device) or as
  // migrated here (a linear map over <volume>-crypt).
  absl::StatusOr<bool> InUse(const std::string& id);

  std::string worker_;
  host::Host* host_;
};

}  // namespace volmigrate::workerd
