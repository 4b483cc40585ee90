// The migration machines' logic against a fake host and in-process peers: the
// whole sequence on both sides, every step run twice (as after a crash between
// a step's effects and its commit), refusals and rollback. The real kernel
// path is proven in tests/vm/migration_test.sh.
#include "migration/machines.h"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "common/test_util.h"
#include "fsm/diagram.h"
#include "host/fake_host.h"
#include "migration/plan.h"
#include "gtest/gtest.h"

namespace volmigrate::migration {
namespace {

using host::FakeHost;

// The LUKS2 mappings open on `h`.
std::set<std::string> Crypt(FakeHost& h) {
  std::set<std::string> out;
  for (const auto& [name, table] : h.dm.live)
    if (!table.empty() && table[0].type == "crypt") out.insert(name);
  return out;
}

struct Worker;

// Peer calls go straight to the other worker's functions.
class LoopPeers final : public Peers {
 public:
  std::map<std::string, Worker*> workers;
  std::atomic<bool> forgotten = false;  // destinations answer NotFound, as with a lost store
  absl::StatusOr<v1::HealthResponse> Health(const std::string& w) override;
  absl::StatusOr<v1::OfferMigrationResponse> Offer(const std::string& w, const v1::OfferMigrationRequest& r) override;
  absl::StatusOr<v1::Migration> GetMigration(const std::string& w, const std::string& id) override;
  absl::StatusOr<v1::CancelMigrationResponse> Cancel(const std::string& w, const std::string& id) override;
  absl::Status Report(const std::string&, const v1::ReportProgressRequest&) override { return absl::OkStatus(); }
  absl::StatusOr<v1::AllocationMap> GetAllocation(const std::string& w, const std::string& id,
                                                 const std::string& destination) override;
  std::atomic<bool> old_source = false;  // sources serve no map (UNIMPLEMENTED), as an older workerd
};

struct Worker {
  Worker(const std::string& name, LoopPeers* peers, bool twice) : twice_(twice) {
    dir = NewTempDir();
    store = std::move(*fsm::Store::Open(dir + "/state"));
    env.worker = name;
    env.portal = "169.254.0.1:3260";
    env.initiator_iqn = "iqn.2026-11.io.volmigrate:" + name;
    env.opts.consumer_start = "/start";
    env.opts.consumer_stop = "/stop";
    env.host = &host;
    env.peers = peers;
    env.store = store.get();
    env.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
    runner = NewRunner();
    peers->workers[name] = this;
  }
  ~Worker() { runner->Stop(); }

  // workerd's runner as a (re)started process makes it.
  std::unique_ptr<fsm::Runner> NewRunner() {
    auto made = std::make_unique<fsm::Runner>(
        store.get(), fsm::RunnerOptions{.max_concurrent = 2, .backoff_initial = absl::Milliseconds(5),
                                        .backoff_max = absl::Milliseconds(20)});
    for (fsm::MachineDef d : {SourceMachine(&env), DestinationMachine(&env)}) {
      // Twice: the first run's effects stay, its result is dropped, as when the
      // process dies after a step acted and before it committed.
      if (twice_)
        for (auto& [state, fn] : d.steps)
          fn = [f = fn](const fsm::StepContext& c) {
            (void)f(c);
            return f(c);
          };
      // Polls run every second in production; here at once.
      for (auto& [state, fn] : d.steps)
        fn = [f = fn](const fsm::StepContext& c) -> absl::StatusOr<fsm::Next> {
          auto r = f(c);
          if (r.ok() && r->state == c.state) r->wait = absl::Milliseconds(2);
          return r;
        };
      EXPECT_TRUE(made->Register(d).ok());
    }
    return made;
  }
  // The host lost its power: the runner's threads stop mid-flight, `reboot`
  // changes the kernel's state as a boot would, and the runner starts again.
  void PowerCycle(const std::function<void(FakeHost&)>& reboot) {
    runner->Stop();
    reboot(host);
    runner = NewRunner();
    ASSERT_TRUE(runner->Start().ok());
  }

  // Waits until `pred` holds for machine `id`; false after 20 s.
  bool WaitFor(const std::string& id, const std::function<bool(const fsm::Record&)>& pred) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (uint64_t v = runner->Version(); absl::Now() < deadline; v = runner->WaitForChange(v, deadline)) {
      auto r = store->Get(id);
      if (r.ok() && pred(*r)) return true;
    }
    return false;
  }
  // Waits for machine `id` to end; its final state.
  std::string Wait(const std::string& id) {
    std::string end = "timeout";
    WaitFor(id, [&](const fsm::Record& r) {
      if (r.terminal()) end = r.state() + (r.last_error().empty() ? "" : ": " + r.last_error());
      return r.terminal();
    });
    return end;
  }

  const bool twice_;
  std::string dir;
  std::unique_ptr<fsm::Store> store;
  FakeHost host{NewTempDir()};
  Env env;
  std::unique_ptr<fsm::Runner> runner;
};

absl::StatusOr<v1::HealthResponse> LoopPeers::Health(const std::string& w) {
  if (!workers.count(w)) return absl::UnavailableError(w + " is down");
  v1::HealthResponse h;
  h.set_worker(w);
  h.set_initiator_iqn(workers[w]->env.initiator_iqn);
  h.set_pool_free_bytes(workers[w]->host.pool_free);
  h.set_pool_size_bytes(workers[w]->host.pool_size);
  return h;
}
absl::StatusOr<v1::OfferMigrationResponse> LoopPeers::Offer(const std::string& w, const v1::OfferMigrationRequest& r) {
  ASSIGN_OR_RETURN(std::string st, AcceptOffer(&workers[w]->env, workers[w]->runner.get(), r));
  v1::OfferMigrationResponse out;
  out.set_accepted(true);
  out.set_destination_state(st);
  return out;
}
absl::StatusOr<v1::Migration> LoopPeers::GetMigration(const std::string& w, const std::string& id) {
  if (forgotten && w == "w2") return absl::NotFoundError("no machine " + id);
  ASSIGN_OR_RETURN(fsm::Record r, workers[w]->store->Get(id));
  return ViewOf(r);
}
absl::StatusOr<v1::CancelMigrationResponse> LoopPeers::Cancel(const std::string& w, const std::string& id) {
  if (forgotten && w == "w2") return absl::NotFoundError("no incoming migration " + id);
  ASSIGN_OR_RETURN(std::string st, CancelIncoming(&workers[w]->env, workers[w]->runner.get(), id, "w1"));
  v1::CancelMigrationResponse out;
  out.set_destination_state(st);
  return out;
}

absl::StatusOr<v1::AllocationMap> LoopPeers::GetAllocation(const std::string& w, const std::string& id,
                                                           const std::string& destination) {
  if (old_source) return absl::UnimplementedError("unknown method GetAllocation");
  return AllocationFor(&workers[w]->env, id, destination);
}

class MachinesTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    w1 = std::make_unique<Worker>("w1", &peers, GetParam());
    w2 = std::make_unique<Worker>("w2", &peers, GetParam());
    // vol-1 on w1: 4 MiB LUKS2 offset, open with its consumer.
    FakeHost& h = w1->host;
    ASSERT_TRUE(h.CreateLv("vol-1", 68u << 20, volumes::kVolumeTag).ok());
    ASSERT_TRUE(h.Format(h.LvPath("vol-1"), {.data_offset = 4u << 20}, "source key").ok());
    h.keys["vol-1"] = "source key";
    h.MapBlocks("vol-1", 64, 32);  // plaintext 0-2 MiB (regions 0-31 of the fake clone) holds data
    ASSERT_TRUE(h.OpenVolume("vol-1").ok());
    // The destination's clone covers the whole 68 MiB LV in 64 KiB regions:
    // the header's first block (region 0) and the data (regions 64-95) hold
    // something on the source.
    w2->host.dm.total = (68u << 20) / FakeHost::kBlockBytes;
  }
  // Each worker's steps call into the other's store and runner (LoopPeers):
  // both runners stop before either worker is destroyed. workerd has the same
  // rule in one process: Daemon::Shutdown stops the runner before anything its
  // steps use is destroyed.
  void TearDown() override {
    w1->runner->Stop();
    w2->runner->Stop();
  }
  // Another closed volume on w1 like vol-1 (68 MiB, 2 MiB of data, key "k").
  void AddVolume(const std::string& name) {
    ASSERT_TRUE(w1->host.CreateLv(name, 68u << 20, volumes::kVolumeTag).ok());
    ASSERT_TRUE(w1->host.Format(w1->host.LvPath(name), {.data_offset = 4u << 20}, "k").ok());
    w1->host.keys[name] = "k";
    w1->host.MapBlocks(name, 64, 32);
  }
  void Start() {
    ASSERT_TRUE(w1->runner->Start().ok());
    ASSERT_TRUE(w2->runner->Start().ok());
  }
  // Starts vol-1's migration to w2 with kcopyd held, and waits for HYDRATING.
  void StartHeldInHydration(std::string* id) {
    w2->host.dm.hold = true;
    Start();
    auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
    ASSERT_TRUE(m.ok()) << m.status();
    *id = m->id();
    ASSERT_TRUE(w2->WaitFor(*id, [](const fsm::Record& r) { return r.state() == "HYDRATING"; }));
  }

  LoopPeers peers;
  std::unique_ptr<Worker> w1, w2;
};

TEST(MachineDiagrams, TheHeaderDrawsEveryEdgeOfBothTables) {
  Env env;
  EXPECT_EQ(fsm::CheckDrawings(SourceFile("migration/machines.h"), {SourceMachine(&env), DestinationMachine(&env)}), "");
}

TEST_P(MachinesTest, MigratesEndToEndLeavingNothingBehind) {
  w1->host.WriteBlocks("vol-1", 70, std::string(FakeHost::kBlockBytes, 'x'));  // ciphertext of some data
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(w1->Wait(m->id()), "DONE");
  EXPECT_EQ(w2->Wait(m->id()), "DONE");

  FakeHost &src = w1->host, &dst = w2->host;
  EXPECT_EQ(src.exports_created, 1);  // once, even with every step run twice
  EXPECT_TRUE(src.exports.empty());
  EXPECT_EQ(src.hooks, std::vector<std::string>{"/stop vol-1"});
  EXPECT_FALSE(src.lvs.count("vol-1"));
  EXPECT_EQ(src.lvs[m->id() + "-retired"].tags, std::vector<std::string>{volumes::kRetiredTag});
  EXPECT_EQ(src.keys[m->id() + "-retired"], "source key");

  EXPECT_EQ(dst.logins, 1);
  EXPECT_TRUE(dst.sessions.empty());
  EXPECT_EQ(dst.ReadHeader(dst.LvPath("vol-1"))->layout.data_offset, 4u << 20);  // the source's layout, not a default
  // The volume's LUKS2 mapping over the clone, now a linear map onto the LV
  // that holds every byte the source held: the ciphertext was copied.
  EXPECT_EQ(Crypt(dst), std::set<std::string>{"vol-1"});
  EXPECT_EQ(dst.dm.live["vol-1"][0].params, "/dev/mapper/vol-1-clone");
  EXPECT_EQ(dst.dm.live["vol-1-clone"][0].type, "linear");
  EXPECT_EQ(dst.Bytes("vol-1"), src.Bytes(m->id() + "-retired"));
  EXPECT_EQ(dst.Bytes("vol-1").substr(70 * FakeHost::kBlockBytes, 4), "xxxx");
  EXPECT_FALSE(dst.lvs.count(m->id() + "-meta"));
  EXPECT_FALSE(dst.keys.count(m->id() + "-src"));
  EXPECT_EQ(dst.keys["vol-1"], "source key");  // the ciphertext keeps its key
  EXPECT_EQ(dst.hooks.front(), "/start vol-1");

  // The linear map went over the destination only once the clone's metadata
  // on disk (not only the kernel's memory) had every region.
  EXPECT_EQ(dst.dm.committed_at_swap, dst.dm.total);

  auto view = ViewOf(*w2->store->Get(m->id()));
  EXPECT_GT(view->blackout_seconds(), 0);
  EXPECT_EQ(view->progress().hydrated_bytes(), view->progress().total_bytes());
  // All but the header's first block and the data: the source holds nothing there.
  EXPECT_EQ(view->progress().discarded_bytes(), (1088u - 33) * 65536);
}

TEST_P(MachinesTest, TheRetiredCopyIsListedAndExpiresAfterItsGrace) {
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(w1->Wait(m->id()), "DONE");
  ASSERT_EQ(w2->Wait(m->id()), "DONE");
  w1->runner->Stop();  // as a restart would: the timer is the record's end time
  w1->env.opts.retire_after_seconds = 60;
  auto list = ListRetired(&w1->env);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  const RetiredCopy c = (*list)[0];
  EXPECT_EQ(c.name, m->id() + "-retired");
  EXPECT_EQ(c.volume, "vol-1");
  EXPECT_EQ(c.migration_id, m->id());
  EXPECT_GT(c.retired_unix_ms, 0);
  EXPECT_EQ(c.expires_unix_ms, c.retired_unix_ms + 60000);
  EXPECT_TRUE(ExpireRetired(&w1->env)->empty());  // not yet
  EXPECT_TRUE(w1->host.lvs.count(c.name));

  w1->env.now_ms = [t = c.expires_unix_ms] { return t; };
  auto purged = ExpireRetired(&w1->env);
  ASSERT_TRUE(purged.ok()) << purged.status();
  ASSERT_EQ(purged->size(), 1u);
  EXPECT_FALSE(w1->host.lvs.count(c.name));
  EXPECT_FALSE(w1->host.keys.count(c.name));
  EXPECT_TRUE(ListRetired(&w1->env)->empty());
  // Only retired copies are purged, and this one is gone.
  EXPECT_EQ(PurgeRetired(&w1->env, c.name).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(PurgeRetired(&w1->env, "vol-1").code(), absl::StatusCode::kNotFound);
}

TEST_P(MachinesTest, NeverIsNeverAndACopyWithoutItsRecordIsKept) {
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(w1->Wait(m->id()), "DONE");
  ASSERT_EQ(w2->Wait(m->id()), "DONE");
  w1->runner->Stop();
  w1->env.now_ms = [] { return absl::ToUnixMillis(absl::Now() + absl::Hours(24 * 365)); };
  w1->env.opts.retire_after_seconds = 0;
  EXPECT_TRUE(ExpireRetired(&w1->env)->empty());
  w1->env.opts.retire_after_seconds = 60;
  w1->host.lvs["m-gone-retired"] = {.name = "m-gone-retired", .tags = {volumes::kRetiredTag}};
  auto purged = ExpireRetired(&w1->env);
  ASSERT_EQ(purged->size(), 1u);  // the dated one only
  EXPECT_TRUE(w1->host.lvs.count("m-gone-retired"));
  EXPECT_EQ(ListRetired(&w1->env)->at(0).expires_unix_ms, 0);
  EXPECT_TRUE(PurgeRetired(&w1->env, "m-gone-retired").ok());  // by hand it goes
  EXPECT_FALSE(w1->host.lvs.count("m-gone-retired"));
}

TEST_P(MachinesTest, OnlyRegionsHoldingDataAreCopiedTheRestMarkedBeforeBoot) {
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(w1->Wait(m->id()), "DONE");
  // The map is taken for the room check, and again once nothing writes.
  EXPECT_EQ(w1->host.events, (std::vector<std::string>{"map vol-1", "/stop vol-1", "map vol-1"}));
  // Regions 1-63 (the header's unused part) and 96 on hold nothing on the
  // source: marked before the consumer started, and nothing else was.
  EXPECT_EQ(w2->host.events.at(0), "discard /dev/mapper/vol-1-clone");
  EXPECT_EQ(w2->host.events.at(1), "/start vol-1");
  EXPECT_EQ(w2->host.marked.size(), 1088u - 33);
  EXPECT_EQ(*w2->host.marked.begin(), 1u);
  EXPECT_FALSE(w2->host.marked.count(64));
  EXPECT_TRUE(w2->host.marked.count(96));
  MigrationState src;
  ASSERT_TRUE(src.ParseFromString(w1->store->Get(m->id())->data()));
  EXPECT_EQ(src.allocated_bytes(), (2u << 20) + 65536);  // what the offer asked room for: data and header
  EXPECT_FALSE(src.has_allocation());           // dropped once the destination booted
}

TEST_P(MachinesTest, TheMapIsServedToTheDestinationOnlyAndOnlyOnceFenced) {
  ASSERT_TRUE(w2->host.CreateLv("vol-1", 1 << 20, volumes::kVolumeTag).ok());  // the offer is refused: no fence
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(AllocationFor(&w1->env, m->id(), "w7").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AllocationFor(&w1->env, "m-none", "w2").status().code(), absl::StatusCode::kNotFound);
  w1->Wait(m->id());
  auto early = AllocationFor(&w1->env, m->id(), "w2");
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition) << early.status();
}

TEST_P(MachinesTest, AnEmptyMapOfAVolumeHoldingDataStopsBeforeTheFence) {
  w1->host.blocks["vol-1"].clear();  // as a wrong thin id would give
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  std::string end = w1->Wait(m->id());
  EXPECT_NE(end.find("maps nothing, but lvm says vol-1 holds"), std::string::npos) << end;
  EXPECT_TRUE(w1->host.hooks.empty());  // never fenced
  EXPECT_TRUE(Crypt(w1->host).count("vol-1"));
}

TEST_P(MachinesTest, AnOlderSourceWithoutAMapHasEverythingCopied) {
  peers.old_source = true;
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(w2->Wait(m->id()), "DONE");
  EXPECT_TRUE(w2->host.marked.empty());
  EXPECT_EQ(ViewOf(*w2->store->Get(m->id()))->progress().discarded_bytes(), 544u * 65536);  // fstrim's, still
}

TEST_P(MachinesTest, AdmissionCountsDataMetadataAndTheReserve) {
  v1::OfferMigrationRequest req;
  req.set_migration_id("m-1");
  req.set_volume_id("vol-9");
  req.set_source_worker("w1");
  req.set_size_bytes(64u << 20);
  req.set_device_bytes(68u << 20);
  req.mutable_luks()->set_data_offset_bytes(4u << 20);
  req.set_allocated_bytes(2u << 20);
  w2->host.pool_free = 74u << 20;
  auto refused = AcceptOffer(&w2->env, w2->runner.get(), req);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("worker w2 has 77594624 bytes free in its thin pool; volume vol-9 needs "
                                            "11534336 (2097152 the source holds, LUKS2 header included, and 9437184 "
                                            "of clone metadata) and 67108864 more stay free"),
            std::string::npos)
      << refused.status();
  EXPECT_TRUE(w2->store->List()->empty());
  EXPECT_FALSE(w2->host.keys.count("vol-9"));
  w2->host.pool_free = 75u << 20;
  EXPECT_TRUE(AcceptOffer(&w2->env, w2->runner.get(), req).ok());
}

// An incoming record from a workerd that cloned the plaintext: its stack is
// not this one's, so its steps wait without touching the host.
TEST_P(MachinesTest, AnIncomingRecordOfTheOlderLayoutIsLeftAlone) {
  v1::OfferMigrationRequest req;
  req.set_migration_id("m-1");
  req.set_volume_id("vol-9");
  req.set_source_worker("w1");
  req.set_size_bytes(64u << 20);
  req.set_device_bytes(68u << 20);
  req.mutable_luks()->set_data_offset_bytes(4u << 20);
  ASSERT_TRUE(AcceptOffer(&w2->env, w2->runner.get(), req).ok());
  fsm::Record r = *w2->store->Get("m-1");
  MigrationState st;
  ASSERT_TRUE(st.ParseFromString(r.data()));
  EXPECT_TRUE(st.ciphertext_clone());
  st.clear_ciphertext_clone();
  r.set_data(st.SerializeAsString());
  ASSERT_TRUE(w2->store->Commit(r, "ACCEPTED", "").ok());
  Start();
  ASSERT_TRUE(w2->WaitFor("m-1", [](const fsm::Record& got) {
    return absl::StrContains(got.last_error(), "accepted by a workerd that cloned the plaintext");
  }));
  EXPECT_EQ(w2->store->Get("m-1")->state(), "ACCEPTED");
  EXPECT_FALSE(w2->host.lvs.count("vol-9"));
  EXPECT_TRUE(w2->host.dm.live.empty());
}

TEST_P(MachinesTest, ALowPoolPausesHydrationAndNamesTheDestination) {
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartHeldInHydration(&id));
  w2->host.pool_free = 10u << 20;  // below the 64 MiB reserve: another tenant, or a mistake
  w2->host.dm.hold = false;
  std::string reason;
  ASSERT_TRUE(w2->WaitFor(id, [&](const fsm::Record& r) {
    reason = ViewOf(r)->progress().stall_reason();
    return ViewOf(r)->progress().stalled();
  }));
  EXPECT_NE(reason.find("hydration paused: the destination's thin pool on w2 has 10485760 bytes free"),
            std::string::npos)
      << reason;
  EXPECT_EQ(w2->store->Get(id)->state(), "HYDRATING");
  w2->host.pool_free = 1u << 30;
  EXPECT_EQ(w2->Wait(id), "DONE");
}

// dm-clone starts copies only while the clone has no I/O in flight: while the
// consumer keeps it busy, hydration starts more regions at a time; once it
// lets up, the configured depth again.
TEST_P(MachinesTest, ABusyConsumerDeepensHydrationUntilItLetsUp) {
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartHeldInHydration(&id));
  dm::FakeDm& clone = w2->host.dm;
  w2->host.busy_ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  w2->host.consumer_busy = true;
  ASSERT_TRUE(w2->WaitFor(id, [&](const fsm::Record&) { return clone.threshold == 1024 && clone.batch == 128; }));
  w2->host.consumer_busy = false;
  ASSERT_TRUE(w2->WaitFor(id, [&](const fsm::Record&) { return clone.threshold == 256 && clone.batch == 32; }));
  clone.hold = false;
  EXPECT_EQ(w2->Wait(id), "DONE");
}

// The depth only speeds the copy up: a clone whose I/O counters cannot be
// read still hydrates and cuts over, at the configured depth.
TEST_P(MachinesTest, UnreadableIoCountersLeaveTheDepthAlone) {
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartHeldInHydration(&id));
  w2->host.busy_unreadable = true;
  w2->host.dm.hold = false;
  EXPECT_EQ(w2->Wait(id), "DONE");
  EXPECT_EQ(w2->host.dm.threshold, 256u);
}

// A rate cap is kept by pausing hydration between polls: a deep start would
// copy far past it (seen in vm_migration: held to 1 MiB/s, 48 MiB copied in a
// few seconds). Under a cap the configured depth stays, busy or not.
TEST_P(MachinesTest, UnderARateCapHydrationNeverDeepens) {
  w2->env.opts.hydration_max_bytes_per_second = 1 << 20;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartHeldInHydration(&id));
  dm::FakeDm& clone = w2->host.dm;
  w2->host.busy_ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  w2->host.consumer_busy = true;
  // Three polls busy (a poll leaves the record as it was: count them here).
  const int seen = w2->host.pool_reads;
  for (int i = 0; i < 200 && w2->host.pool_reads < seen + 3; ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_GE(w2->host.pool_reads, seen + 3);
  EXPECT_EQ(clone.threshold, 256u);
  EXPECT_EQ(clone.batch, 32u);
  w2->host.consumer_busy = false;
  clone.hold = false;
  EXPECT_EQ(w2->Wait(id), "DONE");
}

TEST_P(MachinesTest, RefusedOfferRollsBackBeforeTheFence) {
  ASSERT_TRUE(w2->host.CreateLv("vol-1", 1 << 20, volumes::kVolumeTag).ok());  // already there
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  std::string end = w1->Wait(m->id());
  EXPECT_TRUE(absl::StartsWith(end, "FAILED")) << end;
  EXPECT_NE(end.find("rolled back: destination refused the offer: ALREADY_EXISTS: volume vol-1 already exists on "
                     "worker w2"),
            std::string::npos)
      << end;
  FakeHost& src = w1->host;
  EXPECT_TRUE(src.exports.empty());
  EXPECT_TRUE(Crypt(src).count("vol-1"));  // refused before the fence: never stopped
  EXPECT_TRUE(src.hooks.empty());
  EXPECT_TRUE(src.lvs.count("vol-1"));
}

// The destination logs in and opens its view of the source before the source
// fences: a login the target refuses ends the migration with the consumer
// never stopped, and nothing left on either side.
TEST_P(MachinesTest, ARefusedLoginRollsBackBeforeTheFence) {
  w2->host.refuse_logins = 1 << 30;
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  std::string end = w1->Wait(m->id());
  EXPECT_TRUE(absl::StartsWith(end, "FAILED")) << end;
  EXPECT_NE(end.find("refused: target not found"), std::string::npos) << end;
  FakeHost &src = w1->host, &dst = w2->host;
  EXPECT_TRUE(src.hooks.empty());  // never stopped
  EXPECT_TRUE(Crypt(src).count("vol-1"));
  EXPECT_TRUE(src.exports.empty());
  EXPECT_TRUE(dst.sessions.empty());
  EXPECT_FALSE(dst.lvs.count("vol-1"));
  EXPECT_TRUE(Crypt(dst).empty());
}

TEST_P(MachinesTest, StartRefusesWithoutChangingAnything) {
  Start();
  EXPECT_EQ(StartMigration(&w1->env, w1->runner.get(), "nope", "w2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(StartMigration(&w1->env, w1->runner.get(), "vol-1", "w9").status().code(), absl::StatusCode::kUnavailable);
  w2->host.pool_free = 1 << 20;
  auto full = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("destination w2 has 1048576 bytes free"), std::string::npos);
  EXPECT_TRUE(w1->store->List()->empty());
  EXPECT_TRUE(w1->host.hooks.empty());
}

TEST_P(MachinesTest, CancelIsRefusedOnceTheDestinationBooted) {
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(w2->Wait(m->id()), "DONE");
  auto c = CancelIncoming(&w2->env, w2->runner.get(), m->id(), "w1");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("only goes forward"), std::string::npos);
  EXPECT_EQ(CancelIncoming(&w2->env, w2->runner.get(), m->id(), "w7").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(MachinesTest, DrainRunsAtMostTheLimitAtOnce) {
  for (const char* v : {"vol-2", "vol-3"}) ASSERT_NO_FATAL_FAILURE(AddVolume(v));
  Start();
  auto d = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->migration_ids_size(), 3);
  // Resumable: asking again returns the same drain.
  EXPECT_EQ(StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1)->id(), d->id());
  std::vector<std::pair<int64_t, int64_t>> spans;  // PREPARING .. terminal, per migration
  for (const std::string& id : d->migration_ids()) {
    EXPECT_EQ(w1->Wait(id), "DONE");
    int64_t from = 0, to = 0;
    auto history = w1->store->History(id);
    ASSERT_TRUE(history.ok());
    for (const auto& h : *history) {
      if (h.to() == "PREPARING") from = h.at_ms();
      if (h.to() == "DONE") to = h.at_ms();
    }
    spans.emplace_back(from, to);
  }
  for (size_t i = 0; i < spans.size(); ++i)
    for (size_t j = i + 1; j < spans.size(); ++j)
      EXPECT_TRUE(spans[i].second <= spans[j].first || spans[j].second <= spans[i].first) << "overlap " << i << " " << j;
}

// A plan changes nothing, is the same when asked again, assumes the
// configured rate for a link nothing measured, and the measured one after a
// migration over it; a volume that fits nowhere refuses the whole drain
// before anything starts.
TEST_P(MachinesTest, ADrainPlanChangesNothingAndLearnsTheLinkRate) {
  ASSERT_TRUE(w1->host.CreateLv("vol-2", 132u << 20, volumes::kVolumeTag).ok());
  ASSERT_TRUE(w1->host.Format(w1->host.LvPath("vol-2"), {.data_offset = 4u << 20}, "k").ok());
  w1->host.keys["vol-2"] = "k";
  Start();
  auto plan = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1, /*plan_only=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->state(), "PLANNED");
  EXPECT_TRUE(plan->id().empty());
  ASSERT_EQ(plan->plan_size(), 2);
  EXPECT_EQ(plan->plan(0).volume_id(), "vol-2");  // biggest first
  EXPECT_EQ(plan->plan(0).destination_worker(), "w2");
  EXPECT_FALSE(plan->plan(0).rate_measured());
  EXPECT_DOUBLE_EQ(plan->plan(0).rate_bytes_per_second(), 10u << 20);
  EXPECT_DOUBLE_EQ(plan->plan(0).eta_seconds(), static_cast<double>(plan->plan(0).bytes()) / (10u << 20));
  // One at a time: the whole drain takes the sum.
  EXPECT_DOUBLE_EQ(plan->eta_seconds(), plan->plan(0).eta_seconds() + plan->plan(1).eta_seconds());
  EXPECT_TRUE(w1->store->List()->empty());
  EXPECT_EQ(StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1, true)->DebugString(), plan->DebugString());

  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(w1->Wait(m->id()), "DONE");
  auto rates = LinkRates(*w1->store->List());
  ASSERT_TRUE(rates.ok()) << rates.status();
  ASSERT_TRUE(rates->count("w2"));
  auto again = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1, true);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->plan_size(), 1);
  EXPECT_TRUE(again->plan(0).rate_measured());
  EXPECT_DOUBLE_EQ(again->plan(0).rate_bytes_per_second(), rates->at("w2"));

  w2->host.pool_free = 10u << 20;  // vol-2 fits nowhere
  auto refused = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "started nothing")) << refused.status();
}

// A drain of two volumes one at a time, aborted while the first hydrates
// (held) and the second waits: the first finishes, the second rolls back;
// draining again resumes with the volume still here.
TEST_P(MachinesTest, ADrainAbortedMidwayFinishesWhatBootedAndResumes) {
  ASSERT_NO_FATAL_FAILURE(AddVolume("vol-2"));
  w2->host.dm.hold = true;
  Start();
  auto d = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->migration_ids_size(), 2);
  // The slot goes to whichever queued machine steps first, not to the plan's
  // first: the one that reaches HYDRATING is `first`.
  std::string first = d->migration_ids(0), second = d->migration_ids(1);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  auto hydrating = [&](const std::string& id) {
    auto r = w2->store->Get(id);
    return r.ok() && r->state() == "HYDRATING";
  };
  for (uint64_t v = w2->runner->Version(); !hydrating(first) && !hydrating(second) && absl::Now() < deadline;)
    v = w2->runner->WaitForChange(v, deadline);
  if (hydrating(second)) std::swap(first, second);
  ASSERT_TRUE(hydrating(first));
  auto running = GetDrain(&w1->env, "");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->id(), d->id());
  EXPECT_EQ(running->state(), "RUNNING");
  EXPECT_EQ(running->ended(), 0u);
  EXPECT_GT(running->remaining_seconds(), 0);

  auto aborted = AbortDrain(&w1->env, w1->runner.get(), d->id());
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  ASSERT_EQ(aborted->rolling_back_ids_size(), 1);
  EXPECT_EQ(aborted->rolling_back_ids(0), second);
  EXPECT_EQ(w1->Wait(second), "ABORTED");
  w2->host.dm.hold = false;
  EXPECT_EQ(w1->Wait(first), "DONE");
  auto ended = GetDrain(&w1->env, d->id());
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), "ENDED");
  EXPECT_EQ(ended->ended(), 2u);
  EXPECT_EQ(AbortDrain(&w1->env, w1->runner.get(), d->id()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetDrain(&w1->env, "").status().code(), absl::StatusCode::kNotFound);  // none running

  auto resumed = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(resumed->migration_ids_size(), 1);
  EXPECT_EQ(w1->Wait(resumed->migration_ids(0)), "DONE");
  EXPECT_EQ(GetDrain(&w1->env, resumed->id())->state(), "DONE");
  EXPECT_TRUE(w2->host.lvs.count("vol-1") && w2->host.lvs.count("vol-2"));
}

// w1 holds vol-2 (13.6 MiB allocated), vol-1 and vol-3 (6.8 each: the fake
// allocates 10 % of an LV) in a 1 GiB pool; w2's 1 GiB pool is empty.
TEST_P(MachinesTest, ARebalanceMovesWhatEvensThePools) {
  for (const char* v : {"vol-2", "vol-3"}) ASSERT_NO_FATAL_FAILURE(AddVolume(v));
  w1->host.lvs["vol-2"].data_percent = 20;
  const uint64_t held = w1->host.GetLv("vol-1")->allocated_bytes() + w1->host.GetLv("vol-2")->allocated_bytes() +
                        w1->host.GetLv("vol-3")->allocated_bytes();
  w1->host.pool_size = w2->host.pool_size = w2->host.pool_free = 1u << 30;
  w1->host.pool_free = (1u << 30) - held;
  Start();
  auto plan = StartRebalance(&w1->env, w1->runner.get(), {}, {"w2"}, 2, RebalanceTarget{}, /*plan_only=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->state(), "PLANNED");
  // vol-2 alone leaves 13.6 MiB on each.
  ASSERT_EQ(plan->plan_size(), 1) << plan->DebugString();
  EXPECT_EQ(plan->plan(0).volume_id(), "vol-2");
  ASSERT_EQ(plan->pools_size(), 2);
  EXPECT_EQ(plan->pools(0).worker(), "w1");
  EXPECT_EQ(plan->pools(0).used_bytes(), held);
  EXPECT_EQ(plan->pools(0).planned_used_bytes(), held - plan->plan(0).bytes());
  EXPECT_EQ(plan->pools(1).planned_used_bytes(), plan->plan(0).bytes());
  EXPECT_TRUE(w1->store->List()->empty());  // nothing changed
  auto again = StartRebalance(&w1->env, w1->runner.get(), {}, {"w2"}, 2, RebalanceTarget{}, true);
  EXPECT_EQ(again->DebugString(), plan->DebugString());  // deterministic

  // Under a ceiling of 1 % (10.24 MiB) per pool: vol-2 would put w2 over it,
  // vol-3 fits (of two equal, the later name goes first), and then vol-1
  // would not: one move, w1 still over.
  auto ceiling = StartRebalance(&w1->env, w1->runner.get(), {}, {"w2"}, 2, RebalanceTarget{.ceiling_percent = 1}, true);
  ASSERT_TRUE(ceiling.ok()) << ceiling.status();
  ASSERT_EQ(ceiling->plan_size(), 1) << ceiling->DebugString();
  EXPECT_EQ(ceiling->plan(0).volume_id(), "vol-3");

  // Three equal volumes: one moves (2 : 1); a second would leave w2 over the
  // mean's 10 % (1 : 2), however little the volumes differ.
  w1->host.lvs["vol-2"].data_percent = 10.01;
  w1->host.pool_free = (1u << 30) - 3 * w1->host.GetLv("vol-1")->allocated_bytes();
  auto equal = StartRebalance(&w1->env, w1->runner.get(), {}, {"w2"}, 2, RebalanceTarget{}, true);
  ASSERT_TRUE(equal.ok()) << equal.status();
  EXPECT_EQ(equal->plan_size(), 1) << equal->DebugString();
  w1->host.lvs["vol-2"].data_percent = 20;
  w1->host.pool_free = (1u << 30) - held;

  auto run = StartRebalance(&w1->env, w1->runner.get(), {}, {"w2"}, 2, RebalanceTarget{});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), "RUNNING");
  EXPECT_TRUE(absl::StartsWith(run->id(), "r-")) << run->id();
  ASSERT_EQ(run->migration_ids_size(), 1);
  ASSERT_EQ(w1->Wait(run->migration_ids(0)), "DONE");
  EXPECT_TRUE(w2->host.lvs.count("vol-2"));
  EXPECT_TRUE(w1->host.lvs.count("vol-1") && w1->host.lvs.count("vol-3"));
}

// A sealed volume may not migrate: a drain refuses to start, a rebalance
// plans around it (it counts where it is) and says so.
TEST_P(MachinesTest, ARebalanceKeepsASealedVolumeWhereItIs) {
  ASSERT_NO_FATAL_FAILURE(AddVolume("vol-2"));
  w1->host.lvs["vol-2"].data_percent = 20;
  ASSERT_TRUE(w1->host.Snapshot("vol-2", "vol-2_p1").ok());
  w1->host.pool_size = w2->host.pool_size = w2->host.pool_free = 1u << 30;
  w1->host.pool_free = (1u << 30) - 3 * w1->host.GetLv("vol-1")->allocated_bytes();
  Start();
  auto drain = StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1, /*plan_only=*/true);
  EXPECT_TRUE(absl::IsFailedPrecondition(drain.status()) && absl::StrContains(drain.status().message(), "sealed"))
      << drain.status();
  auto plan = StartRebalance(&w1->env, w1->runner.get(), {}, {"w2"}, 2, RebalanceTarget{}, /*plan_only=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->plan_size(), 1) << plan->DebugString();
  EXPECT_EQ(plan->plan(0).volume_id(), "vol-1");
  ASSERT_EQ(plan->kept_size(), 1);
  EXPECT_TRUE(absl::StartsWith(plan->kept(0), "vol-2: volume vol-2 is sealed")) << plan->kept(0);
}

// A fence that fails (the stop hook exits non-zero) is before any boot: the
// source rolls back like an abort, export gone and consumer started again,
// instead of ending FAILED with the workload down.
TEST_P(MachinesTest, AFailedFenceRollsBack) {
  w1->host.fail_hook = "/stop";
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  std::string end = w1->Wait(m->id());
  EXPECT_TRUE(absl::StrContains(end, "rolled back: FAILED_PRECONDITION: /stop exited with status 1")) << end;
  EXPECT_EQ(w2->Wait(m->id()), "ABORTED");
  EXPECT_TRUE(w1->host.exports.empty());
  EXPECT_TRUE(Crypt(w1->host).count("vol-1"));
  EXPECT_EQ(w1->host.hooks, std::vector<std::string>{"/start vol-1"});
  // The destination had its clone and the LUKS2 mapping on it before the
  // fence (which never came), and the rollback took everything away.
  const std::vector<std::string>& calls = w2->host.dm.calls;
  EXPECT_NE(std::find(calls.begin(), calls.end(), "create vol-1-clone"), calls.end());
  EXPECT_NE(std::find(calls.begin(), calls.end(), "create vol-1"), calls.end());
  EXPECT_TRUE(w2->host.dm.live.empty());
  EXPECT_TRUE(w2->host.sessions.empty());
  EXPECT_TRUE(w2->host.hooks.empty());
  EXPECT_FALSE(w2->host.keys.count("vol-1"));
  EXPECT_FALSE(w2->host.lvs.count("vol-1"));
  EXPECT_EQ(*w1->store->HolderOf("vol-1"), "") << "an ended machine holds nothing";
}

// Once the destination may have started its consumer (it committed BOOTING),
// nothing reopens the source's copy: not the destination failing, not an
// abort, not the destination forgetting the migration. The source keeps the
// volume fenced, exported and held, and says why.
TEST_P(MachinesTest, AConsumerThatMayRunIsNeverRolledBack) {
  w2->host.fail_hook = "/start";
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  // The destination neither fails nor rolls back: it retries and says why.
  ASSERT_TRUE(w2->WaitFor(m->id(), [](const fsm::Record& r) {
    return r.state() == "BOOTING" && absl::StrContains(r.last_error(), "/start exited with status 1 (retried");
  }));
  ASSERT_TRUE(w1->WaitFor(m->id(), [](const fsm::Record& r) {
    MigrationState st;
    return r.state() == "WAITING" && st.ParseFromString(r.data()) && st.destination_booted();
  }));
  auto fenced = [&](const std::string& state) {
    auto r = w1->store->Get(m->id());
    EXPECT_EQ(r->state(), state);
    EXPECT_FALSE(r->terminal());
    EXPECT_FALSE(Crypt(w1->host).count("vol-1"));
    EXPECT_EQ(w1->host.hooks, std::vector<std::string>{"/stop vol-1"});
    EXPECT_EQ(w1->host.exports.size(), 1u);
    EXPECT_EQ(*w1->store->HolderOf("vol-1"), m->id());
  };
  fenced("WAITING");
  absl::Status abort = AbortMigration(&w1->env, w1->runner.get(), m->id());
  EXPECT_TRUE(absl::IsFailedPrecondition(abort)) << abort;
  fenced("WAITING");

  peers.forgotten = true;
  ASSERT_TRUE(w1->runner->Cancel(m->id()).ok());
  ASSERT_TRUE(w1->WaitFor(m->id(), [](const fsm::Record& r) {
    return r.state() == "ROLLBACK" && absl::StrContains(r.last_error(), "cannot confirm this migration");
  }));
  fenced("ROLLBACK");
}

// Issue 12, scenario 7: the source reboots while the destination hydrates.
// tgt comes back empty: the source makes its export again from WAITING; the
// destination (its I/O to the source waiting meanwhile) carries on.
TEST_P(MachinesTest, SourceRebootMidHydrationExportsAgain) {
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartHeldInHydration(&id));
  ASSERT_TRUE(w1->WaitFor(id, [](const fsm::Record& r) { return r.state() == "WAITING"; }));
  w1->PowerCycle([](FakeHost& h) { h.exports.clear(); });  // tgt keeps nothing across a boot
  w2->host.dm.hold = false;
  EXPECT_EQ(w1->Wait(id), "DONE");
  EXPECT_EQ(w2->Wait(id), "DONE");
  EXPECT_EQ(w1->host.exports_created, 2);  // made again after the reboot
  EXPECT_TRUE(w1->host.exports.empty());
}

// The destination's consumer is running when its source disk goes offline.
TEST_P(MachinesTest, AnOfflineSourceDiskIsSetRunningOnceItsSessionIsBack) {
  w2->host.disk_state = "offline";
  Start();
  auto m = StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(w2->Wait(m->id()), "DONE");
  EXPECT_EQ(w2->host.revived, 1);
  EXPECT_EQ(w2->host.disk_state, "running");
}

// The destination reboots after its consumer booted, and the source's target
// is not there yet when it logs in again (iscsiadm's "non-retryable" refusal):
// past the boot there is no rollback, so it retries until the login works,
// rather than ending FAILED and leaving the clone behind untracked.
TEST_P(MachinesTest, ARefusedLoginAfterBootIsRetried) {
  std::string id;
  ASSERT_NO_FATAL_FAILURE(StartHeldInHydration(&id));
  w2->PowerCycle([](FakeHost& h) {
    h.dm.live.clear();
    h.dm.hydrated = h.dm.committed;
    h.dm.hydrating = false;
    h.sessions.clear();
    h.refuse_logins = 1 << 30;
    h.dm.hold = false;
  });
  ASSERT_TRUE(w2->WaitFor(id, [](const fsm::Record& r) {
    return r.state() == "HYDRATING" &&
           absl::StrContains(r.last_error(), "refused: target not found (retried: the migration only goes forward)");
  }));
  w2->host.refuse_logins = 0;  // the source's export is back
  EXPECT_EQ(w2->Wait(id), "DONE");
  EXPECT_EQ(w1->Wait(id), "DONE");
}

// Runs `n` calls of `fn(i)` at the same moment; their results.
template <typename F>
auto AtOnce(int n, const F& fn) {
  std::vector<decltype(fn(0))> out(n);
  std::atomic<int> ready = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < n) std::this_thread::yield();
      out[i] = fn(i);
    });
  for (auto& t : threads) t.join();
  return out;
}

// A drain, a manual migrate and a scheduler's retry of one volume at the same
// moment: one machine holds it; every other caller is told who does.
TEST_P(MachinesTest, StartsOfOneVolumeAtOnceMakeOneMachine) {
  // The runners start afterwards: the calls race each other, not the steps.
  auto results = AtOnce(8, [&](int i) {
    return i % 2 ? StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 0).status()
                 : StartMigration(&w1->env, w1->runner.get(), "vol-1", "w2").status();
  });
  for (const absl::Status& s : results) {
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsFailedPrecondition(s) && absl::StrContains(s.message(), "held by")) << s;
    }
  }
  auto all = w1->store->List();
  ASSERT_TRUE(all.ok());
  std::vector<std::string> machines;
  for (const fsm::Record& r : *all) machines.push_back(r.id());
  ASSERT_EQ(machines.size(), 1u);
  Start();
  EXPECT_EQ(w1->Wait(machines[0]), "DONE");
  EXPECT_EQ(w2->Wait(machines[0]), "DONE");
}

// Two operators drain the worker at the same moment: both are told of one
// drain, which holds every volume.
TEST_P(MachinesTest, DrainsAtOnceAreOneDrain) {
  for (const char* v : {"vol-2", "vol-3"}) ASSERT_NO_FATAL_FAILURE(AddVolume(v));
  auto results = AtOnce(4, [&](int) { return StartDrain(&w1->env, w1->runner.get(), {}, {"w2"}, 1); });
  for (const auto& d : results) {
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->id(), results[0]->id());
    EXPECT_EQ(d->migration_ids_size(), 3);
  }
  auto all = w1->store->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  Start();
  for (const std::string& id : results[0]->migration_ids()) EXPECT_EQ(w1->Wait(id), "DONE");
}

// Two sources (or a confused one) offer the same volume name at once: one
// offer is taken; the refused ones leave nothing (no key, no record).
TEST_P(MachinesTest, OffersOfOneVolumeAtOnceAdmitOne) {
  auto results = AtOnce(8, [&](int i) {
    v1::OfferMigrationRequest o;
    o.set_migration_id(absl::StrCat("m-", i));
    o.set_volume_id("vol-9");
    o.set_source_worker("w1");
    o.set_size_bytes(64u << 20);
    o.set_device_bytes(68u << 20);
    o.set_allocated_bytes(1u << 20);
    o.mutable_luks()->set_data_offset_bytes(4u << 20);
    o.set_volume_key("k");
    return AcceptOffer(&w2->env, w2->runner.get(), o).status();
  });
  int accepted = 0;
  for (const absl::Status& s : results) {
    accepted += s.ok();
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsFailedPrecondition(s) && absl::StrContains(s.message(), "held by m-")) << s;
    }
  }
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(w2->store->List()->size(), 1u);
  EXPECT_EQ(w2->host.keys.size(), 1u);
  // Nor may a volume of that name be made here meanwhile.
  EXPECT_TRUE(absl::IsFailedPrecondition(w2->store->Hold("vol-9", "a create request").status()));
}

INSTANTIATE_TEST_SUITE_P(OnceAndTwice, MachinesTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "EveryStepTwice" : "EveryStepOnce"; });

}  // namespace
}  // namespace volmigrate::migration
