#include "dmutil/pool.h"

#include <gtest/gtest.h>

namespace volmigrate::dm {
namespace {

TEST(PoolSpace, FreeBlocksTimesTheBlockSize) {
  // As a 6.1 kernel prints them for an LVM pool of 64 KiB blocks.
  auto p = ParsePoolSpace("253:1 253:2 128 0 1 skip_block_zeroing",
                          "3 140/1024 5000/9600 - rw discard_passdown queue_if_no_space - 1024");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->free_bytes, 4600ull * 65536);
  EXPECT_EQ(p->total_bytes, 9600ull * 65536);
  EXPECT_FALSE(p->out_of_data_space);
  auto full = ParsePoolSpace("253:1 253:2 128 0", "3 140/1024 9600/9600 - out_of_data_space discard_passdown "
                                                  "error_if_no_space - 1024");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->free_bytes, 0u);
  EXPECT_TRUE(full->out_of_data_space);
  EXPECT_FALSE(ParsePoolSpace("253:1 253:2 128 0", "Fail").ok());
  EXPECT_FALSE(ParsePoolSpace("253:1 253:2 0 0", "3 1/2 3/4 - rw").ok());
}

}  // namespace
}  // namespace volmigrate::dm
