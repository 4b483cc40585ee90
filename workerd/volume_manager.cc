#include "workerd/volume_manager.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "luks/api.h"

namespace volmigrate::workerd {
namespace {

// The default LUKS2 data offset cryptsetup 2.6 chooses; new volumes state it
// explicitly so that every volume of the fleet has the same layout.
constexpr uint64_t kDataOffset = 16 * 1024 * 1024;

}  // namespace

absl::StatusOr<bool> VolumeManager::InUse(const std::string& id) {
  ASSIGN_OR_RETURN(bool open, host_->MappingExists(id));
  if (open) return true;
  return host_->MappingExists(host::CryptName(id));
}

absl::StatusOr<v1::Volume> VolumeManager::Describe(const volumes::LvRow& lv) {
  v1::Volume v;
  v.set_id(lv.name);
  v.set_worker(worker_);
  auto h = host_->ReadHeader(host_->LvPath(lv.name));
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
  ASSIGN_OR_RETURN(bool in_use, InUse(lv.name));
  v.set_state(in_use ? v1::VOLUME_STATE_IN_USE : v1::VOLUME_STATE_AVAILABLE);
  if (!in_use) {
    ASSIGN_OR_RETURN(std::vector<std::string> snaps, host_->SealedSnapshots(lv.name));
    if (!snaps.empty()) v.set_state(v1::VOLUME_STATE_SEALED);
  }
  return v;
}

absl::StatusOr<v1::Volume> VolumeManager::Create(const std::string& id, uint64_t size_bytes) {
  RETURN_IF_ERROR(host_->CreateLv(id, size_bytes + kDataOffset, volumes::kVolumeTag));
  ASSIGN_OR_RETURN(std::string key, host_->CreateKey(id));
  luks::Layout layout;
  layout.data_offset = kDataOffset;
  layout.label = id;
  RETURN_IF_ERROR(host_->Format(host_->LvPath(id), layout, key));
  return Get(id);
}

absl::StatusOr<std::vector<v1::Volume>> VolumeManager::List() {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> lvs, host_->ListLvs(volumes::kVolumeTag));
  std::vector<v1::Volume> out;
  for (const auto& lv : lvs) {
    ASSIGN_OR_RETURN(v1::Volume v, Describe(lv));
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<v1::Volume> VolumeManager::Get(const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> lvs, host_->ListLvs(volumes::kVolumeTag));
  for (const auto& lv : lvs)
    if (lv.name == id) return Describe(lv);
  return volumes::NoVolume(id, worker_);
}

absl::Status VolumeManager::Delete(const std::string& id) {
  auto v = Get(id);
  if (!v.ok() && v.status().code() == absl::StatusCode::kNotFound) return v.status();
  ASSIGN_OR_RETURN(bool open, InUse(id));
  if (open) return absl::FailedPreconditionError(absl::StrCat("volume ", id, " is open (in use); close it first"));
  ASSIGN_OR_RETURN(std::vector<std::string> snaps, host_->SealedSnapshots(id));
  for (const std::string& s : snaps) RETURN_IF_ERROR(host_->DeleteLv(s));
  RETURN_IF_ERROR(host_->DeleteLv(id));
  return host_->DeleteKey(id);
}

}  // namespace volmigrate::workerd
