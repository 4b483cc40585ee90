// What changed between two thin devices (a sealed snapshot and the one
// shipped before it): the blocks mapped to different data blocks, and the
// blocks the newer one no longer maps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lsvd/extents.h"
#include "volumes/thin.h"

namespace volmigrate::lsvd {

// Ranges (in sectors) where `now` differs from `before` (empty: nothing was
// shipped before). Blocks mapped in `before` but not `now` come out zero.
// Ranges past `device_sectors` are clipped.
std::vector<Change> ChangedRanges(const std::vector<volumes::ThinRun>& before, const std::vector<volumes::ThinRun>& now, uint64_t block_sectors,
                                  uint64_t device_sectors);

}  // namespace volmigrate::lsvd
