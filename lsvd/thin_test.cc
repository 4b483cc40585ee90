#include "lsvd/thin.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace volmigrate::lsvd {
namespace {

TEST(ThinDump, ParsesThinDumpOutput) {
  auto d = ParseThinDump(TestData("thin_dump.xml"));  // from thin_dump 0.9.0
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->block_sectors, 128u);
  ASSERT_EQ(d->devices.size(), 2u);
  EXPECT_EQ(d->devices[1], (std::vector<ThinRun>{{0, 0, 3}, {5, 3, 1}, {9, 10, 1}}));
  EXPECT_EQ(d->devices[2], (std::vector<ThinRun>{{0, 0, 2}, {2, 7, 1}, {6, 8, 1}}));
  EXPECT_FALSE(ParseThinDump("<device dev_id=\"1\">").ok());
}

TEST(ChangedRanges, SharedBlocksSkippedUnmappedBlocksZeroed) {
  auto d = *ParseThinDump(TestData("thin_dump.xml"));
  auto c = ChangedRanges(d.devices[1], d.devices[2], 128, 1 << 20);
  EXPECT_EQ(c, (std::vector<Change>{{256, 128, false}, {640, 128, true}, {768, 128, false}, {1152, 128, true}}));
}

TEST(ChangedRanges, FirstShipIsEveryMappedBlockClippedToTheDevice) {
  auto c = ChangedRanges({}, {{0, 5, 2}, {2, 9, 2}, {10, 1, 1}}, 8, 84);
  EXPECT_EQ(c, (std::vector<Change>{{0, 32, false}, {80, 4, false}}));
}

}  // namespace
}  // namespace volmigrate::lsvd
