// SystemHost itself runs in tests/vm; here, the one parser it has.
#include "host/host.h"

#include "gtest/gtest.h"

namespace volmigrate::host {
namespace {

constexpr char kMountinfo[] =
    "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
    "35 22 254:3 / /mnt/vol-1 rw,relatime shared:12 - ext4 /dev/mapper/vol-1 rw\n"
    "36 22 254:5 / /mnt/with\\040space rw,relatime - ext4 /dev/mapper/vol-2 rw\n";

TEST(MountPointOf, FindsTheDeviceByMajorMinor) {
  EXPECT_EQ(MountPointOf(kMountinfo, 254, 3), "/mnt/vol-1");
  EXPECT_EQ(MountPointOf(kMountinfo, 254, 5), "/mnt/with space");  // octal escapes undone
  EXPECT_EQ(MountPointOf(kMountinfo, 254, 4), "");
  EXPECT_EQ(MountPointOf("", 254, 3), "");
}

TEST(Names, LiveDeviceAndCryptMapping) {
  EXPECT_EQ(LiveDevice("vol-1"), "/dev/mapper/vol-1");
  EXPECT_EQ(CryptName("vol-1"), "vol-1-crypt");
}

}  // namespace
}  // namespace volmigrate::host
