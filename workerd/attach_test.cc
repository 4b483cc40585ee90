// Attach and detach on the fake host: idempotent, refused while the volume is
// held or sealed, and a power cut between their halves is finished by the
// same call again.
#include "workerd/attach.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "fsm/store.h"
#include "host/fake_host.h"

namespace volmigrate::workerd {
namespace {

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *fsm::Store::Open(NewTempDir() + "/state");
    env_.worker = "w1";
    env_.opts.consumer_start = "/start";
    env_.opts.consumer_stop = "/stop";
    env_.host = &host_;
    env_.store = store_.get();
    ASSERT_TRUE(host_.CreateLv("vol-1", 32 << 20, volumes::kVolumeTag).ok());
    ASSERT_TRUE(host_.Format(host_.LvPath("vol-1"), {}, "k").ok());
    host_.keys["vol-1"] = "k";
  }
  host::FakeHost host_{NewTempDir()};
  std::unique_ptr<fsm::Store> store_;
  migration::Env env_;
};

TEST_F(AttachTest, AttachOpensThenStartsAndDetachStopsThenCloses) {
  ASSERT_TRUE(Attach(env_, "vol-1").ok());
  ASSERT_TRUE(Attach(env_, "vol-1").ok());
  EXPECT_TRUE(*host_.VolumeOpen("vol-1"));
  EXPECT_EQ(host_.events, (std::vector<std::string>{"/start vol-1"}));
  ASSERT_TRUE(Detach(env_, "vol-1").ok());
  ASSERT_TRUE(Detach(env_, "vol-1").ok());
  EXPECT_FALSE(*host_.VolumeOpen("vol-1"));
  EXPECT_EQ(host_.events, (std::vector<std::string>{"/start vol-1", "/stop vol-1"}));
}

TEST_F(AttachTest, ACutBetweenTheHalvesIsFinishedByTheSameCall) {
  host_.FailNext("RunHook", absl::UnavailableError("power cut"));
  EXPECT_FALSE(Attach(env_, "vol-1").ok());
  EXPECT_TRUE(*host_.VolumeOpen("vol-1"));  // opened, consumer not started
  ASSERT_TRUE(Attach(env_, "vol-1").ok());
  EXPECT_EQ(host_.hooks, (std::vector<std::string>{"/start vol-1"}));
  host_.FailNext("CloseVolume", absl::UnavailableError("power cut"));
  EXPECT_FALSE(Detach(env_, "vol-1").ok());
  EXPECT_TRUE(*host_.VolumeOpen("vol-1"));  // consumer stopped, still open
  ASSERT_TRUE(Detach(env_, "vol-1").ok());
  EXPECT_FALSE(*host_.VolumeOpen("vol-1"));
}

TEST_F(AttachTest, RefusedWhileHeldSealedOrNotAVolume) {
  {
    auto lease = store_->Hold("vol-1", "a delete request");
    ASSERT_TRUE(lease.ok());
    absl::Status s = Attach(env_, "vol-1");
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_EQ(Detach(env_, "vol-1").code(), absl::StatusCode::kFailedPrecondition);
  }
  ASSERT_TRUE(host_.Snapshot("vol-1", volumes::SealedSnapshotName("vol-1", 1)).ok());
  absl::Status sealed = Attach(env_, "vol-1");
  EXPECT_EQ(sealed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(sealed.message().find("unseal"), std::string::npos) << sealed;
  EXPECT_EQ(Attach(env_, "vol-1_p1").code(), absl::StatusCode::kNotFound);  // a snapshot, not a volume
  EXPECT_EQ(Attach(env_, "nope").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(*host_.VolumeOpen("vol-1"));
  EXPECT_TRUE(host_.hooks.empty());
}

}  // namespace
}  // namespace volmigrate::workerd
