// The volume's live map (which object holds each sector's latest data) and
// the split of changed ranges into objects of a bounded size.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "lsvd/format.h"

namespace volmigrate::lsvd {

class ExtentMap {
 public:
  ExtentMap() = default;
  explicit ExtentMap(const std::vector<MapEntry>& entries);

  // Replays one data object: its extents, in order, win over what was there.
  void Apply(const Header& data_object);
  // Sectors [lba, lba+sectors) now hold `e`'s data (or, erased, zeros).
  void Insert(const MapEntry& e);
  void Erase(uint64_t lba, uint64_t sectors);

  std::vector<MapEntry> Entries() const;
  uint64_t LiveSectors() const;

 private:
  std::map<uint64_t, MapEntry> m_;  // by lba; ranges never overlap
};

// A range of the device that changed since the last point: new data, or
// discarded (zero).
struct Change {
  uint64_t lba = 0;
  uint64_t sectors = 0;
  bool zero = false;
  bool operator==(const Change&) const = default;
};

// Splits changes (sorted, disjoint) into objects whose data is at most
// `object_bytes` (a multiple of the sector); CRCs are left for the uploader.
std::vector<std::vector<Extent>> PlanObjects(const std::vector<Change>& changes, uint64_t object_bytes);

}  // namespace volmigrate::lsvd
