// The fake keeps the contracts host.h writes down, so that tests above it
// are told the truth about what the real host would answer.
#include "host/fake_host.h"

#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::host {
namespace {

TEST(FakeHost, MakingWhatExistsAsAskedSucceedsOtherwiseAlreadyExists) {
  FakeHost h(NewTempDir());
  ASSERT_TRUE(h.CreateLv("vol-1", 1 << 20, volumes::kVolumeTag).ok());
  EXPECT_TRUE(h.CreateLv("vol-1", 1 << 20, volumes::kVolumeTag).ok());
  EXPECT_EQ(h.CreateLv("vol-1", 2 << 20, volumes::kVolumeTag).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(h.Format(h.LvPath("vol-1"), {.data_offset = 65536}, "k").ok());
  EXPECT_TRUE(h.Format(h.LvPath("vol-1"), {.data_offset = 65536}, "k").ok());
  EXPECT_EQ(h.Format(h.LvPath("vol-1"), {.data_offset = 131072}, "k").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(h.DeleteLv("vol-1").ok());
  EXPECT_TRUE(h.DeleteLv("vol-1").ok());
  EXPECT_EQ(h.GetLv("vol-1").status().code(), absl::StatusCode::kNotFound);
}

TEST(FakeHost, AHeaderOpensOnlyWithItsKey) {
  FakeHost h(NewTempDir());
  ASSERT_TRUE(h.CreateLv("vol-1", 1 << 20, volumes::kVolumeTag).ok());
  EXPECT_EQ(h.ReadHeader(h.LvPath("vol-1")).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(h.Format(h.LvPath("vol-1"), {.uuid = "u-1", .data_offset = 65536}, "right").ok());
  auto hdr = h.ReadHeader(h.LvPath("vol-1"));
  ASSERT_TRUE(hdr.ok()) << hdr.status();
  EXPECT_EQ(hdr->layout.uuid, "u-1");
  EXPECT_EQ(hdr->plaintext_bytes, (1u << 20) - 65536);
  h.keys["vol-1"] = "wrong";
  EXPECT_EQ(h.OpenVolume("vol-1").code(), absl::StatusCode::kPermissionDenied);
  h.keys["vol-1"] = "right";
  ASSERT_TRUE(h.OpenVolume("vol-1").ok());
  EXPECT_TRUE(*h.VolumeOpen("vol-1"));
  EXPECT_EQ(*h.DeviceBytes(LiveDevice("vol-1")), (1u << 20) - 65536);
  ASSERT_TRUE(h.CloseVolume("vol-1").ok());
  EXPECT_FALSE(*h.VolumeOpen("vol-1"));
}

TEST(FakeHost, TheMapIsWhatWasWrittenAndASnapshotSharesIt) {
  FakeHost h(NewTempDir());
  ASSERT_TRUE(h.CreateLv("vol-1", 8 * FakeHost::kBlockBytes, volumes::kVolumeTag).ok());
  h.WriteBlocks("vol-1", 2, std::string(2 * FakeHost::kBlockBytes, 'a'));
  h.MapBlocks("vol-1", 6, 1);
  auto map = h.Mappings(h.GetLv("vol-1")->thin_id);
  ASSERT_TRUE(map.ok());
  ASSERT_EQ(map->runs.size(), 2u);
  EXPECT_EQ(map->runs[0].origin, 2u);
  EXPECT_EQ(map->runs[0].length, 2u);
  EXPECT_EQ(map->runs[1].origin, 6u);
  ASSERT_TRUE(h.Snapshot("vol-1", "vol-1_p1").ok());
  EXPECT_EQ(h.Bytes("vol-1_p1"), h.Bytes("vol-1"));
  EXPECT_EQ(*h.SealedSnapshots("vol-1"), std::vector<std::string>{"vol-1_p1"});
  EXPECT_EQ(h.Mappings(h.GetLv("vol-1_p1")->thin_id)->runs, map->runs);
  EXPECT_TRUE(h.Mappings(999)->runs.empty());  // a device the pool does not know
}

TEST(FakeHost, FailNextFailsOneCallOfThatMethod) {
  FakeHost h(NewTempDir());
  h.FailNext("Login", absl::UnavailableError("portal unreachable"));
  EXPECT_EQ(h.Login({.iqn = "iqn.x"}).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(h.Login({.iqn = "iqn.x"}).ok());
  EXPECT_EQ(*h.SessionState("iqn.x"), "LOGGED_IN");
  EXPECT_EQ(*h.WaitDevice("iqn.x", absl::Seconds(1)), "/dev/sda");
}

}  // namespace
}  // namespace volmigrate::host
