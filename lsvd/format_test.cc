#include "lsvd/format.h"

#include <gtest/gtest.h>

namespace volmigrate::lsvd {
namespace {

Header DataHeader() {
  Header h{.kind = Kind::kData, .seq = 7, .point = 2, .volume_bytes = 1 << 20, .created_unix = 1700000000};
  h.volume = *ParseUuid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  h.extents = {{.lba = 0, .sectors = 2, .crc = 0}, {.lba = 100, .sectors = 8, .zero = true}, {.lba = 8, .sectors = 1}};
  return h;
}

std::string DataObject(Header h) {
  std::string data;
  for (Extent& e : h.extents) {
    if (e.zero) continue;
    std::string d(e.sectors * kSector, static_cast<char>('a' + e.lba % 26));
    e.crc = Crc32c(d);
    data += d;
  }
  return EncodeHeader(h) + data;
}

TEST(Crc32c, KnownValue) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(Uuid, RoundTripAndRejects) {
  auto u = ParseUuid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(UuidString(*u), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  EXPECT_FALSE(ParseUuid("0f1e2d3c4b5a69788796a5b4c3d2e1f0").ok());
  EXPECT_FALSE(ParseUuid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fz").ok());
}

TEST(Names, HexUnderPrefix) {
  EXPECT_EQ(ObjectName("vol1/", 0x2a), "vol1/000000000000002a");
  EXPECT_EQ(*SeqOfName("vol1/", "vol1/000000000000002a"), 0x2au);
  EXPECT_TRUE(absl::IsNotFound(SeqOfName("vol1/", "vol1/00000000000002a").status()));
  EXPECT_TRUE(absl::IsNotFound(SeqOfName("vol1/", "vol2/000000000000002a").status()));
  EXPECT_TRUE(absl::IsNotFound(SeqOfName("vol1/", "vol1/000000000000002A").status()));
}

TEST(Format, DataObjectRoundTrip) {
  std::string obj = DataObject(DataHeader());
  auto h = ParseObject(obj);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->seq, 7u);
  EXPECT_EQ(h->point, 2u);
  EXPECT_EQ(h->created_unix, 1700000000);
  EXPECT_EQ(UuidString(h->volume), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  ASSERT_EQ(h->extents.size(), 3u);
  EXPECT_TRUE(h->extents[1].zero);
  EXPECT_EQ(h->data_bytes, 3 * kSector);
  EXPECT_EQ(h->object_bytes(), obj.size());
}

TEST(Format, CheckpointRoundTrip) {
  Header h{.kind = Kind::kCheckpoint, .seq = 9, .point = 2, .volume_bytes = 1 << 20, .first_seq = 5};
  h.map = {{.lba = 0, .sectors = 2, .skip = 0, .object = 3, .offset = 200, .extent_sectors = 4, .crc = 5},
           {.lba = 10, .sectors = 1, .skip = 3, .object = 8, .offset = 300, .extent_sectors = 4, .crc = 6}};
  auto p = ParseHeader(EncodeHeader(h));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->map, h.map);
  EXPECT_EQ(p->first_seq, 5u);
  EXPECT_EQ(p->data_bytes, 0u);
}

TEST(Format, TornObjectIsDetected) {
  std::string obj = DataObject(DataHeader());
  auto h = ParseObject(obj.substr(0, obj.size() - 1));
  EXPECT_TRUE(absl::IsDataLoss(h.status())) << h.status();
  EXPECT_NE(h.status().message().find("torn"), std::string::npos);
  // Shorter than its header: the parser asks for more, it does not guess.
  EXPECT_TRUE(absl::IsOutOfRange(ParseHeader(obj.substr(0, 100)).status()));
  EXPECT_TRUE(absl::IsOutOfRange(ParseHeader(obj.substr(0, 10)).status()));
}

TEST(Format, CorruptionIsDetected) {
  std::string obj = DataObject(DataHeader());
  std::string bad_data = obj;
  bad_data.back() ^= 1;
  EXPECT_NE(ParseObject(bad_data).status().message().find("extent 2"), std::string::npos);
  std::string bad_header = obj;
  bad_header[40] ^= 1;  // the point number
  EXPECT_NE(ParseHeader(bad_header).status().message().find("header checksum"), std::string::npos);
  std::string bad_magic = obj;
  bad_magic[0] = 'X';
  EXPECT_TRUE(absl::IsDataLoss(ParseHeader(bad_magic).status()));
  std::string newer = obj;
  newer[8] = 2;
  EXPECT_TRUE(absl::IsUnimplemented(ParseHeader(newer).status()));
}

// A crafted object (its CRCs made to match) must not make a reader allocate,
// read or write past what any real object or volume holds.
TEST(Format, LengthsAreBoundedAtParseTime) {
  Header past_end = DataHeader();
  past_end.extents[2].lba = (1 << 20) / kSector;  // one past the 1 MiB volume
  EXPECT_TRUE(absl::IsDataLoss(ParseObject(DataObject(past_end)).status()));

  Header cp{.kind = Kind::kCheckpoint, .seq = 9, .point = 2, .volume_bytes = uint64_t{1} << 40, .first_seq = 5};
  cp.map = {{.lba = 0, .sectors = 8, .skip = 0, .object = 3, .offset = 0, .extent_sectors = 0xffffffffu, .crc = 5}};
  auto huge = ParseHeader(EncodeHeader(cp));
  EXPECT_TRUE(absl::IsDataLoss(huge.status())) << "an extent of 2 TiB: " << huge.status();
  cp.map[0].extent_sectors = 8;
  cp.map[0].lba = ~uint64_t{0} - 4;  // wraps around
  EXPECT_TRUE(absl::IsDataLoss(ParseHeader(EncodeHeader(cp)).status()));
  cp.map[0].lba = 0;
  ASSERT_TRUE(ParseHeader(EncodeHeader(cp)).ok());
  cp.volume_bytes = uint64_t{1} << 62;
  EXPECT_TRUE(absl::IsDataLoss(ParseHeader(EncodeHeader(cp)).status()));
}

}  // namespace
}  // namespace volmigrate::lsvd
