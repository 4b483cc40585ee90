// What the migration machines do to their host, as one narrow interface: the
// real one composes the kernel-facing modules (lvm, luks, dm, tgt, open-iscsi,
// the consumer hooks); the unit tests give a fake world to check the machines'
// logic. Every call is idempotent, so a step re-run after a crash finds the
// state the kernel already has and completes it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/exec.h"
#include "dmutil/clone.h"
#include "dmutil/dm.h"
#include "dmutil/pool.h"
#include "iscsi/initiator.h"
#include "iscsi/target.h"
#include "luks/keystore.h"
#include "luks/luks.h"
#include "migration/allocation.h"
#include "volumes/lvm.h"

namespace volmigrate::migration {

// The device a volume's consumer uses: /dev/mapper/<volume>. On a worker where
// the volume was created it is the LUKS2 mapping itself; where it arrived by
// migration it is a linear map over the LUKS2 mapping <volume>-crypt.
std::string LiveDevice(const std::string& volume);
std::string CryptName(const std::string& volume);  // "<volume>-crypt"

class Host {
 public:
  virtual ~Host() = default;

  // Volumes (thin LVs).
  virtual absl::StatusOr<std::vector<volumes::LvRow>> ListVolumes() = 0;
  virtual absl::StatusOr<volumes::LvRow> GetLv(const std::string& name) = 0;  // NotFound
  virtual absl::Status CreateLv(const std::string& name, uint64_t bytes, const std::string& tag) = 0;
  virtual absl::Status DeleteLv(const std::string& name) = 0;
  // Renames the LV and swaps its tag: it leaves the list of volumes.
  virtual absl::Status RetireLv(const std::string& name, const std::string& new_name) = 0;
  // The LVs RetireLv made (tagged retired), still here.
  virtual absl::StatusOr<std::vector<volumes::LvRow>> ListRetired() = 0;
  // The thin pool's free and total bytes from the kernel's count (an ioctl:
  // cheap enough for every poll, where lvs costs a process and seconds under
  // load), with whether it already ran out; from lvs while it is not active.
  virtual absl::StatusOr<dm::PoolSpace> PoolSpace() = 0;
  // Milliseconds the block device at `path` has had I/O in flight since it was
  // made (the kernel's io_ticks; read from sysfs, cheap); NotFound when absent.
  virtual absl::StatusOr<uint64_t> BusyMillis(const std::string& path) = 0;
  // The blocks the pool maps for thin device `thin_id` (LvRow::thin_id), from
  // a metadata snapshot: every write completed before the call is in it.
  virtual absl::StatusOr<volumes::ThinMap> Mappings(uint64_t thin_id) = 0;
  virtual std::string LvPath(const std::string& name) = 0;
  virtual absl::Status ZeroDevice(const std::string& path, uint64_t bytes) = 0;

  // Keys.
  virtual luks::KeyStore& keys() = 0;

  // LUKS2.
  virtual absl::StatusOr<luks::Header> ReadHeader(const std::string& path) = 0;
  virtual absl::Status Format(const std::string& path, const luks::Layout& layout, const std::string& key) = 0;
  virtual absl::Status OpenCrypt(const std::string& path, const std::string& name, const std::string& key,
                                 const luks::OpenOptions& opts) = 0;
  virtual absl::Status CloseCrypt(const std::string& name) = 0;
  virtual absl::StatusOr<uint64_t> DeviceBytes(const std::string& path) = 0;

  // The volume's live device: open (the plain LUKS2 mapping) and closed (with
  // whatever stack a past migration left under it).
  virtual absl::StatusOr<bool> VolumeOpen(const std::string& volume) = 0;
  virtual absl::Status OpenVolume(const std::string& volume) = 0;
  virtual absl::Status CloseVolume(const std::string& volume) = 0;

  // Device-mapper (dm-clone and the linear swap).
  virtual dm::DeviceMapper& dm() = 0;
  // BLKDISCARD of each extent of `device`. On a dm-clone device it marks the
  // whole regions inside them hydrated without reading the source. Idempotent.
  virtual absl::Status Discard(const std::string& device, const std::vector<Extent>& extents) = 0;

  // iSCSI.
  virtual absl::Status Export(const iscsi::ExportSpec& spec) = 0;
  virtual absl::Status Unexport(const std::string& iqn, const std::string& chap_user) = 0;
  // The node record (CHAP, timeouts) without logging in; Login makes it too if missing.
  virtual absl::Status PrepareLogin(const iscsi::LoginSpec& spec) = 0;
  virtual absl::Status Login(const iscsi::LoginSpec& spec) = 0;
  virtual absl::Status Logout(const std::string& iqn, const std::string& portal) = 0;
  virtual absl::StatusOr<std::string> WaitDevice(const std::string& iqn, absl::Duration timeout) = 0;
  // "" when there is no session to `iqn`; else the kernel's state of it ("LOGGED_IN", "FAILED", ...).
  virtual absl::StatusOr<std::string> SessionState(const std::string& iqn) = 0;
  // The session's disk and its SCSI state; NotFound when there is none.
  virtual absl::StatusOr<iscsi::Disk> SourceDisk(const std::string& iqn) = 0;
  // Sets the session's disk running again if the SCSI layer took it offline
  // (it stays so until told, even once the session is back); true when it did.
  virtual absl::StatusOr<bool> ReviveDisk(const std::string& iqn) = 0;

  // The kernel's log, where dm-clone reports a failed hydration (and retries
  // it forever). KernelLogNext: the sequence number the next message will get.
  // HydrationError: the first error-level message since `from_seq` about the
  // dm device `name` or the disk of the iSCSI session to `iqn`; "" if none.
  virtual absl::StatusOr<uint64_t> KernelLogNext() = 0;
  virtual absl::StatusOr<std::string> HydrationError(const std::string& name, const std::string& iqn,
                                                     uint64_t from_seq) = 0;

  // The consumer hook: `path volume device`. A hook path of "" does nothing.
  virtual absl::Status RunHook(const std::string& path, const std::string& volume, const std::string& device) = 0;
  // fstrim on the filesystem mounted from `device`; NotFound when it is not mounted.
  virtual absl::StatusOr<uint64_t> Trim(const std::string& device) = 0;
};

struct SystemHostOptions {
  luks::Pbkdf pbkdf;
  absl::Duration hook_timeout = absl::Minutes(2);
  std::string proc = "/proc";  // where mountinfo is read from
};

// The real host: lvm2, libcryptsetup, libdevmapper, tgt, open-iscsi.
std::unique_ptr<Host> NewSystemHost(Executor* ex, volumes::Lvm* lvm, luks::KeyStore* keys,
                                    std::unique_ptr<dm::DeviceMapper> dm, SystemHostOptions opts);

// The mount point of the filesystem on block device major:minor, from
// /proc/self/mountinfo's text; "" when it is not mounted.
std::string MountPointOf(const std::string& mountinfo, unsigned major, unsigned minor);

}  // namespace volmigrate::migration
