#include "migration/allocation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace volmigrate::migration {

namespace {

// The mapped sectors in [from, to), counted from `from`, sorted and merged.
std::vector<Extent> Clip(const volumes::ThinMap& map, uint64_t from, uint64_t to) {
  std::vector<Extent> out;
  for (const volumes::ThinRun& r : map.runs) {
    uint64_t a = r.origin * map.block_sectors, b = (r.origin + r.length) * map.block_sectors;
    a = std::max(a, from) - from;
    b = std::min(std::max(b, from), to) - from;
    if (a >= b) continue;
    if (!out.empty() && out.back().start + out.back().length >= a) {
      out.back().length = std::max(out.back().start + out.back().length, b) - out.back().start;
    } else {
      out.push_back({a, b - a});
    }
  }
  return out;
}

// Extents from two parallel repeated fields, checked: ascending, disjoint,
// non-empty, inside [0, limit), at most `max`.
absl::StatusOr<std::vector<Extent>> Checked(const google::protobuf::RepeatedField<uint64_t>& starts,
                                            const google::protobuf::RepeatedField<uint64_t>& lengths,
                                            uint64_t limit, size_t max, const char* what) {
  if (starts.size() != lengths.size())
    return absl::InvalidArgumentError(absl::StrCat("allocation map: as many ", what, " starts as lengths are needed"));
  if (static_cast<size_t>(starts.size()) > max)
    return absl::InvalidArgumentError(
        absl::StrCat("allocation map: ", starts.size(), " ", what, " extents (at most ", max, ")"));
  std::vector<Extent> out;
  uint64_t next = 0;
  for (int i = 0; i < starts.size(); ++i) {
    Extent e{starts[i], lengths[i]};
    if (e.length == 0 || e.start < next || e.start > limit || e.length > limit - e.start)
      return absl::InvalidArgumentError(absl::StrCat("allocation map: ", what, " extent ", i, " (", e.start, "+",
                                                     e.length, ") is empty, out of order or past the ", limit,
                                                     " sectors it may cover"));
    next = e.start + e.length;
    out.push_back(e);
  }
  return out;
}

}  // namespace

std::vector<Extent> MappedExtents(const volumes::ThinMap& map, uint64_t data_offset_sectors,
                                  uint64_t plaintext_sectors) {
  std::vector<Extent> out = Clip(map, data_offset_sectors, data_offset_sectors + plaintext_sectors);
  Coarsen(out, kMaxExtents);
  return out;
}

std::vector<Extent> HeaderExtents(const volumes::ThinMap& map, uint64_t data_offset_sectors) {
  std::vector<Extent> out = Clip(map, 0, data_offset_sectors);
  Coarsen(out, kMaxHeaderExtents);
  return out;
}

absl::StatusOr<std::vector<Extent>> DeviceExtents(const v1::AllocationMap& map, uint64_t data_offset_sectors,
                                                  uint64_t plaintext_sectors) {
  ASSIGN_OR_RETURN(std::vector<Extent> out, Checked(map.header_start_sectors(), map.header_length_sectors(),
                                                    data_offset_sectors, kMaxHeaderExtents, "header"));
  if (out.empty() && data_offset_sectors) out.push_back({0, data_offset_sectors});
  ASSIGN_OR_RETURN(std::vector<Extent> plain, FromProto(map, plaintext_sectors));
  for (const Extent& e : plain) {
    const uint64_t start = e.start + data_offset_sectors;
    if (!out.empty() && out.back().start + out.back().length == start) {
      out.back().length += e.length;
    } else {
      out.push_back({start, e.length});
    }
  }
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

std::vector<Extent> FreeRegions(const std::vector<Extent>& mapped, uint64_t region_sectors, uint64_t sectors) {
  std::vector<Extent> out;
  const uint64_t end = sectors / region_sectors * region_sectors;  // whole regions only
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

v1::AllocationMap ToProto(const std::vector<Extent>& extents, const std::vector<Extent>& header) {
  v1::AllocationMap m;
  for (const Extent& e : extents) {
    m.add_start_sectors(e.start);
    m.add_length_sectors(e.length);
  }
  for (const Extent& e : header) {
    m.add_header_start_sectors(e.start);
    m.add_header_length_sectors(e.length);
  }
  m.set_mapped_bytes(SectorsOf(extents) * 512);
  return m;
}

absl::StatusOr<std::vector<Extent>> FromProto(const v1::AllocationMap& map, uint64_t plaintext_sectors) {
  return Checked(map.start_sectors(), map.length_sectors(), plaintext_sectors, kMaxExtents, "plaintext");
}

}  // namespace volmigrate::migration
