// SwapToLinear against the recording fake; the real libdm path runs in tests/vm.
#include "dmutil/dm.h"

#include <unistd.h>

#include <cstdlib>
#include <map>

#include "dmutil/fake_dm.h"
#include "gtest/gtest.h"

namespace volmigrate::dm {
namespace {

TEST(SwapToLinear, ReloadsSuspendsResumes) {
  FakeDm dm;
  dm.live["vol-1"] = {{0, 1000, "clone", "a b c 128"}};
  ASSERT_TRUE(SwapToLinear(dm, "vol-1", "/dev/mapper/vol-1-dst", 1000).ok());
  EXPECT_EQ(dm.live["vol-1"], (std::vector<Target>{{0, 1000, "linear", "/dev/mapper/vol-1-dst 0"}}));
  EXPECT_EQ(dm.calls, (std::vector<std::string>{"reload vol-1", "suspend vol-1", "resume vol-1"}));
}

TEST(SwapToLinear, RetryAfterAFailedResumeFinishesTheSwap) {
  FakeDm dm;
  dm.live["vol-1"] = {{0, 1000, "clone", "a b c 128"}};
  dm.fail_resume = absl::UnavailableError("resume interrupted");
  EXPECT_FALSE(SwapToLinear(dm, "vol-1", "/dev/x", 1000).ok());
  EXPECT_EQ(dm.live["vol-1"][0].type, "clone");
  ASSERT_TRUE(SwapToLinear(dm, "vol-1", "/dev/x", 1000).ok());
  EXPECT_EQ(dm.live["vol-1"][0].type, "linear");
  dm.calls.clear();
  ASSERT_TRUE(SwapToLinear(dm, "vol-1", "/dev/x", 1000).ok());  // already swapped: nothing to do
  EXPECT_TRUE(dm.calls.empty());
}

}  // namespace
}  // namespace volmigrate::dm
