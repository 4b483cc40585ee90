#include "dmutil/busy.h"

#include <gtest/gtest.h>

namespace volmigrate::dm {
namespace {

TEST(IoTicks, TenthFieldOfTheStatLine) {
  // A dm-clone device's stat in a guest: reads, merges, sectors, ticks;
  // the same for writes; in flight; io_ticks; time in queue; then discards
  // and flushes (kernels since 4.18 and 5.5).
  auto t = ParseIoTicks("    1790        0    14320      412      260        0     2080     3716        1     4120     4128"
                        "        0        0        0        0        0        0\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, 4120u);
  EXPECT_FALSE(ParseIoTicks("").ok());
  EXPECT_FALSE(ParseIoTicks("1 2 3 4 5 6 7 8 9").ok());
  EXPECT_FALSE(ParseIoTicks("1 2 3 4 5 6 7 8 9 x 11").ok());
}

TEST(IoTicks, MissingDeviceIsNotFound) {
  EXPECT_EQ(IoTicks("/dev/mapper/no-such-volmigrate-device").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(IoTicks("/proc/self/stat").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace volmigrate::dm
