#include "migration/allocation.h"

#include <gtest/gtest.h>

namespace volmigrate::migration {
namespace {

using V = std::vector<Extent>;

TEST(Allocation, ThinBlocksBecomePlaintextExtentsPastTheHeader) {
  // 64 KiB blocks (128 sectors), a 1 MiB LUKS2 header (2048 sectors): blocks
  // 0-15 are the header, block 16 is plaintext sector 0.
  volumes::ThinMap m{.block_sectors = 128, .runs = {{0, 900, 16}, {16, 5, 2}, {18, 40, 1}, {30, 7, 1}, {99, 3, 4}}};
  EXPECT_EQ(MappedExtents(m, 2048, 100 * 128), (V{{0, 3 * 128}, {14 * 128, 128}, {83 * 128, 128 * 4}}));
  // Clipped to the plaintext; a run straddling the header keeps its plaintext part.
  volumes::ThinMap n{.block_sectors = 128, .runs = {{15, 1, 2}, {40, 2, 10}}};
  EXPECT_EQ(MappedExtents(n, 2048, 30 * 128), (V{{0, 128}, {24 * 128, 6 * 128}}));
  EXPECT_EQ(MappedExtents(volumes::ThinMap{.block_sectors = 128}, 2048, 100), V{});
}

TEST(Allocation, TheHeaderAreaIsMappedInDeviceSectors) {
  // A 1 MiB header (2048 sectors) of which blocks 0 and 3 are written.
  volumes::ThinMap m{.block_sectors = 128, .runs = {{0, 900, 1}, {3, 7, 1}, {15, 40, 3}}};
  EXPECT_EQ(HeaderExtents(m, 2048), (V{{0, 128}, {384, 128}, {1920, 128}}));
  EXPECT_EQ(HeaderExtents(m, 0), V{});
}

TEST(Allocation, DeviceExtentsPutTheHeaderInFrontOfThePlaintext) {
  v1::AllocationMap map = ToProto({{0, 8}, {100, 8}}, {{0, 128}, {384, 128}});
  EXPECT_EQ(*DeviceExtents(map, 2048, 1000), (V{{0, 128}, {384, 128}, {2048, 8}, {2148, 8}}));
  // A source that sent no header extents: the whole header area is copied,
  // and joins a plaintext extent that starts at the header's end.
  map = ToProto({{0, 8}, {100, 8}});
  EXPECT_EQ(*DeviceExtents(map, 2048, 1000), (V{{0, 2056}, {2148, 8}}));
  // Header extents are checked against the header area.
  map = ToProto({{0, 8}}, {{2000, 100}});
  EXPECT_EQ(DeviceExtents(map, 2048, 1000).status().code(), absl::StatusCode::kInvalidArgument);
  map = ToProto({{0, 8}}, {{0, 8}});
  map.add_header_start_sectors(16);
  EXPECT_FALSE(DeviceExtents(map, 2048, 1000).ok());
  EXPECT_FALSE(DeviceExtents(ToProto({{996, 8}}), 2048, 1000).ok());  // plaintext past its end
}

TEST(Allocation, CoarsenJoinsTheClosestNeighboursOnly) {
  V e{{0, 1}, {10, 1}, {12, 1}, {100, 1}, {103, 1}};
  Coarsen(e, 3);
  EXPECT_EQ(e, (V{{0, 1}, {10, 3}, {100, 4}}));
  Coarsen(e, 1);
  EXPECT_EQ(e, (V{{0, 104}}));
  V same = e;
  Coarsen(same, 5);
  EXPECT_EQ(same, e);
}

TEST(Allocation, EnoughExtentsForAnyVolumeFitTheLimitAndCoverEverySector) {
  // Every other 64 KiB block of 1 TiB: far more extents than travel.
  volumes::ThinMap m{.block_sectors = 128};
  for (uint64_t b = 0; b < (1ull << 24); b += 2) m.runs.push_back({b, b, 1});
  V e = MappedExtents(m, 0, 1ull << 31);
  EXPECT_LE(e.size(), kMaxExtents);
  EXPECT_EQ(e.front().start, 0u);
  EXPECT_GE(e.back().start + e.back().length, ((1ull << 24) - 2) * 128 + 128);
  EXPECT_LE(ToProto(e).ByteSizeLong(), 400u * 1024);
}

TEST(Allocation, FreeRegionsAreWholeRegionsTouchingNoData) {
  // Regions of 8 sectors over 100 sectors: the last 4 sectors are a short
  // region that is always copied.
  EXPECT_EQ(FreeRegions({{9, 2}, {40, 8}}, 8, 100), (V{{0, 8}, {16, 24}, {48, 48}}));
  EXPECT_EQ(FreeRegions({}, 8, 100), (V{{0, 96}}));
  EXPECT_EQ(FreeRegions({{0, 100}}, 8, 100), V{});
  EXPECT_EQ(FreeRegions({{7, 2}}, 8, 16), V{});  // one sector in each region
}

TEST(Allocation, APeersMapIsChecked) {
  EXPECT_EQ(*FromProto(ToProto({{0, 8}, {16, 8}}), 100), (V{{0, 8}, {16, 8}}));
  EXPECT_EQ(ToProto({{0, 8}, {16, 8}}).mapped_bytes(), 16u * 512);
  v1::AllocationMap bad = ToProto({{16, 8}, {0, 8}});
  EXPECT_EQ(FromProto(bad, 100).status().code(), absl::StatusCode::kInvalidArgument);  // out of order
  EXPECT_FALSE(FromProto(ToProto({{0, 8}, {4, 8}}), 100).ok());                         // overlapping
  EXPECT_FALSE(FromProto(ToProto({{96, 8}}), 100).ok());                                // past the end
  EXPECT_FALSE(FromProto(ToProto({{10, 0}}), 100).ok());                                // empty
  bad = ToProto({{0, 8}});
  bad.add_start_sectors(20);
  EXPECT_FALSE(FromProto(bad, 100).ok());  // a start without a length
}

}  // namespace
}  // namespace volmigrate::migration
