#include "common/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate {
namespace {

TEST(Files, AtomicWriteThenRead) {
  std::string dir = NewTempDir();
  std::string p = dir + "/a";
  ASSERT_TRUE(WriteFileAtomic(p, "hello", 0600).ok());
  auto got = ReadFile(p);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "hello");
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Files, MissingFileIsNotFound) {
  auto got = ReadFile("/nonexistent/volmigrate/x");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("/nonexistent/volmigrate/x"), std::string::npos);
}

TEST(Files, AttributeIsWrittenInPlaceAndMustExist) {
  std::string p = NewTempDir() + "/state";
  EXPECT_EQ(WriteAttribute(p, "running\n").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(p, "offline\n", 0644).ok());
  ASSERT_TRUE(WriteAttribute(p, "running\n").ok());
  EXPECT_EQ(*ReadFile(p), "running\n");
}

TEST(Files, MakeDirsSetsMode) {
  std::string dir = NewTempDir() + "/x/y";
  ASSERT_TRUE(MakeDirs(dir, 0700).ok());
  ASSERT_TRUE(MakeDirs(dir, 0700).ok());
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(DeviceBytes, RegularFile) {
  std::string t = NewTempDir() + "/devbytesXXXXXX";
  int fd = mkstemp(t.data());
  ASSERT_EQ(ftruncate(fd, 12345), 0);
  close(fd);
  EXPECT_EQ(*DeviceBytes(t), 12345u);
  EXPECT_EQ(DeviceBytes("/nonexistent").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace volmigrate
