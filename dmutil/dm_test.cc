// SwapToLinear against a recording fake; the real libdm path runs in tests/vm.
#include "dmutil/dm.h"

#include <unistd.h>

#include <cstdlib>
#include <map>

#include "gtest/gtest.h"

namespace volmigrate::dm {
namespace {

class FakeDm final : public DeviceMapper {
 public:
  std::map<std::string, std::vector<Target>> live, inactive;
  std::vector<std::string> calls;
  absl::Status fail_resume = absl::OkStatus();

  absl::Status Create(const std::string& n, const std::vector<Target>& t, bool) override {
    calls.push_back("create " + n);
    live[n] = t;
    return absl::OkStatus();
  }
  absl::Status Reload(const std::string& n, const std::vector<Target>& t) override {
    calls.push_back("reload " + n);
    inactive[n] = t;
    return absl::OkStatus();
  }
  absl::Status Suspend(const std::string& n) override {
    calls.push_back("suspend " + n);
    return absl::OkStatus();
  }
  absl::Status Resume(const std::string& n) override {
    calls.push_back("resume " + n);
    if (!fail_resume.ok()) return std::exchange(fail_resume, absl::OkStatus());
    if (inactive.count(n)) live[n] = inactive[n], inactive.erase(n);
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string& n) override {
    live.erase(n);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Exists(const std::string& n) override { return live.count(n) > 0; }
  absl::StatusOr<std::vector<Target>> Table(const std::string& n) override {
    if (!live.count(n)) return absl::NotFoundError(n);
    return live[n];
  }
  absl::StatusOr<std::vector<Target>> Status(const std::string& n, bool) override { return Table(n); }
  absl::StatusOr<std::string> Message(const std::string&, const std::string&) override { return ""; }
};

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
