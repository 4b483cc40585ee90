#include "migration/allocation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace volmigrate::migration {

std::vector<Extent> MappedExtents(const volumes::ThinMap& map, uint64_t data_offset_sectors,
                                  uint64_t plaintext_sectors) {
  std::vector<Extent> out;
  for (const volumes::ThinRun& r : map.runs) {
    uint64_t from = r.origin * map.block_sectors, to = (r.origin + r.length) * map.block_sectors;
    from = std::max(from, data_offset_sectors) - data_offset_sectors;
    to = std::min(std::max(to, data_offset_sectors) - data_offset_sectors, plaintext_sectors);
    if (from >= to) continue;
    if (!out.empty() && out.back().start + out.back().length >= from) {
      out.back().length = std::max(out.back().start + out.back().length, to) - out.back().start;
    } else {
      out.push_back({from, to - from});
    }
  }
  Coarsen(out, kMaxExtents);
  return out;
}

void Coarsen(std::vector<Extent>& extents, size_t max) {
  if (extents.size() <= max || extents.empty()) return;
  std::vector<uint64_t> gaps;
  for (size_t i = 1; i < extents.size(); ++i)
    gaps.push_back(extents[i].start - (extents[i - 1].start + extents[i - 1].length));
  // Joining every gap up to the (n - max)th smallest leaves at most max.
  const size_t joins = extents.size() - std::max<size_t>(max, 1);
  std::nth_element(gaps.begin(), gaps.begin() + static_cast<long>(joins - 1), gaps.end());
  const uint64_t limit = gaps[joins - 1];
  std::vector<Extent> out{extents[0]};
  for (size_t i = 1; i < extents.size(); ++i) {
    Extent& last = out.back();
    if (extents[i].start - (last.start + last.length) <= limit) {
      last.length = extents[i].start + extents[i].length - last.start;
    } else {
      out.push_back(extents[i]);
    }
  }
  extents = std::move(out);
}

uint64_t SectorsOf(const std::vector<Extent>& extents) {
  uint64_t n = 0;
  for (const Extent& e : extents) n += e.length;
  return n;
}

std::vector<Extent> FreeRegions(const std::vector<Extent>& mapped, uint64_t region_sectors,
                                uint64_t plaintext_sectors) {
  std::vector<Extent> out;
  const uint64_t end = plaintext_sectors / region_sectors * region_sectors;  // whole regions only
  uint64_t at = 0;
  auto gap = [&](uint64_t from, uint64_t to) {
    from = (from + region_sectors - 1) / region_sectors * region_sectors;
    to = std::min(to, end) / region_sectors * region_sectors;
    if (from < to) out.push_back({from, to - from});
  };
  for (const Extent& e : mapped) {
    gap(at, e.start);
    at = e.start + e.length;
  }
  gap(at, end);
  return out;
}

v1::AllocationMap ToProto(const std::vector<Extent>& extents) {
  v1::AllocationMap m;
  for (const Extent& e : extents) {
    m.add_start_sectors(e.start);
    m.add_length_sectors(e.length);
  }
  m.set_mapped_bytes(SectorsOf(extents) * 512);
  return m;
}

absl::StatusOr<std::vector<Extent>> FromProto(const v1::AllocationMap& map, uint64_t plaintext_sectors) {
  if (map.start_sectors_size() != map.length_sectors_size())
    return absl::InvalidArgumentError("allocation map: as many starts as lengths are needed");
  if (static_cast<size_t>(map.start_sectors_size()) > kMaxExtents)
    return absl::InvalidArgumentError(
        absl::StrCat("allocation map: ", map.start_sectors_size(), " extents (at most ", kMaxExtents, ")"));
  std::vector<Extent> out;
  uint64_t next = 0;
  for (int i = 0; i < map.start_sectors_size(); ++i) {
    Extent e{map.start_sectors(i), map.length_sectors(i)};
    if (e.length == 0 || e.start < next || e.start > plaintext_sectors || e.length > plaintext_sectors - e.start)
      return absl::InvalidArgumentError(absl::StrCat("allocation map: extent ", i, " (", e.start, "+", e.length,
                                                     ") is empty, out of order or past the volume's ",
                                                     plaintext_sectors, " sectors"));
    next = e.start + e.length;
    out.push_back(e);
  }
  return out;
}

}  // namespace volmigrate::migration
