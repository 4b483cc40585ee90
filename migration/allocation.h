// Which parts of a volume's plaintext hold data on the source, from its thin
// pool's map, and what that makes of the clone's regions: the destination
// copies the regions that overlap data and marks the rest copied without
// reading them. Pure. Everything here errs towards copying: a region counts
// as holding data if any sector of it might.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "host/extent.h"
#include "volmigrate/v1/volmigrate.pb.h"
#include "volumes/thin.h"

namespace volmigrate::migration {

using host::Extent;  // here: in 512-byte sectors of the plaintext

// At most this many extents travel (about 160 KB): a 1 TiB volume fits one RPC.
inline constexpr size_t kMaxExtents = 16384;

// The plaintext extents the thin device maps, the LUKS2 header (the first
// `data_offset_sectors` of the device) cut off; sorted, merged, and coarsened
// to kMaxExtents by joining the closest neighbours.
std::vector<Extent> MappedExtents(const volumes::ThinMap& map, uint64_t data_offset_sectors,
                                  uint64_t plaintext_sectors);
// The extents it maps in the header area (the first `data_offset_sectors`),
// coarsened to kMaxHeaderExtents.
inline constexpr size_t kMaxHeaderExtents = 64;
std::vector<Extent> HeaderExtents(const volumes::ThinMap& map, uint64_t data_offset_sectors);

// A peer's map in sectors of the LUKS2 device, which the ciphertext clone
// covers: its header extents (the whole header area when it sent none), then
// its plaintext extents shifted past the header. Checked as FromProto does.
absl::StatusOr<std::vector<Extent>> DeviceExtents(const v1::AllocationMap& map, uint64_t data_offset_sectors,
                                                  uint64_t plaintext_sectors);

// Joins the extents separated by the smallest gaps until at most `max` remain.
void Coarsen(std::vector<Extent>& extents, size_t max);

uint64_t SectorsOf(const std::vector<Extent>& extents);

// The whole regions that overlap no extent: what the destination discards on
// the clone before anything reads or writes it (dm-clone then marks them
// hydrated). A region only partly free, and the short last region, are copied.
std::vector<Extent> FreeRegions(const std::vector<Extent>& mapped, uint64_t region_sectors, uint64_t sectors);

v1::AllocationMap ToProto(const std::vector<Extent>& extents, const std::vector<Extent>& header = {});
// A peer's map, checked: ascending, disjoint, non-empty, inside the volume, at
// most kMaxExtents. InvalidArgument otherwise.
absl::StatusOr<std::vector<Extent>> FromProto(const v1::AllocationMap& map, uint64_t plaintext_sectors);

}  // namespace volmigrate::migration
