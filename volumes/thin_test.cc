#include "volumes/thin.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace volmigrate::volumes {
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

}  // namespace
}  // namespace volmigrate::volumes
