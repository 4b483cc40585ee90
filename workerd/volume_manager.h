// A worker's volumes as the API shows them: an encrypted thin LV each (LUKS2
// on top, its passphrase in the key store). Composes volumes::Lvm, luks and the
// key store; knows nothing of RPC.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "luks/keystore.h"
#include "luks/luks.h"
#include "volmigrate/v1/volmigrate.pb.h"
#include "volumes/lvm.h"

namespace volmigrate::workerd {

class VolumeManager {
 public:
  VolumeManager(std::string worker, volumes::Lvm* lvm, luks::KeyStore* keys, luks::Pbkdf pbkdf)
      : worker_(std::move(worker)), lvm_(lvm), keys_(keys), pbkdf_(std::move(pbkdf)) {}

  // Thin LV, key, LUKS2 header: each step idempotent, so a retry after a crash
  // finishes what the first attempt started. size_bytes is the plaintext size.
  absl::StatusOr<v1::Volume> Create(const std::string& id, uint64_t size_bytes);
  // Every volume; one whose LUKS2 header cannot be read is listed as
  // UNREADABLE with the reason, not an error of the whole list.
  absl::StatusOr<std::vector<v1::Volume>> List();
  absl::StatusOr<v1::Volume> Get(const std::string& id);
  // Refused while the volume is open; removes the LV, then its key.
  absl::Status Delete(const std::string& id);

 private:
  absl::StatusOr<v1::Volume> Describe(const volumes::LvRow& lv);

  std::string worker_;
  volumes::Lvm* lvm_;
  luks::KeyStore* keys_;
  luks::Pbkdf pbkdf_;
};

}  // namespace volmigrate::workerd
