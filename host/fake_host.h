// The one fake of host::Host, shared by every unit test above it. A world of
// files and sets, as the kernel would keep it:
//  - thin LVs are sparse files in a directory (LvPath), each with its map of
//    written 64 KiB blocks, so sealing and restoring move real bytes and the
//    allocation map comes from what was written;
//  - a "LUKS2 header" is a line at the start of its device (FakeHost::Header),
//    carrying the layout's UUID and data offset and the key that opens it, so
//    a restore that brought the wrong bytes back fails to open;
//  - device-mapper is dm::FakeDm (a dm-clone's hydration simulated); a LUKS2
//    mapping is a "crypt" device there;
//  - iSCSI exports and sessions, keys, hooks: sets and maps; the disk of a
//    session is the exported LV's file of whichever FakeHost exported it;
// Creating what exists differently is an error, as the real tools would turn
// it into a second export, session or device. FailNext makes a call fail once.
// Every call holds one lock: machines' steps run on several threads. Tests
// read and set the public fields while no step runs (the atomics any time).
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dmutil/fake_dm.h"
#include "host/host.h"

namespace volmigrate::host {

class FakeHost final : public Host {
 public:
  static constexpr uint64_t kBlockSectors = 128;  // the pool's data block
  static constexpr uint64_t kBlockBytes = kBlockSectors * 512;
  // Devices the fake does not model (an iSCSI disk, a linear map) measure this.
  static constexpr uint64_t kOtherDeviceBytes = 64u << 20;

  explicit FakeHost(std::string dir) : dir_(std::move(dir)) {}

  // The next call of `method` (its name, e.g. "Login") returns `s`; several
  // queued for one method fail its next calls in turn.
  void FailNext(const std::string& method, absl::Status s);

  // The header line Format writes at the start of a device.
  static std::string Header(const luks::Layout& layout, const std::string& key);
  // Writes whole blocks at `block` of `lv` and maps them, as a thin pool does.
  void WriteBlocks(const std::string& lv, uint64_t block, const std::string& bytes);
  // Maps `count` blocks from `block` without writing them (data the test
  // does not read).
  void MapBlocks(const std::string& lv, uint64_t block, uint64_t count);
  // Zeroes one block and unmaps it (a discard the pool passed down).
  void UnmapBlock(const std::string& lv, uint64_t block);
  std::string Bytes(const std::string& lv);

  std::map<std::string, volumes::LvRow> lvs;
  std::map<std::string, std::map<uint64_t, uint64_t>> blocks;  // LV -> its block -> pool data block
  std::map<std::string, std::string> keys;
  std::set<std::string> snapshots_made;  // every Snapshot call that made one
  dm::FakeDm dm;
  std::set<std::string> exports, sessions;
  int exports_created = 0, logins = 0, revived = 0;
  std::string disk_state = "running";        // of the source's disk over iSCSI
  std::atomic<int> refuse_logins = 0;        // the next logins are refused (the target is not there yet)
  std::vector<std::string> hooks;            // "path volume"; consecutive repeats (a replayed step) collapsed
  std::string fail_hook;                     // this hook fails every time
  std::vector<std::string> events;           // maps taken, discards, hooks: in order, repeats collapsed
  std::set<uint64_t> marked;                 // clone regions a discard marked hydrated
  std::atomic<uint64_t> pool_free = 10ull << 30;
  std::atomic<uint64_t> pool_size = 20ull << 30;
  std::atomic<int> pool_reads = 0;           // PoolSpace calls
  std::atomic<bool> consumer_busy = false;   // the device always has I/O in flight
  std::atomic<uint64_t> busy_ms = 0;
  std::atomic<bool> busy_unreadable = false;

  absl::StatusOr<std::vector<volumes::LvRow>> ListLvs(const std::string& tag) override;
  absl::StatusOr<volumes::LvRow> GetLv(const std::string& name) override;
  absl::Status CreateLv(const std::string& name, uint64_t bytes, const std::string& tag) override;
  absl::Status DeleteLv(const std::string& name) override;
  absl::Status RetireLv(const std::string& name, const std::string& new_name) override;
  absl::Status Snapshot(const std::string& origin, const std::string& name) override;
  absl::StatusOr<std::vector<std::string>> SealedSnapshots(const std::string& volume) override;
  absl::StatusOr<dm::PoolSpace> PoolSpace() override;
  absl::StatusOr<volumes::ThinMap> Mappings(uint64_t thin_id) override;
  std::string LvPath(const std::string& name) override { return dir_ + "/" + name; }
  absl::StatusOr<uint64_t> DeviceBytes(const std::string& path) override;
  absl::Status ZeroDevice(const std::string& path, uint64_t bytes) override;
  absl::Status Discard(const std::string& device, const std::vector<Extent>& extents) override;
  absl::StatusOr<uint64_t> BusyMillis(const std::string& path) override;
  absl::StatusOr<std::string> GetKey(const std::string& name) override;
  absl::StatusOr<std::string> CreateKey(const std::string& name) override;
  absl::Status PutKey(const std::string& name, const std::string& key) override;
  absl::Status DeleteKey(const std::string& name) override;
  absl::StatusOr<luks::Header> ReadHeader(const std::string& path) override;
  absl::Status Format(const std::string& path, const luks::Layout& layout, const std::string& key) override;
  absl::Status OpenCrypt(const std::string& path, const std::string& name, const std::string& key,
                         const luks::OpenOptions& opts) override;
  absl::Status CloseCrypt(const std::string& name) override;
  absl::StatusOr<bool> VolumeOpen(const std::string& volume) override;
  absl::Status OpenVolume(const std::string& volume) override;
  absl::Status CloseVolume(const std::string& volume) override;
  absl::StatusOr<bool> MappingExists(const std::string& name) override;
  absl::Status CreateMapping(const std::string& name, const std::vector<dm::Target>& table) override;
  absl::StatusOr<std::vector<dm::Target>> MappingTable(const std::string& name) override;
  absl::StatusOr<std::vector<dm::Target>> MappingStatus(const std::string& name, bool noflush) override;
  absl::StatusOr<std::string> MessageMapping(const std::string& name, const std::string& message) override;
  absl::Status RemoveMapping(const std::string& name) override;
  absl::Status SwapToLinear(const std::string& name, const std::string& device, uint64_t sectors) override;
  absl::Status Export(const iscsi::ExportSpec& spec) override;
  absl::Status Unexport(const std::string& iqn, const std::string& chap_user) override;
  absl::Status PrepareLogin(const iscsi::LoginSpec& spec) override;
  absl::Status Login(const iscsi::LoginSpec& spec) override;
  absl::Status Logout(const std::string& iqn, const std::string& portal) override;
  absl::StatusOr<std::string> WaitDevice(const std::string& iqn, absl::Duration timeout) override;
  absl::StatusOr<std::string> SessionState(const std::string& iqn) override;
  absl::StatusOr<iscsi::Disk> SourceDisk(const std::string& iqn) override;
  absl::StatusOr<bool> ReviveDisk(const std::string& iqn) override;
  absl::StatusOr<uint64_t> KernelLogNext() override;
  absl::StatusOr<std::string> HydrationError(const std::string& name, const std::string& iqn,
                                             uint64_t from_seq) override;
  absl::Status RunHook(const std::string& path, const std::string& volume, const std::string& device) override;
  absl::StatusOr<uint64_t> Trim(const std::string& device) override;

 private:
  absl::Status Take(const char* method);  // a queued failure of `method`, or OK
  void Event(const std::string& e);
  // The LV whose file `path` is; "" for any other device.
  std::string LvOf(const std::string& path) const;
  std::string FileUnder(const std::string& path);
  absl::StatusOr<luks::Header> HeaderOf(const std::string& path);

  const std::string dir_;
  std::recursive_mutex mu_;
  std::map<std::string, std::deque<absl::Status>> fail_;
  uint64_t next_thin_id_ = 1, next_data_block_ = 1000;
};

}  // namespace volmigrate::host
