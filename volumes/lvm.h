// A worker's volumes: thin LVs in one thin pool, driven through lvm2's
// command-line tools and their JSON reports (the supported interface).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/exec.h"
#include "dmutil/dm.h"
#include "volumes/thin.h"

namespace volmigrate::volumes {

struct LvRow {
  std::string name;
  uint64_t size_bytes = 0;
  std::string pool;  // thin pool of a thin LV; "" otherwise
  double data_percent = 0;
  double metadata_percent = 0;
  std::string attr;  // lv_attr, e.g. "Vwi-a-tz--"
  std::vector<std::string> tags;
  uint64_t thin_id = 0;  // the pool's device id of a thin LV
  bool active() const { return attr.size() > 4 && attr[4] == 'a'; }
  // Of a thin LV: the bytes its pool holds for it.
  uint64_t allocated_bytes() const { return static_cast<uint64_t>(static_cast<double>(size_bytes) * data_percent / 100.0); }
};

// `lvs --reportformat json --units b --nosuffix -o <kLvsFields> VG`
extern const char kLvsFields[];
absl::StatusOr<std::vector<LvRow>> ParseLvsJson(const std::string& json);

struct VgInfo {
  uint64_t extent_bytes = 0;
  uint64_t free_bytes = 0;
};
// `vgs --reportformat json --units b --nosuffix -o vg_extent_size,vg_free VG`
absl::StatusOr<VgInfo> ParseVgsJson(const std::string& json);

struct PoolUsage {
  uint64_t size_bytes = 0;
  double data_percent = 0;
  double metadata_percent = 0;
  uint64_t free_bytes() const {
    return static_cast<uint64_t>(static_cast<double>(size_bytes) * (100.0 - data_percent) / 100.0);
  }
};

struct LvmOptions {
  std::string volume_group;
  std::string thin_pool;
  double refuse_above_percent = 90;  // pool data or metadata use that refuses new volumes
};

// Tag on every LV this project made: volumes and clone metadata LVs are told
// apart from the pool and anything else in the VG by it.
inline constexpr char kVolumeTag[] = "volmigrate_volume";
inline constexpr char kRetiredTag[] = "volmigrate_retired";  // a source copy kept after migrating away
inline constexpr char kSealedTag[] = "volmigrate_sealed";    // a read-only snapshot of a sealed volume
inline constexpr char kScratchTag[] = "volmigrate_scratch";  // e.g. a dm-clone metadata LV

// "<volume>_p<point>": the read-only snapshot of a sealed volume at a point
// ('_' never appears in volume ids).
std::string SealedSnapshotName(const std::string& volume, uint64_t point);

// NotFound "no volume 'x' on worker w": what every call says of a volume
// that is not on this worker.
absl::Status NoVolume(const std::string& volume, const std::string& worker);

class Lvm {
 public:
  // With `dm`, messages to the pool go through libdevmapper (no process to
  // start: under emulation each costs a few hundred ms); dmsetup otherwise.
  Lvm(Executor* ex, LvmOptions opts, dm::DeviceMapper* dm = nullptr) : ex_(ex), o_(std::move(opts)), dm_(dm) {}

  // Thin LVs carrying `tag` (volumes by default).
  absl::StatusOr<std::vector<LvRow>> List(const std::string& tag = kVolumeTag);
  absl::StatusOr<LvRow> Get(const std::string& name);  // NotFound
  absl::StatusOr<PoolUsage> Pool();

  // Creates a thin LV of at least `size_bytes` (rounded up to whole extents),
  // active. Idempotent: an existing LV of that size is success; of another
  // size, AlreadyExists. A pool above the refusal threshold: ResourceExhausted,
  // and nothing is made.
  absl::Status Create(const std::string& name, uint64_t size_bytes, const std::string& tag = kVolumeTag);
  // A missing LV is success.
  absl::Status Delete(const std::string& name);
  // Grows only: a smaller size is FailedPrecondition, the same size success.
  absl::Status Resize(const std::string& name, uint64_t size_bytes);
  // Renames `name` to `new_name` and swaps kVolumeTag for kRetiredTag. Done
  // already (only `new_name` there): success.
  absl::Status Retire(const std::string& name, const std::string& new_name);

  // A read-only thin snapshot of `origin`, active, tagged kSealedTag only.
  // An existing `name` is success.
  absl::Status Snapshot(const std::string& origin, const std::string& name);
  // Names of `volume`'s sealed snapshots, any point.
  absl::StatusOr<std::vector<std::string>> SealedSnapshots(const std::string& volume);
  // thin_dump's XML of the pool's mappings, read from a metadata snapshot so
  // the live pool is not disturbed.
  // One at a time in this process: the pool holds one metadata snapshot.
  // With `dev_id`, of that thin device only: a pool's whole dump grows with
  // every volume it holds, and the migration takes its map in the blackout.
  absl::StatusOr<std::string> PoolMappings(std::optional<uint64_t> dev_id = std::nullopt);
  // The blocks the pool maps for its thin device `thin_id` (LvRow::thin_id),
  // from such a snapshot: every write completed before the call is in it.
  absl::StatusOr<ThinMap> Mappings(uint64_t thin_id);

  // The pool's device-mapper device ("<vg>-<pool>-tpool"), there while the pool is active.
  std::string PoolDmName() const;
  std::string DevicePath(const std::string& name) const { return "/dev/" + o_.volume_group + "/" + name; }
  const LvmOptions& options() const { return o_; }

 private:
  absl::StatusOr<std::vector<LvRow>> Lvs();
  absl::StatusOr<VgInfo> Vg();
  absl::StatusOr<uint64_t> ExtentBytes();
  Executor* ex_;
  LvmOptions o_;
  dm::DeviceMapper* dm_;
  std::atomic<uint64_t> extent_bytes_ = 0;  // 0 until read
};

}  // namespace volmigrate::volumes
