#include "luks/api.h"

#include <gtest/gtest.h>

namespace volmigrate::luks {
namespace {

TEST(LuksApi, ALayoutSurvivesTheRoundTrip) {
  Layout l{.uuid = "0c9f6e42-5b7a-4f0e-9d3c-1a2b3c4d5e6f", .cipher = "aes-xts-plain64", .key_size_bits = 512,
           .sector_size = 4096, .data_offset = 16 << 20, .label = "vol-1"};
  v1::LuksLayout api = ToApi(l);
  EXPECT_EQ(api.data_offset_bytes(), 16u << 20);
  EXPECT_EQ(api.sector_size_bytes(), 4096u);
  Layout back = FromApi(api);
  EXPECT_EQ(back.uuid, l.uuid);
  EXPECT_EQ(back.cipher, l.cipher);
  EXPECT_EQ(back.key_size_bits, l.key_size_bits);
  EXPECT_EQ(back.sector_size, l.sector_size);
  EXPECT_EQ(back.data_offset, l.data_offset);
  EXPECT_EQ(back.label, l.label);
}

}  // namespace
}  // namespace volmigrate::luks
