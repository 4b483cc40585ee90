#include "lsvd/extents.h"

#include <gtest/gtest.h>

namespace volmigrate::lsvd {
namespace {

MapEntry E(uint64_t lba, uint32_t n, uint64_t obj, uint32_t skip = 0, uint32_t ext = 0) {
  return {.lba = lba, .sectors = n, .skip = skip, .object = obj, .offset = 100, .extent_sectors = ext ? ext : n, .crc = 1};
}

TEST(ExtentMap, LaterWritesWinAndSplit) {
  ExtentMap m;
  m.Insert(E(0, 100, 1));
  m.Insert(E(40, 10, 2));
  auto v = m.Entries();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], E(0, 40, 1, 0, 100));
  EXPECT_EQ(v[1], E(40, 10, 2));
  EXPECT_EQ(v[2], E(50, 50, 1, 50, 100));
  EXPECT_EQ(m.LiveSectors(), 100u);
}

TEST(ExtentMap, EraseAcrossEntries) {
  ExtentMap m;
  m.Insert(E(0, 10, 1));
  m.Insert(E(10, 10, 2));
  m.Insert(E(20, 10, 3));
  m.Erase(5, 20);
  auto v = m.Entries();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], E(0, 5, 1, 0, 10));
  EXPECT_EQ(v[1], E(25, 5, 3, 5, 10));
}

TEST(ExtentMap, ApplyReplaysADataObject) {
  ExtentMap m({E(0, 16, 1)});
  Header h{.kind = Kind::kData, .seq = 4, .header_bytes = 200};
  h.extents = {{.lba = 0, .sectors = 4, .crc = 9}, {.lba = 8, .sectors = 8, .zero = true}, {.lba = 32, .sectors = 2, .crc = 7}};
  m.Apply(h);
  auto v = m.Entries();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], (MapEntry{.lba = 0, .sectors = 4, .object = 4, .offset = 200, .extent_sectors = 4, .crc = 9}));
  EXPECT_EQ(v[1], E(4, 4, 1, 4, 16));
  EXPECT_EQ(v[2], (MapEntry{.lba = 32, .sectors = 2, .object = 4, .offset = 200 + 4 * kSector, .extent_sectors = 2, .crc = 7}));
}

TEST(PlanObjects, SplitsDataAtTheObjectSize) {
  auto p = PlanObjects({{0, 6, false}, {10, 4, true}, {20, 3, false}}, 4 * kSector);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], (std::vector<Extent>{{.lba = 0, .sectors = 4}}));
  EXPECT_EQ(p[1], (std::vector<Extent>{{.lba = 4, .sectors = 2}, {.lba = 10, .sectors = 4, .zero = true}, {.lba = 20, .sectors = 2}}));
  EXPECT_EQ(p[2], (std::vector<Extent>{{.lba = 22, .sectors = 1}}));
  EXPECT_TRUE(PlanObjects({}, 4096).empty());
}

}  // namespace
}  // namespace volmigrate::lsvd
