#include "luks/keystore.h"

#include <sys/stat.h>

#include <cstdlib>

#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::luks {
namespace {

mode_t ModeOf(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

TEST(FileKeyStore, KeysAre0600InA0700Dir) {
  std::string dir = NewTempDir() + "/keys";
  umask(022);
  auto ks = FileKeyStore::Open(dir);
  ASSERT_TRUE(ks.ok());
  auto k = (*ks)->GetOrCreate("vol-1");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->size(), 64u);
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir + "/vol-1.key"), 0600u);
  EXPECT_EQ(*(*ks)->GetOrCreate("vol-1"), *k);  // stable
}

TEST(FileKeyStore, TightensALooseDirectory) {
  std::string dir = NewTempDir();
  chmod(dir.c_str(), 0755);
  ASSERT_TRUE(FileKeyStore::Open(dir).ok());
  EXPECT_EQ(ModeOf(dir), 0700u);
}

TEST(FileKeyStore, MissingAndDelete) {
  auto ks = FileKeyStore::Open(NewTempDir());
  ASSERT_TRUE(ks.ok());
  EXPECT_EQ((*ks)->Get("vol-2").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*ks)->Put("vol-2", "secret").ok());
  EXPECT_EQ(*(*ks)->Get("vol-2"), "secret");
  ASSERT_TRUE((*ks)->Delete("vol-2").ok());
  ASSERT_TRUE((*ks)->Delete("vol-2").ok());
  EXPECT_EQ((*ks)->Get("vol-2").status().code(), absl::StatusCode::kNotFound);
}

TEST(FileKeyStore, RefusesPathTricks) {
  auto ks = FileKeyStore::Open(NewTempDir());
  ASSERT_TRUE(ks.ok());
  EXPECT_EQ((*ks)->Put("../etc/passwd", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*ks)->Get("a/b").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace volmigrate::luks
