#include "workerd/volume_manager.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "luks/api.h"
#include "migration/host.h"

namespace volmigrate::workerd {
namespace {

// The default LUKS2 data offset cryptsetup 2.6 chooses; new volumes state it
// explicitly so that every volume of the fleet has the same layout.
constexpr uint64_t kDataOffset = 16 * 1024 * 1024;

}  // namespace

absl::StatusOr<v1::Volume> VolumeManager::Describe(const volumes::LvRow& lv) {
  v1::Volume v;
  v.set_id(lv.name);
  v.set_worker(worker_);
  auto h = luks::ReadHeader(lvm_->DevicePath(lv.name));
  if (!h.ok()) {
    // Listed with the reason rather than failing the whole list: one volume
    // whose create was cut short must not hide the others.
    v.set_size_bytes(lv.size_bytes);
    v.set_state(v1::VOLUME_STATE_UNREADABLE);
    v.set_problem(absl::StrCat(h.status().message(), " (a create cut short? volume create with its size completes it; ",
                               "volume delete removes it)"));
    return v;
  }
  v.set_size_bytes(h->plaintext_bytes);
  *v.mutable_luks() = luks::ToApi(h->layout);
  // Open as created here (the LUKS2 mapping is the live device) or as migrated
  // here (a linear map over <volume>-crypt).
  auto open = luks::IsOpen(lv.name);
  auto under = luks::IsOpen(migration::CryptName(lv.name));
  bool in_use = (open.ok() && *open) || (under.ok() && *under);
  v.set_state(in_use ? v1::VOLUME_STATE_IN_USE : v1::VOLUME_STATE_AVAILABLE);
  if (!in_use) {
    ASSIGN_OR_RETURN(std::vector<std::string> snaps, lvm_->SealedSnapshots(lv.name));
    if (!snaps.empty()) v.set_state(v1::VOLUME_STATE_SEALED);
  }
  return v;
}

absl::StatusOr<v1::Volume> VolumeManager::Create(const std::string& id, uint64_t size_bytes) {
  RETURN_IF_ERROR(lvm_->Create(id, size_bytes + kDataOffset));
  ASSIGN_OR_RETURN(std::string key, keys_->GetOrCreate(id));
  luks::Layout layout;
  layout.data_offset = kDataOffset;
  layout.label = id;
  RETURN_IF_ERROR(luks::Format(lvm_->DevicePath(id), layout, key, pbkdf_));
  return Get(id);
}

absl::StatusOr<std::vector<v1::Volume>> VolumeManager::List() {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> lvs, lvm_->List());
  std::vector<v1::Volume> out;
  for (const auto& lv : lvs) {
    ASSIGN_OR_RETURN(v1::Volume v, Describe(lv));
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<v1::Volume> VolumeManager::Get(const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> lvs, lvm_->List());
  for (const auto& lv : lvs)
    if (lv.name == id) return Describe(lv);
  return volumes::NoVolume(id, worker_);
}

absl::Status VolumeManager::Delete(const std::string& id) {
  auto v = Get(id);
  if (!v.ok() && v.status().code() == absl::StatusCode::kNotFound) return v.status();
  for (const std::string& name : {id, migration::CryptName(id)}) {
    ASSIGN_OR_RETURN(bool open, luks::IsOpen(name));
    if (open) return absl::FailedPreconditionError(absl::StrCat("volume ", id, " is open (in use); close it first"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> snaps, lvm_->SealedSnapshots(id));
  for (const std::string& s : snaps) RETURN_IF_ERROR(lvm_->Delete(s));
  RETURN_IF_ERROR(lvm_->Delete(id));
  return keys_->Delete(id);
}

}  // namespace volmigrate::workerd
