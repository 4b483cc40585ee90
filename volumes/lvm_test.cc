#include "volumes/lvm.h"

#include "common/fake_executor.h"
#include "gtest/gtest.h"

namespace volmigrate::volumes {
namespace {

constexpr char kLvs[] = "lvs --reportformat json --units b --nosuffix";

TEST(LvsJson, ParsesCapturedReport) {
  auto rows = ParseLvsJson(TestData("lvs.json"));
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  const LvRow& vol = (*rows)[2];
  EXPECT_EQ(vol.name, "vol-1");
  EXPECT_EQ(vol.size_bytes, 268435456u);
  EXPECT_EQ(vol.pool, "pool");
  EXPECT_DOUBLE_EQ(vol.data_percent, 4.69);
  EXPECT_EQ(vol.allocated_bytes(), static_cast<uint64_t>(268435456 * 4.69 / 100));
  EXPECT_EQ(vol.tags, std::vector<std::string>{"volmigrate_volume"});
  EXPECT_TRUE(vol.active());
  const LvRow& pool = (*rows)[1];
  EXPECT_EQ(pool.attr.substr(0, 1), "t");
  EXPECT_DOUBLE_EQ(pool.metadata_percent, 11.52);
}

TEST(LvsJson, RejectsGarbage) {
  EXPECT_FALSE(ParseLvsJson("not json").ok());
  EXPECT_FALSE(ParseLvsJson(R"({"report":[{"vg":[]}]})").ok());
  EXPECT_FALSE(ParseLvsJson(R"({"report":[{"lv":[{"lv_name":"a","lv_size":"12.5m"}]}]})").ok());
}

TEST(VgsJson, ParsesCapturedReport) {
  auto vg = ParseVgsJson(TestData("vgs.json"));
  ASSERT_TRUE(vg.ok()) << vg.status();
  EXPECT_EQ(vg->extent_bytes, 4194304u);
  EXPECT_EQ(vg->free_bytes, 1061158912u);
}

class LvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ex_.On(kLvs, ExecResult{0, TestData("lvs.json"), ""});
    ex_.On("vgs ", ExecResult{0, TestData("vgs.json"), ""});
    ex_.On("lvcreate", ExecResult{0, "", ""});
    ex_.On("lvremove", ExecResult{0, "", ""});
    ex_.On("lvextend", ExecResult{0, "", ""});
  }
  FakeExecutor ex_;
  Lvm lvm_{&ex_, {.volume_group = "vg0", .thin_pool = "pool"}};
};

TEST_F(LvmTest, ListsOnlyTaggedThinVolumes) {
  auto vols = lvm_.List();
  ASSERT_TRUE(vols.ok());
  ASSERT_EQ(vols->size(), 1u);
  EXPECT_EQ((*vols)[0].name, "vol-1");
  EXPECT_EQ(lvm_.List("volmigrate_clone_md")->at(0).name, "mig-1-meta");
}

TEST_F(LvmTest, CreateRoundsToExtentsAndTags) {
  ASSERT_TRUE(lvm_.Create("vol-2", 100 << 20).ok());
  ASSERT_EQ(ex_.Count("lvcreate"), 1);
  EXPECT_EQ(ex_.calls.back(), "lvcreate -q -y -V 104857600b -T vg0/pool -n vol-2 --addtag volmigrate_volume");
}

TEST_F(LvmTest, TheExtentSizeIsReadOnce) {
  ASSERT_TRUE(lvm_.Create("vol-2", 100 << 20).ok());
  ASSERT_TRUE(lvm_.Create("vol-3", 100 << 20).ok());
  ASSERT_TRUE(lvm_.Resize("vol-1", 512 << 20).ok());
  EXPECT_EQ(ex_.Count("vgs "), 1);
}

TEST_F(LvmTest, CreateIsIdempotentAndRefusesConflicts) {
  EXPECT_TRUE(lvm_.Create("vol-1", 256 << 20).ok());
  EXPECT_TRUE(lvm_.Create("vol-1", (256 << 20) - (1 << 20)).ok());  // rounds up to the same extents
  EXPECT_EQ(lvm_.Create("vol-1", 512 << 20).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ex_.Count("lvcreate"), 0);
}

TEST_F(LvmTest, NearlyFullPoolRefusesBeforeCreating) {
  std::string lvs = TestData("lvs.json");
  lvs.replace(lvs.find("\"1.17\""), 6, "\"93.40\"");
  ex_.On(kLvs, ExecResult{0, lvs, ""});
  absl::Status s = lvm_.Create("vol-2", 64 << 20);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("93.4% full"), std::string::npos) << s;
  EXPECT_EQ(ex_.Count("lvcreate"), 0);
}

TEST_F(LvmTest, PoolUsage) {
  auto p = lvm_.Pool();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size_bytes, 1073741824u);
  EXPECT_NEAR(static_cast<double>(p->free_bytes()), 1073741824 * 0.9883, 1e6);
}

TEST_F(LvmTest, DeleteOfMissingIsSuccess) {
  EXPECT_TRUE(lvm_.Delete("vol-9").ok());
  EXPECT_EQ(ex_.Count("lvremove"), 0);
  EXPECT_TRUE(lvm_.Delete("vol-1").ok());
  EXPECT_EQ(ex_.calls.back(), "lvremove -q -y vg0/vol-1");
}

TEST_F(LvmTest, ResizeGrowsOnly) {
  EXPECT_TRUE(lvm_.Resize("vol-1", 256 << 20).ok());
  EXPECT_EQ(ex_.Count("lvextend"), 0);
  EXPECT_EQ(lvm_.Resize("vol-1", 128 << 20).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(lvm_.Resize("vol-1", 512 << 20).ok());
  EXPECT_EQ(ex_.calls.back(), "lvextend -q -L 536870912b vg0/vol-1");
  EXPECT_EQ(lvm_.Resize("vol-9", 512 << 20).code(), absl::StatusCode::kNotFound);
}

TEST_F(LvmTest, LvmFailureIsUnavailableWithStderr) {
  ex_.On(kLvs, ExecResult{5, "", "  Volume group \"vg0\" not found\n"});
  auto s = lvm_.List();
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("Volume group \"vg0\" not found"), std::string::npos);
}

TEST_F(LvmTest, RetireRenamesAndRetagsOnceAndFindsItDone) {
  ex_.On("lvrename", ExecResult{0, "", ""});
  ex_.On("lvchange", ExecResult{0, "", ""});
  ASSERT_TRUE(lvm_.Retire("vol-1", "vol-1-retired").ok());
  EXPECT_EQ(ex_.Count("lvrename -q vg0 vol-1 vol-1-retired"), 1);
  EXPECT_EQ(ex_.Count("lvchange -q --deltag volmigrate_volume --addtag volmigrate_retired vg0/vol-1-retired"), 1);
  EXPECT_EQ(lvm_.Retire("nothing", "nothing-retired").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace volmigrate::volumes

namespace volmigrate::volumes {
namespace {

TEST(SealedSnapshots, NamedByVolumeAndPoint) { EXPECT_EQ(SealedSnapshotName("vol-1", 3), "vol-1_p3"); }

TEST_F(LvmTest, PoolMappingsReadAMetadataSnapshotAndReleaseIt) {
  ex_.On("dmsetup message", ExecResult{0, "", ""});
  ex_.On("thin_dump", ExecResult{0, "<superblock/>", ""});
  auto xml = lvm_.PoolMappings();
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_EQ(*xml, "<superblock/>");
  EXPECT_EQ(ex_.calls, (std::vector<std::string>{
                           "dmsetup message vg0-pool-tpool 0 reserve_metadata_snap",
                           "thin_dump --metadata-snap /dev/mapper/vg0-pool_tmeta",
                           "dmsetup message vg0-pool-tpool 0 release_metadata_snap"}));
}

TEST_F(LvmTest, PoolMappingsReleaseASnapshotLeftByACrash) {
  int reserves = 0;
  ex_.On("dmsetup message", ExecResult{0, "", ""});
  ex_.On("dmsetup message vg0-pool-tpool 0 reserve", [&](const Command&) -> absl::StatusOr<ExecResult> {
    return ExecResult{++reserves == 1 ? 1 : 0, "", "device-mapper: message ioctl failed: File exists"};
  });
  ex_.On("thin_dump", ExecResult{0, "x", ""});
  ASSERT_TRUE(lvm_.PoolMappings().ok());
  EXPECT_EQ(ex_.Count("dmsetup message vg0-pool-tpool 0 release_metadata_snap"), 2);
  EXPECT_EQ(reserves, 2);
}

// Records the messages; nothing else is asked of it.
class MessageDm final : public dm::DeviceMapper {
 public:
  std::vector<std::string> messages;
  absl::Status Create(const std::string&, const std::vector<dm::Target>&, bool) override { return Unused(); }
  absl::Status Reload(const std::string&, const std::vector<dm::Target>&) override { return Unused(); }
  absl::Status Suspend(const std::string&) override { return Unused(); }
  absl::Status Resume(const std::string&) override { return Unused(); }
  absl::Status Remove(const std::string&) override { return Unused(); }
  absl::StatusOr<bool> Exists(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<dm::Target>> Table(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<dm::Target>> Status(const std::string&, bool) override { return Unused(); }
  absl::StatusOr<std::string> Message(const std::string& name, const std::string& m) override {
    messages.push_back(name + " " + m);
    return std::string();
  }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by Lvm"); }
};

TEST_F(LvmTest, WithLibdevmapperThePoolsMessagesStartNoProcess) {
  MessageDm dm;
  Lvm lvm{&ex_, {.volume_group = "vg0", .thin_pool = "pool"}, &dm};
  ex_.On("thin_dump", ExecResult{0, TestData("thin_dump.xml"), ""});
  auto m = lvm.Mappings(2);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->block_sectors, 128u);
  EXPECT_EQ(m->runs, (std::vector<ThinRun>{{0, 0, 2}, {2, 7, 1}, {6, 8, 1}}));
  EXPECT_EQ(dm.messages, (std::vector<std::string>{"vg0-pool-tpool reserve_metadata_snap",
                                                   "vg0-pool-tpool release_metadata_snap"}));
  EXPECT_EQ(ex_.calls, std::vector<std::string>{"thin_dump --metadata-snap --dev-id 2 /dev/mapper/vg0-pool_tmeta"});
  EXPECT_TRUE(lvm.Mappings(9)->runs.empty());  // a device with nothing mapped
}

TEST_F(LvmTest, DmNamesDoubleHyphens) {
  Lvm lvm{&ex_, {.volume_group = "vg-a", .thin_pool = "thin-pool"}};
  ex_.On("dmsetup message", ExecResult{0, "", ""});
  ex_.On("thin_dump", ExecResult{0, "x", ""});
  ASSERT_TRUE(lvm.PoolMappings().ok());
  EXPECT_EQ(ex_.calls[0], "dmsetup message vg--a-thin--pool-tpool 0 reserve_metadata_snap");
  EXPECT_EQ(ex_.calls[1], "thin_dump --metadata-snap /dev/mapper/vg--a-thin--pool_tmeta");
}

}  // namespace
}  // namespace volmigrate::volumes
