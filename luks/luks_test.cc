// LUKS2 headers of image files, on the host: libcryptsetup formats and reads
// files without device-mapper.
#include "luks/luks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "common/files.h"
#include "gtest/gtest.h"

namespace volmigrate::luks {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
const Pbkdf kFast{"pbkdf2", 1000};

std::string Image(uint64_t bytes) {
  std::string t = testing::TempDir() + "luksXXXXXX";
  int fd = mkstemp(t.data());
  EXPECT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(bytes)), 0);
  close(fd);
  return t;
}

class HeaderTest : public ::testing::TestWithParam<uint64_t> {};

// The fleet has seen both 4 MiB and 16 MiB data offsets; either must read back exactly.
TEST_P(HeaderTest, ReadsTheLayoutItWasFormattedWith) {
  uint64_t offset = GetParam();
  std::string img = Image(64 * kMiB);
  Layout want;
  want.data_offset = offset;
  want.sector_size = 4096;
  want.label = "vol-1";
  ASSERT_TRUE(Format(img, want, "passphrase-1", kFast).ok());
  auto h = ReadHeader(img);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->layout.data_offset, offset);
  EXPECT_EQ(h->layout.cipher, "aes-xts-plain64");
  EXPECT_EQ(h->layout.key_size_bits, 512u);
  EXPECT_EQ(h->layout.sector_size, 4096u);
  EXPECT_EQ(h->layout.uuid.size(), 36u);
  EXPECT_EQ(h->layout.label, "vol-1");
  EXPECT_EQ(h->device_bytes, 64 * kMiB);
  EXPECT_EQ(h->plaintext_bytes, 64 * kMiB - offset);
  EXPECT_GT(h->layout.keyslots_size, 0u);
}
INSTANTIATE_TEST_SUITE_P(Offsets, HeaderTest, ::testing::Values(4 * kMiB, 16 * kMiB));

TEST(Luks, ReproducingTheSourceLayoutGivesTheSamePlaintextSize) {
  std::string src = Image(256 * kMiB), dst = Image(256 * kMiB), dflt = Image(256 * kMiB);
  Layout four;
  four.data_offset = 4 * kMiB;
  ASSERT_TRUE(Format(src, four, "source-key", kFast).ok());
  auto s = ReadHeader(src);
  ASSERT_TRUE(s.ok());
  // The destination formats with the source's layout and its own key.
  Layout copy = s->layout;
  copy.uuid.clear();
  ASSERT_TRUE(Format(dst, copy, "destination-key", kFast).ok());
  auto d = ReadHeader(dst);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->plaintext_bytes, s->plaintext_bytes);
  // cryptsetup's own default (16 MiB here) would not have matched.
  ASSERT_TRUE(Format(dflt, Layout{}, "k", kFast).ok());
  EXPECT_NE(ReadHeader(dflt)->plaintext_bytes, s->plaintext_bytes);
}

TEST(Luks, FormatIsIdempotentAndRefusesConflicts) {
  std::string img = Image(32 * kMiB);
  Layout l;
  l.data_offset = 4 * kMiB;
  ASSERT_TRUE(Format(img, l, "key-a", kFast).ok());
  std::string uuid = ReadHeader(img)->layout.uuid;
  EXPECT_TRUE(Format(img, l, "key-a", kFast).ok());
  EXPECT_EQ(ReadHeader(img)->layout.uuid, uuid);  // not reformatted
  EXPECT_EQ(Format(img, l, "key-b", kFast).code(), absl::StatusCode::kAlreadyExists);
  Layout other = l;
  other.sector_size = 512;
  EXPECT_EQ(Format(img, other, "key-a", kFast).code(), absl::StatusCode::kAlreadyExists);
}

TEST(Luks, NonLuksDamagedAndMissingEachHaveTheirOwnError) {
  std::string plain = Image(8 * kMiB);
  EXPECT_EQ(ReadHeader(plain).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadHeader("/nonexistent/dev").status().code(), absl::StatusCode::kNotFound);

  std::string img = Image(32 * kMiB);
  ASSERT_TRUE(Format(img, Layout{.data_offset = 4 * kMiB}, "k", kFast).ok());
  // Damage the JSON metadata of both header copies, keeping the magic.
  Fd fd(open(img.c_str(), O_WRONLY));
  std::string junk(4096, 'z');
  for (off_t off : {4096L, 16384L + 4096L}) ASSERT_EQ(pwrite(fd.get(), junk.data(), junk.size(), off), 4096);
  auto h = ReadHeader(img);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss) << h.status();
  EXPECT_EQ(Format(img, Layout{}, "k", kFast).code(), absl::StatusCode::kDataLoss);
}

TEST(Luks, DataOffsetBeyondTheDeviceIsRefused) {
  std::string img = Image(8 * kMiB);
  EXPECT_EQ(Format(img, Layout{.data_offset = 16 * kMiB}, "k", kFast).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace volmigrate::luks
