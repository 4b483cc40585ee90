#include "lsvd/thin.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace volmigrate::lsvd {
namespace {

TEST(ChangedRanges, SharedBlocksSkippedUnmappedBlocksZeroed) {
  auto d = *volumes::ParseThinDump(TestData("thin_dump.xml"));
  auto c = ChangedRanges(d.devices[1], d.devices[2], 128, 1 << 20);
  EXPECT_EQ(c, (std::vector<Change>{{256, 128, false}, {640, 128, true}, {768, 128, false}, {1152, 128, true}}));
}

TEST(ChangedRanges, FirstShipIsEveryMappedBlockClippedToTheDevice) {
  auto c = ChangedRanges({}, {{0, 5, 2}, {2, 9, 2}, {10, 1, 1}}, 8, 84);
  EXPECT_EQ(c, (std::vector<Change>{{0, 32, false}, {80, 4, false}}));
}

}  // namespace
}  // namespace volmigrate::lsvd
