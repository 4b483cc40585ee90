#include "host/host.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"
#include "dmutil/busy.h"
#include "dmutil/kmsg.h"
#include "spdlog/spdlog.h"

namespace volmigrate::host {

std::string LiveDevice(const std::string& volume) { return "/dev/mapper/" + volume; }
std::string CloneName(const std::string& volume) { return volume + "-clone"; }
std::string CryptName(const std::string& volume) { return volume + "-crypt"; }

std::string MountPointOf(const std::string& mountinfo, unsigned major, unsigned minor) {
  const std::string want = absl::StrCat(major, ":", minor);
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 5 || f[2] != want) continue;
    // Spaces and the like are octal escapes (\040) in mountinfo.
    std::string out;
    for (size_t i = 0; i < f[4].size(); ++i) {
      if (f[4][i] == '\\' && i + 3 < f[4].size()) {
        out.push_back(static_cast<char>((f[4][i + 1] - '0') * 64 + (f[4][i + 2] - '0') * 8 + (f[4][i + 3] - '0')));
        i += 3;
      } else {
        out.push_back(f[4][i]);
      }
    }
    return out;
  }
  return "";
}

namespace {

class SystemHost final : public Host {
 public:
  SystemHost(Executor* ex, volumes::Lvm* lvm, luks::KeyStore* keys, std::unique_ptr<dm::DeviceMapper> dm,
             SystemHostOptions opts)
      : ex_(ex), lvm_(lvm), keys_(keys), dm_(std::move(dm)), opts_(std::move(opts)), tgt_(ex), initiator_(ex) {}

  absl::StatusOr<std::vector<volumes::LvRow>> ListLvs(const std::string& tag) override { return lvm_->List(tag); }
  absl::StatusOr<volumes::LvRow> GetLv(const std::string& name) override { return lvm_->Get(name); }
  absl::Status CreateLv(const std::string& name, uint64_t bytes, const std::string& tag) override {
    return lvm_->Create(name, bytes, tag);
  }
  absl::Status DeleteLv(const std::string& name) override { return lvm_->Delete(name); }
  absl::Status RetireLv(const std::string& name, const std::string& new_name) override {
    return lvm_->Retire(name, new_name);
  }
  absl::Status Snapshot(const std::string& origin, const std::string& name) override {
    return lvm_->Snapshot(origin, name);
  }
  absl::StatusOr<std::vector<std::string>> SealedSnapshots(const std::string& volume) override {
    return lvm_->SealedSnapshots(volume);
  }
  absl::StatusOr<uint64_t> BusyMillis(const std::string& path) override { return dm::IoTicks(path); }
  absl::StatusOr<dm::PoolSpace> PoolSpace() override {
    const std::string pool = lvm_->PoolDmName();
    ASSIGN_OR_RETURN(bool active, dm_->Exists(pool));
    if (!active) {
      ASSIGN_OR_RETURN(volumes::PoolUsage p, lvm_->Pool());
      return dm::PoolSpace{.free_bytes = p.free_bytes(), .total_bytes = p.size_bytes};
    }
    ASSIGN_OR_RETURN(std::vector<dm::Target> table, dm_->Table(pool));
    ASSIGN_OR_RETURN(std::vector<dm::Target> status, dm_->Status(pool, /*noflush=*/true));
    if (table.size() != 1 || status.size() != 1 || table[0].type != "thin-pool")
      return absl::InternalError(absl::StrCat(pool, " is not a thin pool"));
    return dm::ParsePoolSpace(table[0].params, status[0].params);
  }
  absl::StatusOr<volumes::ThinMap> Mappings(uint64_t thin_id) override { return lvm_->Mappings(thin_id); }
  std::string LvPath(const std::string& name) override { return lvm_->DevicePath(name); }

  absl::Status ZeroDevice(const std::string& path, uint64_t bytes) override {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", path));
    const std::string zeros(1 << 20, '\0');
    for (uint64_t off = 0; off < bytes;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), bytes - off));
      ssize_t w = ::pwrite(fd.get(), zeros.data(), n, static_cast<off_t>(off));
      if (w < 0) return ErrnoError(errno, absl::StrCat("zeroing ", path));
      off += static_cast<uint64_t>(w);
    }
    if (::fdatasync(fd.get()) != 0) return ErrnoError(errno, absl::StrCat("flushing ", path));
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> GetKey(const std::string& name) override { return keys_->Get(name); }
  absl::StatusOr<std::string> CreateKey(const std::string& name) override { return keys_->GetOrCreate(name); }
  absl::Status PutKey(const std::string& name, const std::string& key) override { return keys_->Put(name, key); }
  absl::Status DeleteKey(const std::string& name) override { return keys_->Delete(name); }

  absl::StatusOr<luks::Header> ReadHeader(const std::string& path) override { return luks::ReadHeader(path); }
  absl::Status Format(const std::string& path, const luks::Layout& layout, const std::string& key) override {
    return luks::Format(path, layout, key, opts_.pbkdf);
  }
  absl::Status OpenCrypt(const std::string& path, const std::string& name, const std::string& key,
                         const luks::OpenOptions& o) override {
    return luks::Open(path, name, key, o);
  }
  absl::Status CloseCrypt(const std::string& name) override { return luks::Close(name); }
  absl::StatusOr<uint64_t> DeviceBytes(const std::string& path) override { return volmigrate::DeviceBytes(path); }

  absl::StatusOr<bool> VolumeOpen(const std::string& volume) override { return dm_->Exists(volume); }

  absl::Status OpenVolume(const std::string& volume) override {
    ASSIGN_OR_RETURN(std::string key, keys_->Get(volume));
    return luks::Open(LvPath(volume), volume, key, {});
  }

  absl::Status CloseVolume(const std::string& volume) override {
    ASSIGN_OR_RETURN(bool live, dm_->Exists(volume));
    if (live) {
      ASSIGN_OR_RETURN(std::vector<dm::Target> table, dm_->Table(volume));
      bool crypt = !table.empty() && table[0].type == "crypt";
      absl::Status s = crypt ? luks::Close(volume) : dm_->Remove(volume);
      if (!s.ok()) return Annotate(s, absl::StrCat("closing ", LiveDevice(volume), " (is the consumer stopped?)"));
    }
    // Under it, what a migration here left: the clone's linear map onto the
    // LV, or (from an older worker) the LUKS2 mapping under a linear one.
    ASSIGN_OR_RETURN(bool crypt, dm_->Exists(CryptName(volume)));
    if (crypt) RETURN_IF_ERROR(luks::Close(CryptName(volume)));
    ASSIGN_OR_RETURN(bool clone, dm_->Exists(CloneName(volume)));
    if (clone) RETURN_IF_ERROR(dm_->Remove(CloneName(volume)));
    // The export reads the LV through its page cache: drop whatever an earlier
    // reader left there, so the destination sees what the volume last wrote.
    Fd fd(::open(LvPath(volume).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || ::ioctl(fd.get(), BLKFLSBUF, 0) != 0)
      return ErrnoError(errno, absl::StrCat("flushing the buffers of ", LvPath(volume)));
    return absl::OkStatus();
  }

  absl::StatusOr<bool> MappingExists(const std::string& name) override { return dm_->Exists(name); }
  absl::Status CreateMapping(const std::string& name, const std::vector<dm::Target>& table) override {
    return dm_->Create(name, table, /*readonly=*/false);
  }
  absl::StatusOr<std::vector<dm::Target>> MappingTable(const std::string& name) override { return dm_->Table(name); }
  absl::StatusOr<std::vector<dm::Target>> MappingStatus(const std::string& name, bool noflush) override {
    return dm_->Status(name, noflush);
  }
  absl::StatusOr<std::string> MessageMapping(const std::string& name, const std::string& message) override {
    return dm_->Message(name, message);
  }
  absl::Status RemoveMapping(const std::string& name) override { return dm_->Remove(name); }
  absl::Status SwapToLinear(const std::string& name, const std::string& device, uint64_t sectors) override {
    return dm::SwapToLinear(*dm_, name, device, sectors);
  }
  absl::Status Discard(const std::string& device, const std::vector<Extent>& extents) override {
    Fd fd(::open(device.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", device));
    for (const Extent& e : extents) {
      uint64_t range[2] = {e.start * 512, e.length * 512};
      if (::ioctl(fd.get(), BLKDISCARD, range) != 0)
        return ErrnoError(errno, absl::StrCat("discard ", e.start, "+", e.length, " sectors of ", device));
    }
    return absl::OkStatus();
  }

  absl::Status Export(const iscsi::ExportSpec& spec) override { return tgt_.Export(spec); }
  absl::Status Unexport(const std::string& iqn, const std::string& user) override { return tgt_.Remove(iqn, user); }
  absl::Status PrepareLogin(const iscsi::LoginSpec& spec) override { return initiator_.Prepare(spec); }
  absl::Status Login(const iscsi::LoginSpec& spec) override { return initiator_.Login(spec); }
  absl::Status Logout(const std::string& iqn, const std::string& portal) override {
    return initiator_.Logout(iqn, portal);
  }
  absl::StatusOr<std::string> WaitDevice(const std::string& iqn, absl::Duration timeout) override {
    return initiator_.WaitDevice(iqn, timeout);
  }
  absl::StatusOr<std::string> SessionState(const std::string& iqn) override { return initiator_.SessionState(iqn); }

  absl::StatusOr<iscsi::Disk> SourceDisk(const std::string& iqn) override { return initiator_.FindDisk(iqn); }
  absl::StatusOr<bool> ReviveDisk(const std::string& iqn) override { return initiator_.Revive(iqn); }

  absl::StatusOr<uint64_t> KernelLogNext() override {
    ASSIGN_OR_RETURN(std::vector<dm::KernelMessage> log, dm::ReadKernelLog());
    return log.empty() ? 0 : log.back().seq + 1;
  }

  absl::StatusOr<std::string> HydrationError(const std::string& name, const std::string& iqn,
                                             uint64_t from_seq) override {
    // dm names a device "major:minor" in its messages, the block layer "dm-N".
    std::vector<std::string> devices;
    struct stat sb;
    if (::stat(LiveDevice(name).c_str(), &sb) == 0) {
      devices.push_back(absl::StrCat(major(sb.st_rdev), ":", minor(sb.st_rdev)));
      devices.push_back(absl::StrCat("dm-", minor(sb.st_rdev)));
    }
    if (auto disk = initiator_.FindDisk(iqn); disk.ok()) devices.push_back(disk->name);
    ASSIGN_OR_RETURN(std::vector<dm::KernelMessage> log, dm::ReadKernelLog());
    if (!log.empty() && from_seq > log.back().seq + 1) from_seq = 0;  // rebooted since the mark
    std::optional<dm::KernelMessage> m = dm::FirstErrorAbout(log, devices, from_seq);
    return m ? m->text : std::string();
  }

  absl::Status RunHook(const std::string& path, const std::string& volume, const std::string& device) override {
    if (path.empty()) return absl::OkStatus();
    // A failing hook is retried with backoff (the operator sees the error and
    // may abort before boot); it must therefore be idempotent.
    absl::Time t0 = absl::Now();
    ASSIGN_OR_RETURN(ExecResult r, RunChecked(*ex_, {.argv = {path, volume, device}, .timeout = opts_.hook_timeout},
                                              absl::StatusCode::kUnavailable));
    spdlog::info("vol={} hook {} took {:.2f} s: {}", volume, path, absl::ToDoubleSeconds(absl::Now() - t0),
                 std::string(absl::StripAsciiWhitespace(r.out).substr(0, 200)));
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Trim(const std::string& device) override {
    struct stat st;
    if (::stat(device.c_str(), &st) != 0) return ErrnoError(errno, absl::StrCat("stat ", device));
    ASSIGN_OR_RETURN(std::string info, ReadFile(opts_.proc + "/self/mountinfo"));
    std::string mp = MountPointOf(info, major(st.st_rdev), minor(st.st_rdev));
    if (mp.empty()) return absl::NotFoundError(absl::StrCat(device, " is not mounted here"));
    ASSIGN_OR_RETURN(ExecResult r, RunChecked(*ex_, {.argv = {"fstrim", "-v", mp}, .timeout = absl::Minutes(10)}));
    // "/mnt: 240.6 MiB (252329984 bytes) trimmed"
    uint64_t bytes = 0;
    auto open = r.out.rfind('(');
    if (open != std::string::npos) {
      std::string num = r.out.substr(open + 1);
      num = num.substr(0, num.find(' '));
      if (!absl::SimpleAtoi(num, &bytes)) bytes = 0;
    }
    return bytes;
  }

 private:
  Executor* ex_;
  volumes::Lvm* lvm_;
  luks::KeyStore* keys_;
  std::unique_ptr<dm::DeviceMapper> dm_;
  SystemHostOptions opts_;
  iscsi::Tgt tgt_;
  iscsi::Initiator initiator_;
};

}  // namespace

std::unique_ptr<Host> NewSystemHost(Executor* ex, volumes::Lvm* lvm, luks::KeyStore* keys,
                                    std::unique_ptr<dm::DeviceMapper> dm, SystemHostOptions opts) {
  return std::make_unique<SystemHost>(ex, lvm, keys, std::move(dm), std::move(opts));
}

}  // namespace volmigrate::host
