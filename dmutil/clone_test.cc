#include "dmutil/clone.h"

#include "common/fake_executor.h"

#include "gtest/gtest.h"

namespace volmigrate::dm {
namespace {

CloneSpec Spec() {
  CloneSpec s;
  s.metadata_dev = "/dev/vg0/mig-1-meta";
  s.destination_dev = "/dev/mapper/vol-1";
  s.source_dev = "/dev/mapper/mig-1-src";
  s.length_sectors = 516096;
  return s;
}

TEST(CloneTarget, StartsWithHydrationOff) {
  auto t = CloneTarget(Spec());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, "clone");
  EXPECT_EQ(t->length, 516096u);
  EXPECT_EQ(t->params, "/dev/vg0/mig-1-meta /dev/mapper/vol-1 /dev/mapper/mig-1-src 128 1 no_hydration");
}

TEST(CloneTarget, FeaturesAndCoreArgs) {
  CloneSpec s = Spec();
  s.hydration = true;
  s.hydration_threshold = 64;
  s.hydration_batch_size = 32;
  EXPECT_EQ(CloneTarget(s)->params,
            "/dev/vg0/mig-1-meta /dev/mapper/vol-1 /dev/mapper/mig-1-src 128 0 4 hydration_threshold 64 "
            "hydration_batch_size 32");
  s.discard_passdown = false;
  s.hydration = false;
  s.hydration_batch_size = 0;
  EXPECT_EQ(CloneTarget(s)->params,
            "/dev/vg0/mig-1-meta /dev/mapper/vol-1 /dev/mapper/mig-1-src 128 2 no_hydration no_discard_passdown 2 "
            "hydration_threshold 64");
}

TEST(CloneTarget, RegionSizeLimits) {
  CloneSpec s = Spec();
  for (uint64_t bad : {0ull, 4ull, 100ull, 4194304ull}) {
    s.region_sectors = bad;
    EXPECT_EQ(CloneTarget(s).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  s.region_sectors = 8;
  s.length_sectors = (uint64_t{1} << 31) * 8 + 8;  // one region too many
  EXPECT_EQ(CloneTarget(s).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CloneStatus, ParsesEveryField) {
  auto st = ParseCloneStatus("8 72/262144 128 3402/4032 16 1 no_hydration 4 hydration_threshold 64 hydration_batch_size 32 rw");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->metadata_block_sectors, 8u);
  EXPECT_EQ(st->metadata_used, 72u);
  EXPECT_EQ(st->metadata_total, 262144u);
  EXPECT_EQ(st->region_sectors, 128u);
  EXPECT_EQ(st->hydrated, 3402u);
  EXPECT_EQ(st->total_regions, 4032u);
  EXPECT_EQ(st->hydrating, 16u);
  EXPECT_EQ(st->features, std::vector<std::string>{"no_hydration"});
  EXPECT_EQ(st->core_args.at("hydration_threshold"), 64u);
  EXPECT_EQ(st->core_args.at("hydration_batch_size"), 32u);
  EXPECT_FALSE(st->read_only);
  EXPECT_FALSE(st->failed);
  EXPECT_FALSE(st->Hydrated());
}

TEST(CloneStatus, HydratedReadOnlyFailAndError) {
  auto done = ParseCloneStatus("8 80/262144 128 4032/4032 0 0 4 hydration_threshold 1 hydration_batch_size 1 ro");
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->Hydrated());
  EXPECT_TRUE(done->read_only);
  EXPECT_TRUE(done->features.empty());
  EXPECT_TRUE(ParseCloneStatus("Fail")->failed);
  EXPECT_TRUE(ParseCloneStatus("Error")->error);
  auto failing = ParseCloneStatus("8 80/262144 128 10/4032 0 0 4 hydration_threshold 1 hydration_batch_size 1 Fail");
  ASSERT_TRUE(failing.ok());
  EXPECT_TRUE(failing->failed);
  EXPECT_FALSE(failing->Hydrated());
}

TEST(CloneStatus, RejectsGarbage) {
  for (const char* bad : {"", "8", "8 72/262144 128 5000/4032 0 0 4 hydration_threshold 1 hydration_batch_size 1 rw",
                          "8 72/262144 128 1/4032 0 2 no_hydration", "8 72-262144 128 1/4032 0 0 0 rw",
                          "8 72/262144 128 1/4032 0 0 0 rw extra", "8 72/262144 128 1/4032 0 0 3 a 1 b rw"}) {
    EXPECT_EQ(ParseCloneStatus(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CloneSizes, ABiggerSourceIsRefusedNamingBothSizes) {
  EXPECT_TRUE(CheckCloneSizes(264241152, 264241152).ok());
  absl::Status s = CheckCloneSizes(264241152, 251658240);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("264241152"), std::string::npos);
  EXPECT_NE(s.message().find("251658240"), std::string::npos);
}

TEST(CloneMessages, Spelling) {
  EXPECT_EQ(EnableHydrationMessage(), "enable_hydration");
  EXPECT_EQ(DisableHydrationMessage(), "disable_hydration");
  EXPECT_EQ(HydrationThresholdMessage(64), "hydration_threshold 64");
  EXPECT_EQ(HydrationBatchSizeMessage(32), "hydration_batch_size 32");
}

}  // namespace
}  // namespace volmigrate::dm

namespace volmigrate::dm {
namespace {

// `dmsetup status` prints "<start> <length> clone <params>": the parser takes the params.
std::string Params(const std::string& line) {
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) pos = line.find(' ', pos) + 1;
  std::string p = line.substr(pos);
  while (!p.empty() && p.back() == '\n') p.pop_back();
  return p;
}

TEST(CloneStatus, CapturedFromTheGuests) {
  auto fresh = ParseCloneStatus(Params(TestData("clone-status-nohydration.txt")));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->hydrated, 0u);
  EXPECT_EQ(fresh->total_regions, 4032u);
  // dm-clone turned discard passdown off itself: the destination is dm-crypt without discards.
  EXPECT_EQ(fresh->features, (std::vector<std::string>{"no_hydration", "no_discard_passdown"}));

  auto busy = ParseCloneStatus(Params(TestData("clone-status-hydrating.txt")));
  ASSERT_TRUE(busy.ok()) << busy.status();
  EXPECT_EQ(busy->hydrated, 128u);
  EXPECT_EQ(busy->hydrating, 224u);
  EXPECT_EQ(busy->core_args.at("hydration_threshold"), 256u);

  auto done = ParseCloneStatus(Params(TestData("clone-status-hydrated.txt")));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->Hydrated());
}

}  // namespace
}  // namespace volmigrate::dm
