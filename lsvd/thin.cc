#include "lsvd/thin.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace volmigrate::lsvd {

namespace {

// The value of attribute `name` inside one tag's text.
absl::StatusOr<uint64_t> Attr(std::string_view tag, std::string_view name) {
  std::string key = absl::StrCat(" ", std::string(name), "=\"");
  size_t at = tag.find(key);
  if (at == std::string_view::npos) return absl::DataLossError(absl::StrCat("thin_dump: <", std::string(tag.substr(0, 20)), " has no ", std::string(name)));
  at += key.size();
  size_t end = tag.find('"', at);
  uint64_t v = 0;
  if (end == std::string_view::npos || !absl::SimpleAtoi(std::string(tag.substr(at, end - at)), &v)) {
    return absl::DataLossError(absl::StrCat("thin_dump: bad ", std::string(name)));
  }
  return v;
}

// Per-block mapping function over sorted runs: data block of `b`, or none.
struct Cursor {
  const std::vector<ThinRun>& runs;
  size_t i = 0;
  // Advances to the run containing or after `b`.
  const ThinRun* At(uint64_t b) {
    while (i < runs.size() && runs[i].origin + runs[i].length <= b) ++i;
    return i < runs.size() ? &runs[i] : nullptr;
  }
};

}  // namespace

absl::StatusOr<ThinDump> ParseThinDump(const std::string& xml) {
  ThinDump d;
  std::vector<ThinRun>* cur = nullptr;
  size_t pos = 0;
  bool superblock = false;
  while ((pos = xml.find('<', pos)) != std::string::npos) {
    size_t end = xml.find('>', pos);
    if (end == std::string::npos) return absl::DataLossError("thin_dump: unterminated tag");
    std::string_view tag(xml.data() + pos + 1, end - pos - 1);
    pos = end + 1;
    auto starts = [&](std::string_view name) {
      return tag.substr(0, name.size()) == name && tag.size() > name.size() && tag[name.size()] == ' ';
    };
    if (starts("superblock")) {
      auto bs = Attr(tag, "data_block_size");
      if (!bs.ok()) return bs.status();
      d.block_sectors = *bs;
      superblock = true;
    } else if (starts("device")) {
      auto id = Attr(tag, "dev_id");
      if (!id.ok()) return id.status();
      cur = &d.devices[*id];
    } else if (starts("range_mapping") || starts("single_mapping")) {
      if (cur == nullptr) return absl::DataLossError("thin_dump: mapping outside a device");
      const bool range = tag[0] == 'r';
      auto o = Attr(tag, range ? "origin_begin" : "origin_block");
      auto b = Attr(tag, range ? "data_begin" : "data_block");
      if (!o.ok()) return o.status();
      if (!b.ok()) return b.status();
      uint64_t len = 1;
      if (range) {
        auto l = Attr(tag, "length");
        if (!l.ok()) return l.status();
        len = *l;
      }
      cur->push_back(ThinRun{*o, *b, len});
    } else if (tag == "/device") {
      cur = nullptr;
    }
  }
  if (!superblock || d.block_sectors == 0) return absl::DataLossError("thin_dump: no superblock with a block size");
  for (auto& [id, runs] : d.devices) {
    std::sort(runs.begin(), runs.end(), [](const ThinRun& a, const ThinRun& b) { return a.origin < b.origin; });
  }
  return d;
}

std::vector<Change> ChangedRanges(const std::vector<ThinRun>& before, const std::vector<ThinRun>& now, uint64_t block_sectors,
                                  uint64_t device_sectors) {
  // Walk the union of both runs' boundaries; within a piece both sides are
  // uniform (mapped with a fixed offset, or unmapped).
  std::vector<uint64_t> cuts;
  for (const auto* runs : {&before, &now}) {
    for (const ThinRun& r : *runs) {
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
    const ThinRun* ra = a.At(from);
    const ThinRun* rb = b.At(from);
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
