// Seal, ship, unseal, ship again and restore both points, on a world of files:
// LVs are files, a snapshot copies its origin's file and shares its thin
// mappings, every write maps a fresh data block as a thin pool does. Every
// step runs twice (as after a crash between its effect and its commit).
#include "sealing/machines.h"

#include <gtest/gtest.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/test_util.h"
#include "fsm/diagram.h"
#include "fsm/store.h"
#include "host/fake_host.h"
#include "lsvd/thin.h"

namespace volmigrate::sealing {
namespace {

constexpr uint64_t kBlockBytes = host::FakeHost::kBlockBytes;
constexpr uint64_t kBlocks = 32;         // 2 MiB volumes
constexpr char kUuid[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

// A volume whose LUKS2 header (block 0) says kUuid and opens with its key.
void MakeVolume(host::FakeHost& h, const std::string& name) {
  ASSERT_TRUE(h.CreateLv(name, kBlocks * kBlockBytes, volumes::kVolumeTag).ok());
  ASSERT_TRUE(h.Format(h.LvPath(name), {.uuid = kUuid, .data_offset = kBlockBytes}, "secret-" + name).ok());
  h.keys[name] = "secret-" + name;
}

class SealingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    host_ = std::make_unique<host::FakeHost>(NewTempDir());
    objects_ = *objstore::NewLocalStore(dir_ + "/objects");
    store_ = *fsm::Store::Open(dir_ + "/state");
    env_.worker = "w1";
    env_.opts = {.object_bytes = 3 * kBlockBytes, .parallel = 2, .consumer_start = "/start", .consumer_stop = "/stop"};
    env_.host = host_.get();
    env_.objects = objects_.get();
    env_.store = store_.get();
    env_.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
    env_.fetch_key = [this](const std::string& peer, const std::string& volume) -> absl::StatusOr<std::string> {
      fetched.push_back(peer + ":" + volume);
      return host_->GetKey(volume);
    };
    runner_ = std::make_unique<fsm::Runner>(store_.get(), fsm::RunnerOptions{.max_concurrent = 2,
                                                                               .backoff_initial = absl::Milliseconds(5),
                                                                               .backoff_max = absl::Milliseconds(20)});
    for (fsm::MachineDef d : {SealMachine(&env_), RestoreMachine(&env_)}) {
      for (auto& [state, fn] : d.steps)
        fn = [f = fn](const fsm::StepContext& c) {
          (void)f(c);
          return f(c);
        };
      ASSERT_TRUE(runner_->Register(d).ok());
    }
    ASSERT_TRUE(runner_->Start().ok());
    MakeVolume(*host_, "vol");
  }
  void TearDown() override { runner_->Stop(); }

  std::string Wait(const std::string& id) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (uint64_t v = runner_->Version(); absl::Now() < deadline; v = runner_->WaitForChange(v, deadline)) {
      auto r = store_->Get(id);
      if (r.ok() && r->terminal()) return r->state() + (r->last_error().empty() ? "" : ": " + r->last_error());
    }
    return "timeout";
  }
  v1::Transfer Run(absl::StatusOr<v1::Transfer> t) {
    EXPECT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(Wait(t->id()), "DONE");
    return *TransferView(*store_->Get(t->id()), env_);
  }

  std::string dir_;
  std::unique_ptr<host::FakeHost> host_;
  std::unique_ptr<objstore::ObjectStore> objects_;
  std::unique_ptr<fsm::Store> store_;
  Env env_;
  std::unique_ptr<fsm::Runner> runner_;
  std::vector<std::string> fetched;
};

TEST(SealingDiagrams, TheHeaderDrawsEveryEdgeOfBothTables) {
  Env env;
  EXPECT_EQ(fsm::CheckDrawings(SourceFile("sealing/machines.h"), {SealMachine(&env), RestoreMachine(&env)}), "");
}

TEST_F(SealingTest, ShipChangeShipAgainRestoreBothPoints) {
  for (uint64_t b : {1, 2, 3, 7, 8, 20}) host_->WriteBlocks("vol", b, std::string(kBlockBytes, static_cast<char>('a' + b)));
  ASSERT_TRUE(host_->OpenVolume("vol").ok());
  v1::Transfer t1 = Run(StartSeal(&env_, runner_.get(), "vol", true));
  const std::string at1 = host_->Bytes("vol");
  EXPECT_EQ(t1.kind(), "ship");
  EXPECT_FALSE(t1.incremental());
  EXPECT_EQ(t1.point(), 1u);
  EXPECT_EQ(t1.allocated_bytes(), 7 * kBlockBytes);  // the 7 mapped blocks, nothing else
  EXPECT_EQ(t1.objects_total(), 3u);
  EXPECT_FALSE(*host_->VolumeOpen("vol"));
  EXPECT_EQ(host_->hooks, (std::vector<std::string>{"/stop vol"}));

  // Unseal, change (one block rewritten, one discarded, one new), ship again.
  ASSERT_TRUE(Unseal(&env_, "vol").ok());
  EXPECT_TRUE(*host_->VolumeOpen("vol"));
  host_->WriteBlocks("vol", 3, std::string(kBlockBytes, 'X'));
  host_->UnmapBlock("vol", 8);
  host_->WriteBlocks("vol", 30, std::string(kBlockBytes, 'Y'));
  v1::Transfer t2 = Run(StartSeal(&env_, runner_.get(), "vol", true));
  const std::string at2 = host_->Bytes("vol");
  EXPECT_TRUE(t2.incremental());
  EXPECT_EQ(t2.point(), 2u);
  EXPECT_EQ(*host_->SealedSnapshots("vol"), (std::vector<std::string>{"vol_p2"}));  // p1 served as base, then went

  auto snaps = *ListSnapshots(&env_, "vol");
  ASSERT_EQ(snaps.snapshots_size(), 2);
  EXPECT_EQ(snaps.stopped(), "");
  EXPECT_EQ(snaps.volume_uuid(), kUuid);
  EXPECT_EQ(snaps.snapshots(0).shipped_bytes(), 7 * kBlockBytes);
  EXPECT_EQ(snaps.snapshots(1).shipped_bytes(), 2 * kBlockBytes);  // block 8 went as a zero extent
  EXPECT_EQ(snaps.snapshots(1).live_bytes(), 7 * kBlockBytes);

  v1::RestoreVolumeRequest r1;
  r1.set_volume_id("vol");
  r1.set_new_volume_id("r1");
  r1.set_as_of_object(snaps.snapshots(0).checkpoint_object());
  r1.set_key_from("w0");
  v1::Transfer t3 = Run(StartRestore(&env_, runner_.get(), r1));
  EXPECT_EQ(t3.point(), 1u);
  EXPECT_EQ(host_->Bytes("r1"), at1);
  EXPECT_EQ(fetched, (std::vector<std::string>{"w0:vol"}));

  v1::RestoreVolumeRequest r2;
  r2.set_volume_id("vol");
  r2.set_new_volume_id("r2");
  Run(StartRestore(&env_, runner_.get(), r2));
  EXPECT_EQ(host_->Bytes("r2"), at2);
  EXPECT_EQ(*host_->GetKey("r2"), "secret-vol");
  EXPECT_FALSE(*host_->VolumeOpen("r2"));  // verified by opening, then left closed
}

TEST_F(SealingTest, AskingAgainFollowsTheRunningShip) {
  runner_->Stop();  // nothing runs: the first ship stays in FENCING
  auto a = StartSeal(&env_, runner_.get(), "vol", true);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = StartSeal(&env_, runner_.get(), "vol", true);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->id(), b->id());
  EXPECT_TRUE(absl::IsFailedPrecondition(StartSeal(&env_, runner_.get(), "vol", false).status()));
}

TEST_F(SealingTest, SealOnlyThenShipReusesTheSnapshot) {
  host_->WriteBlocks("vol", 4, std::string(kBlockBytes, 'q'));
  v1::Transfer s = Run(StartSeal(&env_, runner_.get(), "vol", false));
  EXPECT_EQ(s.kind(), "seal");
  EXPECT_EQ(*host_->SealedSnapshots("vol"), (std::vector<std::string>{"vol_p1"}));
  EXPECT_EQ(ListSnapshots(&env_, "vol")->snapshots_size(), 0);
  Run(StartSeal(&env_, runner_.get(), "vol", true));
  EXPECT_EQ(host_->snapshots_made.size(), 1u);
  EXPECT_EQ(ListSnapshots(&env_, "vol")->snapshots_size(), 1);
}

TEST_F(SealingTest, RefusalsChangeNothing) {
  v1::RestoreVolumeRequest r;
  r.set_volume_id("vol");
  r.set_new_volume_id("r1");
  EXPECT_TRUE(absl::IsFailedPrecondition(StartRestore(&env_, runner_.get(), r).status()));  // nothing shipped
  Run(StartSeal(&env_, runner_.get(), "vol", true));
  r.set_new_volume_id("vol");
  EXPECT_TRUE(absl::IsAlreadyExists(StartRestore(&env_, runner_.get(), r).status()));
  r.set_new_volume_id("r1");
  r.set_as_of_object(1);  // a data object, not a checkpoint
  auto bad = StartRestore(&env_, runner_.get(), r);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_TRUE(absl::IsNotFound(StartSeal(&env_, runner_.get(), "nope", true).status()));
  EXPECT_FALSE(host_->lvs.count("r1"));

  // A log made by another volume of the same name is not appended to.
  host_->WriteBlocks("vol", 0, host::FakeHost::Header({.uuid = "11111111-2222-3333-4444-555555555555", .data_offset = kBlockBytes}, "secret-vol"));
  auto other = StartSeal(&env_, runner_.get(), "vol", true);
  EXPECT_TRUE(absl::IsFailedPrecondition(other.status())) << other.status();
  EXPECT_NE(other.status().message().find("belongs to another volume"), std::string::npos);
}

// A source migration in WAITING holds its volume (fenced and closed, the
// destination booted on it): reopening it here would make a second writer.
TEST_F(SealingTest, NothingReopensOrSealsAVolumeAMachineHolds) {
  Run(StartSeal(&env_, runner_.get(), "vol", true));  // sealed and closed
  fsm::Record m;
  m.set_id("m-1");
  m.set_kind("migration-out");
  m.set_state("WAITING");
  m.add_claims("vol");
  ASSERT_TRUE(store_->Create(m).ok());
  const size_t hooks = host_->hooks.size();

  absl::Status unseal = Unseal(&env_, "vol");
  EXPECT_TRUE(absl::IsFailedPrecondition(unseal)) << unseal;
  EXPECT_NE(unseal.message().find("held by m-1 (migration-out, WAITING)"), std::string::npos) << unseal;
  EXPECT_FALSE(*host_->VolumeOpen("vol"));
  EXPECT_EQ(host_->hooks.size(), hooks);
  EXPECT_TRUE(absl::IsFailedPrecondition(StartSeal(&env_, runner_.get(), "vol", true).status()));
  // Nor is a restore made into a name a machine is bringing here.
  fsm::Record in = m;
  in.set_id("m-2");
  in.set_kind("migration-in");
  in.set_state("ACCEPTED");
  *in.mutable_claims(0) = "incoming";
  ASSERT_TRUE(store_->Create(in).ok());
  v1::RestoreVolumeRequest r;
  r.set_volume_id("vol");
  r.set_new_volume_id("incoming");
  EXPECT_TRUE(absl::IsFailedPrecondition(StartRestore(&env_, runner_.get(), r).status()));
  EXPECT_FALSE(host_->lvs.count("incoming"));

  // Once the migration has ended (here: rolled back), unseal goes ahead.
  m.set_state("ABORTED");
  m.set_terminal(true);
  ASSERT_TRUE(store_->Commit(m, "WAITING", "").ok());
  ASSERT_TRUE(Unseal(&env_, "vol").ok());
  EXPECT_TRUE(*host_->VolumeOpen("vol"));
}

TEST_F(SealingTest, TornShipIsReplacedByTheNextOne) {
  for (uint64_t b = 1; b < 12; ++b) host_->WriteBlocks("vol", b, std::string(kBlockBytes, static_cast<char>('a' + b)));
  Run(StartSeal(&env_, runner_.get(), "vol", true));
  // A later ship that died after two data objects: no checkpoint.
  ASSERT_TRUE(objects_->Put(lsvd::ObjectName("vol/", 6), "partial").ok());
  ASSERT_TRUE(Unseal(&env_, "vol").ok());
  host_->WriteBlocks("vol", 2, std::string(kBlockBytes, 'Z'));
  v1::Transfer t = Run(StartSeal(&env_, runner_.get(), "vol", true));
  EXPECT_EQ(t.point(), 2u);
  auto snaps = *ListSnapshots(&env_, "vol");
  EXPECT_EQ(snaps.stopped(), "");
  ASSERT_EQ(snaps.snapshots_size(), 2);
  v1::RestoreVolumeRequest r;
  r.set_volume_id("vol");
  r.set_new_volume_id("r9");
  Run(StartRestore(&env_, runner_.get(), r));
  EXPECT_EQ(host_->Bytes("r9"), host_->Bytes("vol"));
}

}  // namespace
}  // namespace volmigrate::sealing
