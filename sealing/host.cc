#include "sealing/host.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace volmigrate::sealing {

namespace {

class SystemHost final : public Host {
 public:
  SystemHost(migration::Host* h, volumes::Lvm* lvm) : h_(h), lvm_(lvm) {}
  absl::StatusOr<bool> VolumeOpen(const std::string& v) override { return h_->VolumeOpen(v); }
  absl::Status OpenVolume(const std::string& v) override { return h_->OpenVolume(v); }
  absl::Status CloseVolume(const std::string& v) override { return h_->CloseVolume(v); }
  absl::Status RunHook(const std::string& p, const std::string& v, const std::string& d) override {
    return h_->RunHook(p, v, d);
  }
  absl::StatusOr<std::string> LuksUuid(const std::string& lv) override {
    ASSIGN_OR_RETURN(luks::Header hdr, h_->ReadHeader(h_->LvPath(lv)));
    return hdr.layout.uuid;
  }
  absl::StatusOr<bool> LvExists(const std::string& lv) override {
    auto r = lvm_->Get(lv);
    if (absl::IsNotFound(r.status())) return false;
    if (!r.ok()) return r.status();
    return true;
  }
  absl::Status CreateVolumeLv(const std::string& lv, uint64_t bytes) override {
    return h_->CreateLv(lv, bytes, volumes::kVolumeTag);
  }
  absl::Status DeleteLv(const std::string& lv) override { return h_->DeleteLv(lv); }
  absl::Status Snapshot(const std::string& origin, const std::string& name) override {
    return lvm_->Snapshot(origin, name);
  }
  absl::StatusOr<std::vector<std::string>> Snapshots(const std::string& volume) override {
    return lvm_->SealedSnapshots(volume);
  }
  absl::StatusOr<uint64_t> ThinId(const std::string& lv) override {
    ASSIGN_OR_RETURN(volumes::LvRow r, lvm_->Get(lv));
    return r.thin_id;
  }
  absl::StatusOr<std::string> PoolMappings() override { return lvm_->PoolMappings(); }
  std::string LvPath(const std::string& lv) override { return h_->LvPath(lv); }
  luks::KeyStore& keys() override { return h_->keys(); }

 private:
  migration::Host* h_;
  volumes::Lvm* lvm_;
};

}  // namespace

std::unique_ptr<Host> NewSystemHost(migration::Host* host, volumes::Lvm* lvm) {
  return std::make_unique<SystemHost>(host, lvm);
}

}  // namespace volmigrate::sealing
