// VolumeManager on the fake host: what the volume API lists and refuses.
#include "workerd/volume_manager.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "host/fake_host.h"

namespace volmigrate::workerd {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

class VolumeManagerTest : public ::testing::Test {
 protected:
  host::FakeHost host_{NewTempDir()};
  VolumeManager vm_{"w1", &host_};
};

TEST_F(VolumeManagerTest, CreateIsIdempotentAndShowsThePlaintextSize) {
  auto v = vm_.Create("vol-1", 32 * kMiB);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size_bytes(), 32 * kMiB);
  EXPECT_EQ(v->state(), v1::VOLUME_STATE_AVAILABLE);
  EXPECT_EQ(v->luks().data_offset_bytes(), 16 * kMiB);
  // A retry after a crash anywhere in it finishes it, with the same key.
  const std::string key = host_.keys["vol-1"];
  host_.FailNext("Format", absl::UnavailableError("power cut"));
  ASSERT_TRUE(host_.CreateLv("vol-2", 48 * kMiB, volumes::kVolumeTag).ok());
  EXPECT_FALSE(vm_.Create("vol-2", 32 * kMiB).ok());
  EXPECT_TRUE(vm_.Create("vol-2", 32 * kMiB).ok());
  EXPECT_TRUE(vm_.Create("vol-1", 32 * kMiB).ok());
  EXPECT_EQ(host_.keys["vol-1"], key);
}

TEST_F(VolumeManagerTest, AVolumeWhoseHeaderCannotBeReadIsListedWithWhy) {
  ASSERT_TRUE(vm_.Create("vol-1", 16 * kMiB).ok());
  ASSERT_TRUE(host_.CreateLv("vol-2", 32 * kMiB, volumes::kVolumeTag).ok());  // lvcreate done, luksFormat never ran
  auto all = vm_.List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id(), "vol-1");
  EXPECT_EQ((*all)[0].size_bytes(), 16 * kMiB);
  EXPECT_TRUE((*all)[0].problem().empty());
  EXPECT_EQ((*all)[1].id(), "vol-2");
  EXPECT_EQ((*all)[1].state(), v1::VOLUME_STATE_UNREADABLE);
  EXPECT_NE((*all)[1].problem().find("volume create with its size completes it"), std::string::npos)
      << (*all)[1].problem();
  auto two = vm_.Get("vol-2");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->state(), v1::VOLUME_STATE_UNREADABLE);
  EXPECT_TRUE(vm_.Delete("vol-2").ok());
  EXPECT_EQ(vm_.Get("vol-2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(VolumeManagerTest, DeleteIsRefusedWhileOpenAndTakesSnapshotsAndKeyAlong) {
  ASSERT_TRUE(vm_.Create("vol-1", 16 * kMiB).ok());
  ASSERT_TRUE(host_.OpenVolume("vol-1").ok());
  EXPECT_EQ(vm_.Get("vol-1")->state(), v1::VOLUME_STATE_IN_USE);
  EXPECT_EQ(vm_.Delete("vol-1").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(host_.CloseVolume("vol-1").ok());
  ASSERT_TRUE(host_.Snapshot("vol-1", volumes::SealedSnapshotName("vol-1", 1)).ok());
  EXPECT_EQ(vm_.Get("vol-1")->state(), v1::VOLUME_STATE_SEALED);
  ASSERT_TRUE(vm_.Delete("vol-1").ok());
  EXPECT_TRUE(host_.lvs.empty());
  EXPECT_TRUE(host_.keys.empty());
  EXPECT_EQ(vm_.Delete("vol-1").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace volmigrate::workerd
