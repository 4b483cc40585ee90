// A volume's log in an object store: reading what is there (stopping at the
// first torn, foreign or missing object), writing a point's objects from a
// device, and restoring a point onto a device. No kernel: devices are file
// descriptors (a thin snapshot in production, a file in tests).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lsvd/extents.h"
#include "lsvd/format.h"
#include "objstore/store.h"

namespace volmigrate::lsvd {

// "<volume>/": every object of a volume's log lies under it.
std::string LogPrefix(const std::string& volume);

struct Point {  // one shipped, checkpointed state of the volume
  uint64_t point = 0;
  uint64_t checkpoint_seq = 0;  // restore "as of" this object
  uint64_t first_seq = 0;
  int64_t created_unix = 0;
  uint64_t volume_bytes = 0;
  uint64_t shipped_bytes = 0;  // data in this point's objects
  uint64_t live_bytes = 0;     // data the checkpoint maps
};

struct LogScan {
  std::vector<Header> objects;  // good, numbered 1..n without a gap
  std::vector<Point> points;
  std::string stopped;          // why the scan stopped early ("" when every object was good)
  uint64_t last_seq() const { return objects.empty() ? 0 : objects.back().seq; }
  const Header* LastCheckpoint() const;
  Uuid volume() const { return objects.empty() ? Uuid{} : objects.front().volume; }
};

// Reads every object's header (one ranged GET each) in sequence order.
absl::StatusOr<LogScan> ScanLog(objstore::ObjectStore& store, const std::string& prefix);

// The objects of one point, planned from its changes; numbering and contents
// are fixed by the plan, so an upload can be resumed or repeated.
struct PointPlan {
  std::string prefix;
  Uuid volume{};
  uint64_t point = 0;
  uint64_t first_seq = 0;
  uint64_t volume_bytes = 0;
  int64_t created_unix = 0;
  std::vector<std::vector<Extent>> objects;  // data object i is seq first_seq + i
  uint64_t checkpoint_seq() const { return first_seq + objects.size(); }
  uint64_t ObjectBytes(size_t i) const;   // size of data object i once encoded
  uint64_t DataBytes() const;
};

struct TransferOptions {
  int parallel = 4;
  int attempts = 5;  // per object
  absl::Duration backoff = absl::Milliseconds(200);
  std::function<void(uint64_t bytes)> on_bytes;  // called as objects finish (any thread)
};

// Which of the plan's data objects are in the store already (by name and size).
absl::StatusOr<std::vector<bool>> UploadedObjects(objstore::ObjectStore& store, const PointPlan& plan);

// Reads each listed data object's extents from `fd`, checksums them and
// uploads, `parallel` at once, each retried. Returns the bytes uploaded.
absl::StatusOr<uint64_t> UploadObjects(objstore::ObjectStore& store, const PointPlan& plan, int fd,
                                       const std::vector<size_t>& which, const TransferOptions& opts);

// The point's checkpoint: the previous checkpoint's map with this point's data
// objects replayed over it. Reads back and checks every data object's header.
absl::StatusOr<Header> WriteCheckpoint(objstore::ObjectStore& store, const PointPlan& plan,
                                       const std::vector<MapEntry>& previous_map);

// The extents a restore reads, grouped: each group is one stored extent and
// the live ranges taken from it.
struct ReadGroup {
  uint64_t object = 0;
  uint64_t offset = 0;
  uint32_t extent_sectors = 0;
  uint32_t crc = 0;
  std::vector<MapEntry> ranges;
};
std::vector<ReadGroup> GroupForRead(const std::vector<MapEntry>& map);

// Fetches, verifies and writes groups [begin, end) to `fd`. Returns bytes written.
absl::StatusOr<uint64_t> RestoreGroups(objstore::ObjectStore& store, const std::string& prefix,
                                       const std::vector<ReadGroup>& groups, size_t begin, size_t end, int fd,
                                       const TransferOptions& opts);

// Removes every object after `seq` (rolls the log back to it), newest first.
absl::Status TruncateLog(objstore::ObjectStore& store, const std::string& prefix, uint64_t seq);

}  // namespace volmigrate::lsvd
