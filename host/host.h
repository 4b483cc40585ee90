// The node as the machines and the volume API see it: the one interface
// through which anything above touches the kernel and its tools (thin LVs,
// keys, LUKS2, device-mapper, iSCSI, the kernel log, the consumer hooks).
// The real one (NewSystemHost) composes the kernel-facing modules; tests use
// the one fake of it (host/fake_host.h).
//
// Contracts, as a step re-run after a crash relies on them: every call that
// makes something succeeds when that thing is there already as asked (and
// says AlreadyExists when it is there otherwise); every call that removes
// something succeeds when it is gone. "NotFound" below is the only answer
// for a missing thing where a call says so.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/exec.h"
#include "dmutil/dm.h"
#include "dmutil/pool.h"
#include "host/extent.h"
#include "iscsi/initiator.h"
#include "iscsi/target.h"
#include "luks/keystore.h"
#include "luks/luks.h"
#include "volumes/lvm.h"

namespace volmigrate::host {

// The device a volume's consumer uses: /dev/mapper/<volume>, its LUKS2
// mapping. Where the volume arrived by migration it sits on <volume>-clone:
// dm-clone of the source's ciphertext until cut-over, a linear map onto the LV
// after (until the next reboot opens it on the LV itself). Volumes that
// arrived from a worker before the ciphertext clone have a linear map over
// the LUKS2 mapping <volume>-crypt instead.
std::string LiveDevice(const std::string& volume);
std::string CloneName(const std::string& volume);  // "<volume>-clone"
std::string CryptName(const std::string& volume);  // "<volume>-crypt"

class Host {
 public:
  virtual ~Host() = default;

  // ---- Thin LVs of the worker's pool ----
  // The LVs carrying `tag` (volumes::kVolumeTag, kRetiredTag, ...).
  virtual absl::StatusOr<std::vector<volumes::LvRow>> ListLvs(const std::string& tag) = 0;
  virtual absl::StatusOr<volumes::LvRow> GetLv(const std::string& name) = 0;  // NotFound
  // Of at least `bytes`, tagged `tag`, active. A pool above its refusal
  // threshold: ResourceExhausted, nothing made.
  virtual absl::Status CreateLv(const std::string& name, uint64_t bytes, const std::string& tag) = 0;
  virtual absl::Status DeleteLv(const std::string& name) = 0;
  // Renames the LV and swaps kVolumeTag for kRetiredTag: it leaves the
  // volumes. Only `new_name` there: success.
  virtual absl::Status RetireLv(const std::string& name, const std::string& new_name) = 0;
  // A read-only thin snapshot of `origin`, tagged kSealedTag only.
  virtual absl::Status Snapshot(const std::string& origin, const std::string& name) = 0;
  // The names of `volume`'s sealed snapshots (volumes::SealedSnapshotName), any point.
  virtual absl::StatusOr<std::vector<std::string>> SealedSnapshots(const std::string& volume) = 0;
  // The thin pool's free and total bytes from the kernel's count (an ioctl:
  // cheap enough for every poll, where lvs costs a process and seconds under
  // load), with whether it already ran out; from lvs while it is not active.
  virtual absl::StatusOr<dm::PoolSpace> PoolSpace() = 0;
  // The blocks the pool maps for thin device `thin_id` (LvRow::thin_id), from
  // a metadata snapshot: every write completed before the call is in it. A
  // device the pool does not know maps nothing.
  virtual absl::StatusOr<volumes::ThinMap> Mappings(uint64_t thin_id) = 0;
  virtual std::string LvPath(const std::string& name) = 0;  // its block device; pure

  // ---- Block devices ----
  virtual absl::StatusOr<uint64_t> DeviceBytes(const std::string& path) = 0;
  // Writes zeros over the first `bytes` and flushes them.
  virtual absl::Status ZeroDevice(const std::string& path, uint64_t bytes) = 0;
  // BLKDISCARD of each extent of `device`. On a dm-clone device it marks the
  // whole regions inside them hydrated without reading the source.
  virtual absl::Status Discard(const std::string& device, const std::vector<Extent>& extents) = 0;
  // Milliseconds the block device at `path` has had I/O in flight since it was
  // made (the kernel's io_ticks; read from sysfs, cheap); NotFound when absent.
  virtual absl::StatusOr<uint64_t> BusyMillis(const std::string& path) = 0;

  // ---- Volume keys (never logged) ----
  virtual absl::StatusOr<std::string> GetKey(const std::string& name) = 0;  // NotFound
  // The key of `name`, made (random) and kept durably first if there is none.
  virtual absl::StatusOr<std::string> CreateKey(const std::string& name) = 0;
  virtual absl::Status PutKey(const std::string& name, const std::string& key) = 0;  // replaces
  virtual absl::Status DeleteKey(const std::string& name) = 0;

  // ---- LUKS2 ----
  // InvalidArgument (or NotFound for a missing device) when `path` holds no
  // readable LUKS2 header.
  virtual absl::StatusOr<luks::Header> ReadHeader(const std::string& path) = 0;
  // A header of another data offset there already: AlreadyExists.
  virtual absl::Status Format(const std::string& path, const luks::Layout& layout, const std::string& key) = 0;
  // The mapping `name` over `path`; a wrong key is PermissionDenied.
  virtual absl::Status OpenCrypt(const std::string& path, const std::string& name, const std::string& key,
                                 const luks::OpenOptions& opts) = 0;
  virtual absl::Status CloseCrypt(const std::string& name) = 0;

  // ---- A volume's live device ----
  // Open: LiveDevice(volume) exists (the LUKS2 mapping, or the linear map of a
  // volume migrated here).
  virtual absl::StatusOr<bool> VolumeOpen(const std::string& volume) = 0;
  // Opens the volume's LUKS2 mapping with its key.
  virtual absl::Status OpenVolume(const std::string& volume) = 0;
  // Removes the live device with whatever stack a past migration left under
  // it, and drops the LV's page cache (an export reads through it).
  // FailedPrecondition-like errors name the consumer when it still holds it.
  virtual absl::Status CloseVolume(const std::string& volume) = 0;

  // ---- Device-mapper (dm-clone and the linear swap) ----
  virtual absl::StatusOr<bool> MappingExists(const std::string& name) = 0;
  // Read-write; the same table there is success, another AlreadyExists.
  virtual absl::Status CreateMapping(const std::string& name, const std::vector<dm::Target>& table) = 0;
  virtual absl::StatusOr<std::vector<dm::Target>> MappingTable(const std::string& name) = 0;  // NotFound
  // noflush: do not commit metadata (a dm-clone status query otherwise does).
  virtual absl::StatusOr<std::vector<dm::Target>> MappingStatus(const std::string& name, bool noflush) = 0;
  virtual absl::StatusOr<std::string> MessageMapping(const std::string& name, const std::string& message) = 0;
  virtual absl::Status RemoveMapping(const std::string& name) = 0;
  // Replaces the live table of `name` by a linear map onto `device` (its
  // users keep the node open): reload, suspend, resume.
  virtual absl::Status SwapToLinear(const std::string& name, const std::string& device, uint64_t sectors) = 0;

  // ---- iSCSI ----
  virtual absl::Status Export(const iscsi::ExportSpec& spec) = 0;
  virtual absl::Status Unexport(const std::string& iqn, const std::string& chap_user) = 0;
  // The node record (CHAP, timeouts) without logging in; Login makes it too if missing.
  virtual absl::Status PrepareLogin(const iscsi::LoginSpec& spec) = 0;
  // A refused login (no such target yet, bad CHAP) is PermissionDenied.
  virtual absl::Status Login(const iscsi::LoginSpec& spec) = 0;
  virtual absl::Status Logout(const std::string& iqn, const std::string& portal) = 0;
  // The session's block device once the kernel made it; DeadlineExceeded.
  virtual absl::StatusOr<std::string> WaitDevice(const std::string& iqn, absl::Duration timeout) = 0;
  // "" when there is no session to `iqn`; else the kernel's state of it ("LOGGED_IN", "FAILED", ...).
  virtual absl::StatusOr<std::string> SessionState(const std::string& iqn) = 0;
  // The session's disk and its SCSI state; NotFound when there is none.
  virtual absl::StatusOr<iscsi::Disk> SourceDisk(const std::string& iqn) = 0;
  // Sets the session's disk running again if the SCSI layer took it offline
  // (it stays so until told, even once the session is back); true when it did.
  virtual absl::StatusOr<bool> ReviveDisk(const std::string& iqn) = 0;

  // ---- The kernel's log ----
  // Where dm-clone reports a failed hydration (and retries it forever).
  // KernelLogNext: the sequence number the next message will get.
  // HydrationError: the first error-level message since `from_seq` about the
  // dm device `name` or the disk of the iSCSI session to `iqn`; "" if none.
  virtual absl::StatusOr<uint64_t> KernelLogNext() = 0;
  virtual absl::StatusOr<std::string> HydrationError(const std::string& name, const std::string& iqn,
                                                     uint64_t from_seq) = 0;

  // ---- The consumer ----
  // Runs the hook `path volume device` (idempotent by contract; its failure is
  // Unavailable). A hook path of "" does nothing.
  virtual absl::Status RunHook(const std::string& path, const std::string& volume, const std::string& device) = 0;
  // fstrim on the filesystem mounted from `device`: the bytes trimmed;
  // NotFound when it is not mounted.
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

}  // namespace volmigrate::host
