#include "volumes/thin.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace volmigrate::volumes {
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

}  // namespace volmigrate::volumes
