#include "dmutil/kmsg.h"

#include "common/files.h"
#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::dm {
namespace {

TEST(Kmsg, ParsesARecordAndDropsItsContinuationLines) {
  auto m = ParseKmsgRecord("3,812,95122334,-;device-mapper: clone: 254:8: hydration failed\n SUBSYSTEM=block\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->level, 3);
  EXPECT_EQ(m->seq, 812u);
  EXPECT_EQ(m->text, "device-mapper: clone: 254:8: hydration failed");
  // The facility is in the high bits: 6 | (3 << 3) is daemon.info.
  EXPECT_EQ(ParseKmsgRecord("30,1,2,-;x")->level, 6);
  EXPECT_FALSE(ParseKmsgRecord("no record here").has_value());
  EXPECT_FALSE(ParseKmsgRecord("x,1,2,-;text").has_value());
}

TEST(Kmsg, FirstErrorNamesTheDeviceAsAWholeWord) {
  std::vector<KernelMessage> log = {
      {3, 10, "device-mapper: clone: 254:80: hydration failed"},          // another device
      {6, 11, "device-mapper: clone: 254:8: something informational"},    // not an error
      {3, 12, "I/O error, dev sdbb, sector 2048 op 0x0:(READ)"},          // another disk
      {3, 13, "I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0"},
      {3, 14, "device-mapper: clone: 254:8: hydration failed"},
  };
  auto m = FirstErrorAbout(log, {"254:8", "sdb"}, 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->seq, 13u);
  EXPECT_EQ(FirstErrorAbout(log, {"254:8", "sdb"}, 14)->seq, 14u);  // older ones are before this migration
  EXPECT_FALSE(FirstErrorAbout(log, {"254:9", "sdc"}, 0).has_value());
  EXPECT_FALSE(FirstErrorAbout(log, {""}, 0).has_value());
}

TEST(Kmsg, ReadsEveryRecordOfALog) {
  // /dev/kmsg answers one record per read; a file of one record reads the same.
  std::string path = NewTempDir() + "/kmsg";
  ASSERT_TRUE(WriteFileAtomic(path, "3,5,100,-;I/O error, dev sdb, sector 8\n", 0600).ok());
  auto log = ReadKernelLog(path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].seq, 5u);
  EXPECT_FALSE(ReadKernelLog(path + ".missing").ok());
}

TEST(Kmsg, ReadsThisKernelsLog) {
  auto log = ReadKernelLog();
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_FALSE(log->empty());
  for (size_t i = 1; i < log->size(); ++i) EXPECT_LT((*log)[i - 1].seq, (*log)[i].seq);
}

}  // namespace
}  // namespace volmigrate::dm
