#include "lsvd/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>

#include "common/files.h"
#include "common/test_util.h"
#include "lsvd/thin.h"

namespace volmigrate::lsvd {
namespace {

constexpr uint64_t kBlock = 16;          // sectors per "thin block"
constexpr uint64_t kDevSectors = 1024;   // a 512 KiB device

// A device file with its allocation map, like a thin LV and thin_dump's runs.
struct Device {
  std::string path;
  std::string bytes = std::string(kDevSectors * kSector, '\0');
  std::vector<volumes::ThinRun> runs;  // data block numbers: fresh ones for each write, as a pool does
  uint64_t next_data = 100;
  void Write(uint64_t block, char fill) {
    std::fill_n(bytes.begin() + block * kBlock * kSector, kBlock * kSector, fill);
    for (auto it = runs.begin(); it != runs.end(); ++it) {
      if (it->origin == block) {
        runs.erase(it);
        break;
      }
    }
    runs.push_back({block, next_data++, 1});
    std::sort(runs.begin(), runs.end(), [](const volumes::ThinRun& a, const volumes::ThinRun& b) { return a.origin < b.origin; });
  }
  void Discard(uint64_t block) {
    std::fill_n(bytes.begin() + block * kBlock * kSector, kBlock * kSector, '\0');
    std::erase_if(runs, [&](const volumes::ThinRun& r) { return r.origin == block; });
  }
  void Save() { ASSERT_TRUE(WriteFileAtomic(path, bytes, 0600).ok()); }
};

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    store_ = *objstore::NewLocalStore(dir_ + "/objects");
    dev_.path = dir_ + "/device";
    volume_ = *ParseUuid("11111111-2222-3333-4444-555555555555");
  }

  // Ships the device's changes since `before` as the next point.
  Header Ship(const std::vector<volumes::ThinRun>& before, uint64_t object_bytes = 8 * kBlock * kSector) {
    dev_.Save();
    auto scan = *ScanLog(*store_, "vol/");
    const Header* last = scan.LastCheckpoint();
    PointPlan plan{.prefix = "vol/", .volume = volume_, .point = scan.points.size() + 1,
                   .first_seq = scan.last_seq() + 1, .volume_bytes = kDevSectors * kSector, .created_unix = 1};
    plan.objects = PlanObjects(ChangedRanges(before, dev_.runs, kBlock, kDevSectors), object_bytes);
    Fd fd(::open(dev_.path.c_str(), O_RDONLY));
    std::vector<size_t> all(plan.objects.size());
    std::iota(all.begin(), all.end(), 0);
    auto sent = UploadObjects(*store_, plan, fd.get(), all, {.parallel = 3});
    EXPECT_TRUE(sent.ok()) << sent.status();
    auto cp = WriteCheckpoint(*store_, plan, last ? last->map : std::vector<MapEntry>{});
    EXPECT_TRUE(cp.ok()) << cp.status();
    return *cp;
  }

  std::string Restore(const Header& checkpoint) {
    std::string out = dir_ + "/restored";
    ::unlink(out.c_str());
    EXPECT_TRUE(WriteFileAtomic(out, std::string(kDevSectors * kSector, '\0'), 0600).ok());
    Fd fd(::open(out.c_str(), O_RDWR));
    auto groups = GroupForRead(checkpoint.map);
    auto n = RestoreGroups(*store_, "vol/", groups, 0, groups.size(), fd.get(), {.parallel = 2});
    EXPECT_TRUE(n.ok()) << n.status();
    return *ReadFile(out);
  }

  std::string dir_;
  std::unique_ptr<objstore::ObjectStore> store_;
  Device dev_;
  Uuid volume_;
};

TEST_F(LogTest, ShipIncrementallyAndRestoreEitherPoint) {
  for (uint64_t b : {0, 1, 2, 5, 9, 10, 11, 12, 13, 14, 15, 30}) dev_.Write(b, static_cast<char>('A' + b));
  Header cp1 = Ship({});
  const std::string at1 = dev_.bytes;
  const std::vector<volumes::ThinRun> runs1 = dev_.runs;

  dev_.Write(1, 'x');
  dev_.Write(40, 'y');
  dev_.Discard(10);
  Header cp2 = Ship(runs1);
  const std::string at2 = dev_.bytes;

  auto scan = *ScanLog(*store_, "vol/");
  EXPECT_EQ(scan.stopped, "");
  ASSERT_EQ(scan.points.size(), 2u);
  // 12 blocks in 8-block objects, then 2 changed blocks (one object) and a zero extent.
  EXPECT_EQ(scan.points[0].checkpoint_seq, 3u);
  EXPECT_EQ(scan.points[1].first_seq, 4u);
  EXPECT_EQ(scan.points[1].checkpoint_seq, 5u);
  EXPECT_EQ(scan.points[0].shipped_bytes, 12 * kBlock * kSector);
  EXPECT_EQ(scan.points[1].shipped_bytes, 2 * kBlock * kSector);  // only what changed
  EXPECT_EQ(scan.points[1].live_bytes, 12 * kBlock * kSector);

  EXPECT_EQ(Restore(cp1), at1);
  EXPECT_EQ(Restore(cp2), at2);
}

TEST_F(LogTest, TornLastObjectStopsTheScanAtTheLastGoodOne) {
  for (uint64_t b : {0, 1, 2}) dev_.Write(b, 'a');
  Ship({});
  auto runs1 = dev_.runs;
  dev_.Write(3, 'b');
  Ship(runs1);
  // Cut the newest object (point 2's checkpoint) short, as an interrupted copy would.
  std::string last = dir_ + "/objects/vol/" + ObjectName("", 4);
  ASSERT_EQ(::truncate(last.c_str(), 50), 0);
  auto scan = *ScanLog(*store_, "vol/");
  EXPECT_EQ(scan.last_seq(), 3u);
  ASSERT_EQ(scan.points.size(), 1u);
  EXPECT_NE(scan.stopped.find("object 4"), std::string::npos) << scan.stopped;

  // A missing object in the middle stops it too.
  ASSERT_EQ(::unlink((dir_ + "/objects/vol/" + ObjectName("", 2)).c_str()), 0);
  scan = *ScanLog(*store_, "vol/");
  EXPECT_EQ(scan.last_seq(), 1u);
  EXPECT_NE(scan.stopped.find("object 2 is missing"), std::string::npos) << scan.stopped;
}

TEST_F(LogTest, RollbackByDeletingLaterObjectsRestoresTheEarlierState) {
  for (uint64_t b : {0, 4, 8}) dev_.Write(b, 'p');
  Header cp1 = Ship({});
  const std::string at1 = dev_.bytes;
  auto runs1 = dev_.runs;
  dev_.Write(4, 'q');
  dev_.Discard(8);
  Ship(runs1);
  ASSERT_TRUE(TruncateLog(*store_, "vol/", cp1.seq).ok());
  auto scan = *ScanLog(*store_, "vol/");
  EXPECT_EQ(scan.stopped, "");
  ASSERT_EQ(scan.points.size(), 1u);
  EXPECT_EQ(Restore(*scan.LastCheckpoint()), at1);
}

TEST_F(LogTest, ResumedUploadSkipsWhatIsThereAndCorruptDataIsRefused) {
  for (uint64_t b = 0; b < 20; ++b) dev_.Write(b, static_cast<char>('a' + b));
  dev_.Save();
  PointPlan plan{.prefix = "vol/", .volume = volume_, .point = 1, .first_seq = 1, .volume_bytes = kDevSectors * kSector};
  plan.objects = PlanObjects(ChangedRanges({}, dev_.runs, kBlock, kDevSectors), 4 * kBlock * kSector);
  ASSERT_EQ(plan.objects.size(), 5u);
  Fd fd(::open(dev_.path.c_str(), O_RDONLY));
  ASSERT_TRUE(UploadObjects(*store_, plan, fd.get(), {0, 3}, {}).ok());
  auto done = *UploadedObjects(*store_, plan);
  EXPECT_EQ(done, (std::vector<bool>{true, false, false, true, false}));
  ASSERT_TRUE(UploadObjects(*store_, plan, fd.get(), {1, 2, 4}, {}).ok());
  auto cp = *WriteCheckpoint(*store_, plan, {});

  // Flip one byte of stored data: restore refuses that extent.
  std::string obj = dir_ + "/objects/vol/" + ObjectName("", 2);
  std::string bytes = *ReadFile(obj);
  bytes[bytes.size() - 1] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(obj, bytes, 0600).ok());
  Fd out(::open(dev_.path.c_str(), O_RDWR));
  auto groups = GroupForRead(cp.map);
  auto n = RestoreGroups(*store_, "vol/", groups, 0, groups.size(), out.get(), {.attempts = 1});
  EXPECT_TRUE(absl::IsDataLoss(n.status())) << n.status();
}

}  // namespace
}  // namespace volmigrate::lsvd

namespace volmigrate::lsvd {
namespace {

// The same incremental round trip through a real S3 service (tests/s3/run.sh
// starts radosgw and sets the variables).
class LogOverS3 : public LogTest {
 protected:
  void SetUp() override {
    const char* endpoint = std::getenv("VOLMIGRATE_S3_ENDPOINT");
    if (endpoint == nullptr) GTEST_SKIP() << "VOLMIGRATE_S3_ENDPOINT not set (tests/s3/run.sh sets it)";
    LogTest::SetUp();
    auto s3 = objstore::NewS3Store({.endpoint = endpoint, .bucket = std::getenv("VOLMIGRATE_S3_BUCKET")});
    ASSERT_TRUE(s3.ok()) << s3.status();
    store_ = *std::move(s3);
    ASSERT_TRUE(TruncateLog(*store_, "vol/", 0).ok());
  }
};

TEST_F(LogOverS3, ShipIncrementallyAndRestoreEitherPoint) {
  for (uint64_t b : {0, 3, 7, 8, 20, 21}) dev_.Write(b, static_cast<char>('k' + b));
  Header cp1 = Ship({});
  const std::string at1 = dev_.bytes;
  auto runs1 = dev_.runs;
  dev_.Write(3, 'z');
  dev_.Discard(20);
  Header cp2 = Ship(runs1);
  auto scan = *ScanLog(*store_, "vol/");
  EXPECT_EQ(scan.stopped, "");
  EXPECT_EQ(scan.points.size(), 2u);
  EXPECT_EQ(Restore(cp1), at1);
  EXPECT_EQ(Restore(cp2), dev_.bytes);
}

}  // namespace
}  // namespace volmigrate::lsvd
