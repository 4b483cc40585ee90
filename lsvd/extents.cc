#include "lsvd/extents.h"

#include <algorithm>

namespace volmigrate::lsvd {

ExtentMap::ExtentMap(const std::vector<MapEntry>& entries) {
  for (const MapEntry& e : entries) Insert(e);
}

void ExtentMap::Apply(const Header& h) {
  uint64_t off = h.header_bytes;
  for (const Extent& e : h.extents) {
    if (e.zero) {
      Erase(e.lba, e.sectors);
      continue;
    }
    Insert(MapEntry{.lba = e.lba, .sectors = e.sectors, .skip = 0, .object = h.seq, .offset = off,
                    .extent_sectors = e.sectors, .crc = e.crc});
    off += uint64_t{e.sectors} * kSector;
  }
}

void ExtentMap::Insert(const MapEntry& e) {
  Erase(e.lba, e.sectors);
  m_[e.lba] = e;
}

void ExtentMap::Erase(uint64_t lba, uint64_t sectors) {
  const uint64_t end = lba + sectors;
  auto it = m_.upper_bound(lba);
  if (it != m_.begin()) --it;
  while (it != m_.end() && it->first < end) {
    MapEntry cur = it->second;
    const uint64_t cur_end = cur.lba + cur.sectors;
    if (cur_end <= lba) {
      ++it;
      continue;
    }
    it = m_.erase(it);
    if (cur.lba < lba) {  // keep the head
      MapEntry head = cur;
      head.sectors = static_cast<uint32_t>(lba - cur.lba);
      m_[head.lba] = head;
    }
    if (cur_end > end) {  // keep the tail
      MapEntry tail = cur;
      tail.lba = end;
      tail.skip = static_cast<uint32_t>(cur.skip + (end - cur.lba));
      tail.sectors = static_cast<uint32_t>(cur_end - end);
      it = m_.emplace(tail.lba, tail).first;
      ++it;
    }
  }
}

std::vector<MapEntry> ExtentMap::Entries() const {
  std::vector<MapEntry> v;
  v.reserve(m_.size());
  for (const auto& [lba, e] : m_) v.push_back(e);
  return v;
}

uint64_t ExtentMap::LiveSectors() const {
  uint64_t n = 0;
  for (const auto& [lba, e] : m_) n += e.sectors;
  return n;
}

std::vector<std::vector<Extent>> PlanObjects(const std::vector<Change>& changes, uint64_t object_bytes) {
  const uint64_t cap = std::max<uint64_t>(object_bytes / kSector, 1);
  std::vector<std::vector<Extent>> objects(1);
  uint64_t used = 0;  // sectors of data in the current object
  for (const Change& c : changes) {
    if (c.zero) {
      // Zero extents take no data; split only to fit the 32-bit length.
      for (uint64_t done = 0; done < c.sectors;) {
        uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(c.sectors - done, 1u << 30));
        objects.back().push_back(Extent{.lba = c.lba + done, .sectors = n, .zero = true});
        done += n;
      }
      continue;
    }
    for (uint64_t done = 0; done < c.sectors;) {
      if (used == cap) {
        objects.emplace_back();
        used = 0;
      }
      uint64_t n = std::min(c.sectors - done, cap - used);
      objects.back().push_back(Extent{.lba = c.lba + done, .sectors = static_cast<uint32_t>(n)});
      used += n;
      done += n;
    }
  }
  if (objects.back().empty()) objects.pop_back();
  return objects;
}

}  // namespace volmigrate::lsvd
