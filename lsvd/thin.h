// What a thin pool has allocated, from thin_dump's XML (thin-provisioning-tools),
// and what changed between two thin devices (a sealed snapshot and the one
// shipped before it): the blocks mapped to different data blocks, and the
// blocks the newer one no longer maps.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lsvd/extents.h"

namespace volmigrate::lsvd {

struct ThinRun {  // `length` blocks from origin block `origin`, at data block `data` onwards
  uint64_t origin = 0;
  uint64_t data = 0;
  uint64_t length = 0;
  bool operator==(const ThinRun&) const = default;
};

struct ThinDump {
  uint64_t block_sectors = 0;                 // the pool's data block size
  std::map<uint64_t, std::vector<ThinRun>> devices;  // dev_id -> runs, sorted by origin
};

absl::StatusOr<ThinDump> ParseThinDump(const std::string& xml);

// Ranges (in sectors) where `now` differs from `before` (empty: nothing was
// shipped before). Blocks mapped in `before` but not `now` come out zero.
// Ranges past `device_sectors` are clipped.
std::vector<Change> ChangedRanges(const std::vector<ThinRun>& before, const std::vector<ThinRun>& now, uint64_t block_sectors,
                                  uint64_t device_sectors);

}  // namespace volmigrate::lsvd
