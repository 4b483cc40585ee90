// What a thin pool has mapped, per thin device, from thin_dump's XML
// (thin-provisioning-tools). Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace volmigrate::volumes {

struct ThinRun {  // `length` blocks from origin block `origin`, at data block `data` onwards
  uint64_t origin = 0;
  uint64_t data = 0;
  uint64_t length = 0;
  bool operator==(const ThinRun&) const = default;
};

struct ThinDump {
  uint64_t block_sectors = 0;                        // the pool's data block size
  std::map<uint64_t, std::vector<ThinRun>> devices;  // dev_id -> runs, sorted by origin
};

// One thin device's mappings.
struct ThinMap {
  uint64_t block_sectors = 0;
  std::vector<ThinRun> runs;  // sorted by origin
};

absl::StatusOr<ThinDump> ParseThinDump(const std::string& xml);

}  // namespace volmigrate::volumes
