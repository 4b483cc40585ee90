// Admission on a real state store and the fake host.
#include "admission/admission.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "host/fake_host.h"

namespace volmigrate::admission {
namespace {

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *fsm::Store::Open(NewTempDir() + "/state");
    node_ = {store_.get(), &host_};
    ASSERT_TRUE(host_.CreateLv("vol-1", 1 << 20, volumes::kVolumeTag).ok());
  }
  host::FakeHost host_{NewTempDir()};
  std::unique_ptr<fsm::Store> store_;
  Node node_;
};

TEST_F(AdmissionTest, AFreeVolumeAdmitsEverything) {
  for (Op op : {Op::kCreate, Op::kDelete, Op::kAttach, Op::kDetach, Op::kMigrate, Op::kSeal, Op::kUnseal, Op::kArrive})
    EXPECT_TRUE(Check(node_, op, "vol-1").ok());
  EXPECT_TRUE(HolderOf(node_, "vol-1")->id.empty());
}

TEST_F(AdmissionTest, ARequestHoldingTheVolumeRefusesOthersByName) {
  auto lease = Hold(node_, Op::kDelete, "vol-1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  absl::Status s = Check(node_, Op::kMigrate, "vol-1");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("a delete request"), std::string::npos) << s;
  EXPECT_EQ(Hold(node_, Op::kAttach, "vol-1").status().code(), absl::StatusCode::kFailedPrecondition);
  Holder h = *HolderOf(node_, "vol-1");
  EXPECT_EQ(h.id, "a delete request");
  EXPECT_EQ(h.kind, "");
}

TEST_F(AdmissionTest, AMachineHoldingTheVolumeIsNamedWithItsKind) {
  fsm::Record r;
  r.set_id("m-1");
  r.set_kind("migration-out");
  r.set_state("QUEUED");
  r.add_claims("vol-1");
  ASSERT_TRUE(store_->Create(r).ok());
  Holder h = *HolderOf(node_, "vol-1");
  EXPECT_EQ(h.id, "m-1");
  EXPECT_EQ(h.kind, "migration-out");
  EXPECT_EQ(Check(node_, Op::kSeal, "vol-1").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AdmissionTest, ASealedVolumeIsOpenedByUnsealAndMovedAfterIt) {
  ASSERT_TRUE(host_.Snapshot("vol-1", volumes::SealedSnapshotName("vol-1", 1)).ok());
  absl::Status attach = Check(node_, Op::kAttach, "vol-1");
  EXPECT_EQ(attach.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(attach.message().find("unseal opens it"), std::string::npos) << attach;
  absl::Status migrate = Check(node_, Op::kMigrate, "vol-1");
  EXPECT_EQ(migrate.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(migrate.message().find("unseal it before migrating"), std::string::npos) << migrate;
  EXPECT_EQ(Hold(node_, Op::kAttach, "vol-1").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(HolderOf(node_, "vol-1")->id.empty());  // a refused hold holds nothing
  for (Op op : {Op::kDelete, Op::kDetach, Op::kSeal, Op::kUnseal}) EXPECT_TRUE(Check(node_, op, "vol-1").ok());
}

}  // namespace
}  // namespace volmigrate::admission
