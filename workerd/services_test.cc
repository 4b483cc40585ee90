// The operator service over a real in-process gRPC server, backed by a real store.
#include "workerd/services.h"

#include <cmath>

#include <grpcpp/server_builder.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <thread>

#include "gtest/gtest.h"
#include "migration/machines.h"

namespace volmigrate::workerd {
namespace {

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = testing::TempDir() + "servicesXXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    cfg_.worker = "w1";
    cfg_.plaintext = true;
    cfg_.data_dir = dir;
    cfg_.peers = {{"w2", "127.0.0.1:1"}};
    auto s = fsm::Store::Open(dir + "/state");
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    runner_ = std::make_unique<fsm::Runner>(store_.get(), fsm::RunnerOptions{});
    fsm::MachineDef def;
    def.kind = migration::kOutKind;
    def.initial_state = "FENCED";
    def.terminal_states = {"DONE", "FAILED", "ABORTED"};
    def.cancel_to = {{"FENCED", "ABORTED"}};
    def.edges = {{"FENCED", {"DONE"}}};
    def.steps["FENCED"] = [this](const fsm::StepContext& c) -> absl::StatusOr<fsm::Next> {
      if (!release_) return fsm::Next{"FENCED", c.data, absl::Milliseconds(5)};
      return fsm::Next{"DONE", c.data};
    };
    ASSERT_TRUE(runner_->Register(def).ok());
    ASSERT_TRUE(runner_->Start().ok());
    svc_ = std::make_unique<OperatorService>(cfg_, runner_.get(), nullptr, nullptr, nullptr);
    grpc::ServerBuilder b;
    b.RegisterService(svc_.get());
    server_ = b.BuildAndStart();
    stub_ = v1::Operator::NewStub(server_->InProcessChannel({}));
  }
  void TearDown() override {
    server_->Shutdown();
    runner_->Stop();
  }

  void SubmitMigration(const std::string& id) {
    migration::MigrationState st;
    v1::Migration& m = *st.mutable_view();
    m.set_volume_id("vol-1");
    m.set_source_worker("w1");
    m.set_destination_worker("w2");
    ASSERT_TRUE(runner_->Submit(migration::kOutKind, id, st.SerializeAsString()).ok());
  }

  grpc::Status GetMigration(const std::string& id, v1::Migration* out) {
    grpc::ClientContext ctx;
    v1::GetMigrationRequest req;
    req.set_id(id);
    return stub_->GetMigration(&ctx, req, out);
  }

  Config cfg_;
  std::unique_ptr<fsm::Store> store_;
  std::unique_ptr<fsm::Runner> runner_;
  std::unique_ptr<OperatorService> svc_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Operator::Stub> stub_;
  std::atomic<bool> release_ = false;
};

TEST_F(ServicesTest, HealthNamesWorkerAndPeers) {
  grpc::ClientContext ctx;
  v1::HealthResponse r;
  ASSERT_TRUE(stub_->Health(&ctx, {}, &r).ok());
  EXPECT_EQ(r.worker(), "w1");
  ASSERT_EQ(r.peers_size(), 1);
  EXPECT_EQ(r.peers(0).name(), "w2");
}

// Writes to the state store fail from here until the end of the scope, as on
// a file system gone read-only or full: LMDB's data pages lie past 8 KiB (two
// meta pages), so every commit fails before it touches a meta page.
class StoreWritesFail {
 public:
  StoreWritesFail() {
    getrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim = old_;
    lim.rlim_cur = 8192;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  }
  ~StoreWritesFail() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, SIG_DFL);
  }

 private:
  rlimit old_;
};

TEST_F(ServicesTest, HealthAndMigrationsSayWhenTheStoreCannotBeWritten) {
  SubmitMigration("mig-a");
  auto health = [&] {
    grpc::ClientContext ctx;
    v1::HealthResponse r;
    EXPECT_TRUE(stub_->Health(&ctx, {}, &r).ok());
    return r;
  };
  EXPECT_EQ(health().status(), v1::SERVING);
  {
    StoreWritesFail fail;
    release_ = true;  // the machine's next commit (FENCED -> DONE) fails
    for (int i = 0; i < 500 && store_->WriteStatus().ok(); ++i) absl::SleepFor(absl::Milliseconds(10));
    v1::HealthResponse h = health();
    EXPECT_EQ(h.status(), v1::NOT_SERVING);
    ASSERT_EQ(h.problems_size(), 1);
    EXPECT_NE(h.problems(0).find("cannot be written"), std::string::npos) << h.problems(0);

    v1::Migration m;
    ASSERT_TRUE(GetMigration("mig-a", &m).ok());
    EXPECT_EQ(m.state(), "FENCED");
    EXPECT_TRUE(m.progress().stalled());
    EXPECT_NE(m.progress().stall_reason().find("cannot be written"), std::string::npos);
  }
  // Writable again: Health's own probe write finds it without waiting for a machine.
  EXPECT_EQ(health().status(), v1::SERVING);
}

TEST_F(ServicesTest, WorkerWithoutStorageHasNoVolumes) {
  grpc::ClientContext ctx;
  v1::ListVolumesResponse r;
  ASSERT_TRUE(stub_->ListVolumes(&ctx, {}, &r).ok());
  EXPECT_EQ(r.volumes_size(), 0);
  grpc::ClientContext ctx2;
  v1::CreateVolumeRequest c;
  c.set_id("vol-1");
  c.set_size_bytes(1 << 20);
  v1::Volume v;
  EXPECT_EQ(stub_->CreateVolume(&ctx2, c, &v).error_code(), grpc::FAILED_PRECONDITION);
}

TEST_F(ServicesTest, AttachAndDetachCheckTheIdAndFindNoVolumeWithoutStorage) {
  for (const std::string id : {"vol-1", "../x"}) {
    grpc::ClientContext a, d;
    v1::AttachVolumeRequest ar;
    ar.set_id(id);
    v1::DetachVolumeRequest dr;
    dr.set_id(id);
    v1::Volume v;
    const grpc::StatusCode want = id == "vol-1" ? grpc::NOT_FOUND : grpc::INVALID_ARGUMENT;
    EXPECT_EQ(stub_->AttachVolume(&a, ar, &v).error_code(), want) << id;
    EXPECT_EQ(stub_->DetachVolume(&d, dr, &v).error_code(), want) << id;
  }
}

TEST_F(ServicesTest, RetiredCopiesWithoutStorageAreNone) {
  grpc::ClientContext ctx;
  v1::ListRetiredResponse r;
  ASSERT_TRUE(stub_->ListRetired(&ctx, {}, &r).ok());
  EXPECT_EQ(r.copies_size(), 0);
  for (const std::string name : {"m-1-retired", "../x"}) {
    grpc::ClientContext p;
    v1::PurgeRetiredRequest req;
    req.set_name(name);
    v1::PurgeRetiredResponse resp;
    EXPECT_EQ(stub_->PurgeRetired(&p, req, &resp).error_code(), name == "../x" ? grpc::INVALID_ARGUMENT : grpc::NOT_FOUND);
  }
}

TEST_F(ServicesTest, MigrationToUnknownWorkerIsNotFound) {
  grpc::ClientContext ctx;
  v1::StartMigrationRequest req;
  req.set_volume_id("vol-1");
  req.set_destination_worker("w9");
  v1::Migration m;
  grpc::Status s = stub_->StartMigration(&ctx, req, &m);
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  EXPECT_NE(s.error_message().find("unknown worker 'w9' (peers of w1: w2)"), std::string::npos) << s.error_message();
}

TEST_F(ServicesTest, MigrationOfMissingVolumeIsNotFound) {
  grpc::ClientContext ctx;
  v1::StartMigrationRequest req;
  req.set_volume_id("vol-1");
  req.set_destination_worker("w2");
  v1::Migration m;
  EXPECT_EQ(stub_->StartMigration(&ctx, req, &m).error_code(), grpc::NOT_FOUND);
}

TEST_F(ServicesTest, InvalidIdsAreRefused) {
  grpc::ClientContext ctx;
  v1::GetMigrationRequest req;
  req.set_id("../../etc");
  v1::Migration m;
  EXPECT_EQ(stub_->GetMigration(&ctx, req, &m).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(ServicesTest, DrainOfAnotherWorkerIsRefused) {
  grpc::ClientContext ctx;
  v1::DrainWorkerRequest req;
  req.set_worker("w2");
  v1::Drain d;
  EXPECT_EQ(stub_->DrainWorker(&ctx, req, &d).error_code(), grpc::FAILED_PRECONDITION);
}

TEST_F(ServicesTest, RebalanceInputIsChecked) {
  auto call = [this](const v1::RebalanceRequest& req) {
    grpc::ClientContext ctx;
    v1::Drain d;
    return stub_->Rebalance(&ctx, req, &d);
  };
  v1::RebalanceRequest req;
  req.set_worker("w2");
  EXPECT_EQ(call(req).error_code(), grpc::FAILED_PRECONDITION);  // another worker
  req.clear_worker();
  req.add_destinations("w9");
  EXPECT_EQ(call(req).error_code(), grpc::NOT_FOUND) << call(req).error_message();  // not a peer
  req.clear_destinations();
  req.set_ceiling_percent(120);
  EXPECT_EQ(call(req).error_code(), grpc::INVALID_ARGUMENT);
  req.set_ceiling_percent(0);
  req.set_tolerance_percent(-1);
  EXPECT_EQ(call(req).error_code(), grpc::INVALID_ARGUMENT);
  req.set_tolerance_percent(std::nan(""));
  EXPECT_EQ(call(req).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(ServicesTest, GetListWatchAndAbortAMigration) {
  SubmitMigration("mig-a");
  {
    v1::Migration m;
    ASSERT_TRUE(GetMigration("mig-a", &m).ok());
    EXPECT_EQ(m.state(), "FENCED");
    EXPECT_EQ(m.destination_worker(), "w2");
    ASSERT_GE(m.history_size(), 1);
    EXPECT_EQ(m.history(0).to(), "FENCED");
  }
  {
    grpc::ClientContext ctx;
    v1::ListMigrationsResponse r;
    ASSERT_TRUE(stub_->ListMigrations(&ctx, {}, &r).ok());
    ASSERT_EQ(r.migrations_size(), 1);
  }
  // Abort while watching: the stream ends with the terminal state.
  grpc::ClientContext wctx;
  v1::WatchMigrationRequest wreq;
  wreq.set_id("mig-a");
  auto reader = stub_->WatchMigration(&wctx, wreq);
  v1::Migration m;
  ASSERT_TRUE(reader->Read(&m));
  EXPECT_EQ(m.state(), "FENCED");
  {
    grpc::ClientContext ctx;
    v1::AbortMigrationRequest req;
    req.set_id("mig-a");
    v1::Migration out;
    ASSERT_TRUE(stub_->AbortMigration(&ctx, req, &out).ok());
  }
  std::string last;
  while (reader->Read(&m)) last = m.state();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last, "ABORTED");
  {
    grpc::ClientContext ctx;
    v1::ListMigrationsResponse r;
    ASSERT_TRUE(stub_->ListMigrations(&ctx, {}, &r).ok());
    EXPECT_EQ(r.migrations_size(), 0);  // finished ones only on request
  }
}

TEST_F(ServicesTest, AbortAfterTheEndIsFailedPrecondition) {
  release_ = true;
  SubmitMigration("mig-b");
  grpc::ClientContext wctx;
  v1::WatchMigrationRequest wreq;
  wreq.set_id("mig-b");
  auto reader = stub_->WatchMigration(&wctx, wreq);
  v1::Migration m;
  while (reader->Read(&m)) {
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(m.state(), "DONE");
  grpc::ClientContext ctx;
  v1::AbortMigrationRequest req;
  req.set_id("mig-b");
  v1::Migration out;
  EXPECT_EQ(stub_->AbortMigration(&ctx, req, &out).error_code(), grpc::FAILED_PRECONDITION);
}

TEST_F(ServicesTest, WatchOfUnknownMigrationIsNotFound) {
  grpc::ClientContext ctx;
  v1::WatchMigrationRequest req;
  req.set_id("nope");
  auto reader = stub_->WatchMigration(&ctx, req);
  v1::Migration m;
  EXPECT_FALSE(reader->Read(&m));
  EXPECT_EQ(reader->Finish().error_code(), grpc::NOT_FOUND);
}

}  // namespace
}  // namespace volmigrate::workerd
