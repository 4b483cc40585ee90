#include "workerd/attach.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "admission/admission.h"
#include "common/status.h"
#include "volumes/lvm.h"

namespace volmigrate::workerd {
namespace {

// NotFound unless `volume` is one of this worker's volumes (not a retired
// copy or a snapshot of one).
absl::Status CheckVolume(migration::Env& env, const std::string& volume) {
  auto lv = env.host->GetLv(volume);
  if (absl::IsNotFound(lv.status())) return volumes::NoVolume(volume, env.worker);
  RETURN_IF_ERROR(lv.status());
  if (std::find(lv->tags.begin(), lv->tags.end(), volumes::kVolumeTag) == lv->tags.end())
    return volumes::NoVolume(volume, env.worker);
  return absl::OkStatus();
}

}  // namespace

absl::Status Attach(migration::Env& env, const std::string& volume) {
  ASSIGN_OR_RETURN(fsm::Lease lease, admission::Hold({env.store, env.host}, admission::Op::kAttach, volume));
  RETURN_IF_ERROR(CheckVolume(env, volume));
  // Open already (attached, or migrated here: a linear map over its LUKS2
  // mapping), the device is what the consumer uses.
  ASSIGN_OR_RETURN(bool open, env.host->VolumeOpen(volume));
  if (!open) RETURN_IF_ERROR(env.host->OpenVolume(volume));
  return env.host->RunHook(env.opts.consumer_start, volume, host::LiveDevice(volume));
}

absl::Status Detach(migration::Env& env, const std::string& volume) {
  ASSIGN_OR_RETURN(fsm::Lease lease, admission::Hold({env.store, env.host}, admission::Op::kDetach, volume));
  RETURN_IF_ERROR(CheckVolume(env, volume));
  ASSIGN_OR_RETURN(bool open, env.host->VolumeOpen(volume));
  if (!open) return absl::OkStatus();
  RETURN_IF_ERROR(env.host->RunHook(env.opts.consumer_stop, volume, host::LiveDevice(volume)));
  return env.host->CloseVolume(volume);
}

}  // namespace volmigrate::workerd
