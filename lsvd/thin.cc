#include "lsvd/thin.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace volmigrate::lsvd {

namespace {

// Per-block mapping function over sorted runs: data block of `b`, or none.
struct Cursor {
  const std::vector<volumes::ThinRun>& runs;
  size_t i = 0;
  // Advances to the run containing or after `b`.
  const volumes::ThinRun* At(uint64_t b) {
    while (i < runs.size() && runs[i].origin + runs[i].length <= b) ++i;
    return i < runs.size() ? &runs[i] : nullptr;
  }
};

}  // namespace

std::vector<Change> ChangedRanges(const std::vector<volumes::ThinRun>& before, const std::vector<volumes::ThinRun>& now, uint64_t block_sectors,
                                  uint64_t device_sectors) {
  // Walk the union of both runs' boundaries; within a piece both sides are
  // uniform (mapped with a fixed offset, or unmapped).
  std::vector<uint64_t> cuts;
  for (const auto* runs : {&before, &now}) {
    for (const volumes::ThinRun& r : *runs) {
      cuts.push_back(r.origin);
      cuts.push_back(r.origin + r.length);
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  Cursor a{before}, b{now};
  std::vector<Change> out;
  auto emit = [&](uint64_t from, uint64_t to, bool zero) {
    uint64_t lba = from * block_sectors, end = std::min(to * block_sectors, device_sectors);
    if (lba >= end) return;
    if (!out.empty() && out.back().zero == zero && out.back().lba + out.back().sectors == lba) {
      out.back().sectors += end - lba;
    } else {
      out.push_back(Change{lba, end - lba, zero});
    }
  };
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const uint64_t from = cuts[i], to = cuts[i + 1];
    const volumes::ThinRun* ra = a.At(from);
    const volumes::ThinRun* rb = b.At(from);
    const bool in_a = ra && ra->origin <= from;
    const bool in_b = rb && rb->origin <= from;
    if (in_b) {
      const bool same = in_a && (ra->data + (from - ra->origin)) == (rb->data + (from - rb->origin));
      if (!same) emit(from, to, false);
    } else if (in_a) {
      emit(from, to, true);
    }
  }
  return out;
}

}  // namespace volmigrate::lsvd
