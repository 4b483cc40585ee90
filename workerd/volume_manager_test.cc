// VolumeManager over LVM answered by a fake executor and LUKS2 headers in
// image files (libcryptsetup reads and writes files without device-mapper).
#include "workerd/volume_manager.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/fake_executor.h"
#include "common/test_util.h"

namespace volmigrate::workerd {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

std::string LvsRow(const std::string& name, uint64_t bytes) {
  return absl::StrCat(R"({"lv_name":")", name, R"(", "lv_size":")", bytes,
                      R"(", "pool_lv":"pool", "data_percent":"1.00", "metadata_percent":"", )",
                      R"("lv_attr":"Vwi-a-tz--", "lv_tags":"volmigrate_volume", "thin_id":"1"})");
}

void MakeImage(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
  ::close(fd);
}

TEST(VolumeManager, AVolumeWhoseHeaderCannotBeReadIsListedWithWhy) {
  // The volume group's "devices" are files: /dev/../<dir>/<name>.
  const std::string dir = NewTempDir();
  FakeExecutor ex;
  ex.On("lvs ", ExecResult{0,
                           absl::StrCat(R"({"report":[{"lv":[)", LvsRow("vol-1", 32 * kMiB), ",",
                                        LvsRow("vol-2", 32 * kMiB), "]}]}"),
                           ""});
  volumes::Lvm lvm(&ex, {.volume_group = ".." + dir, .thin_pool = "pool"});
  auto keys = luks::FileKeyStore::Open(dir + "/keys");
  ASSERT_TRUE(keys.ok()) << keys.status();
  VolumeManager vm("w1", &lvm, keys->get(), {"pbkdf2", 1000});
  MakeImage(dir + "/vol-1", 32 * kMiB);
  MakeImage(dir + "/vol-2", 32 * kMiB);  // lvcreate done, luksFormat never ran
  ASSERT_TRUE(luks::Format(dir + "/vol-1", {.data_offset = 16 * kMiB, .label = "vol-1"}, "k", {"pbkdf2", 1000}).ok());

  auto all = vm.List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id(), "vol-1");
  EXPECT_EQ((*all)[0].size_bytes(), 16 * kMiB);
  EXPECT_TRUE((*all)[0].problem().empty());
  EXPECT_EQ((*all)[1].id(), "vol-2");
  EXPECT_EQ((*all)[1].state(), v1::VOLUME_STATE_UNREADABLE);
  EXPECT_NE((*all)[1].problem().find("volume create with its size completes it"), std::string::npos)
      << (*all)[1].problem();
  auto two = vm.Get("vol-2");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->state(), v1::VOLUME_STATE_UNREADABLE);
}

}  // namespace
}  // namespace volmigrate::workerd
