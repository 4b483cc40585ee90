#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "common/test_util.h"
#include "gtest/gtest.h"
#include "host/fake_host.h"
#include "migration/machines.h"
#include "migration/state.pb.h"

namespace volmigrate::metrics {
namespace {

std::string Text(const prometheus::Collectable& c) { return prometheus::TextSerializer().Serialize(c.Collect()); }

// A migration record as the machines leave it.
void Put(fsm::Store& store, const std::string& id, const std::string& kind, const std::string& state,
         const migration::MigrationState& st) {
  fsm::Record r;
  r.set_id(id);
  r.set_kind(kind);
  r.set_state(state);
  r.set_terminal(state == "DONE" || state == "FAILED" || state == "ABORTED");
  r.set_data(st.SerializeAsString());
  ASSERT_TRUE(store.Create(r).ok());
}

migration::MigrationState Moved(double blackout, double hydration, uint64_t hydrated, uint64_t discarded) {
  migration::MigrationState st;
  st.mutable_view()->set_volume_id("vol-1");
  st.mutable_view()->set_blackout_seconds(blackout);
  st.mutable_view()->set_hydration_seconds(hydration);
  st.mutable_view()->mutable_progress()->set_hydrated_bytes(hydrated);
  st.mutable_view()->mutable_progress()->set_discarded_bytes(discarded);
  return st;
}

TEST(Records, CountMigrationsByStateOutcomeBytesAndTimes) {
  auto store = fsm::Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok()) << store.status();
  migration::MigrationState running = Moved(4.2, 0, 100u << 20, 60u << 20);
  running.mutable_view()->mutable_progress()->set_rate_bytes_per_second(5e6);
  running.mutable_view()->mutable_progress()->set_stalled(true);
  running.mutable_view()->mutable_progress()->set_stall_cause("pool_low");
  Put(**store, "m1", migration::kInKind, "HYDRATING", running);
  Put(**store, "m2", migration::kInKind, "DONE", Moved(3, 20, 200u << 20, 0));
  Put(**store, "m3", migration::kOutKind, "DONE", Moved(3, 20, 200u << 20, 0));
  Put(**store, "m4", migration::kOutKind, "FAILED", Moved(0, 0, 0, 0));
  host::FakeHost host(NewTempDir());
  host.pool_free = 123u << 20;
  const std::string text = Text(Records(store->get(), &host, nullptr));

  for (const char* line : {
           "volmigrate_migrations{side=\"destination\",state=\"HYDRATING\"} 1\n",
           "volmigrate_migrations_ended_total{outcome=\"done\",side=\"destination\"} 1\n",
           "volmigrate_migrations_ended_total{outcome=\"done\",side=\"source\"} 1\n",
           "volmigrate_migrations_ended_total{outcome=\"failed\",side=\"source\"} 1\n",
           "volmigrate_migration_blackout_seconds_count 2\n",
           "volmigrate_migration_blackout_seconds_sum 7.2",
           "volmigrate_migration_blackout_seconds_bucket{le=\"3\"} 1\n",
           "volmigrate_migration_hydration_seconds_count 1\n",
           "volmigrate_migration_bytes_total{kind=\"copied\"} 251658240\n",  // 40 + 200 MiB
           "volmigrate_migration_bytes_total{kind=\"skipped\"} 62914560\n",
           "volmigrate_migration_bytes_total{kind=\"sent\"} 209715200\n",
           "volmigrate_migration_rate_bytes_per_second{migration=\"m1\",volume=\"vol-1\"} 5000000\n",
           "volmigrate_migrations_stalled{cause=\"pool_low\"} 1\n",
           "volmigrate_thin_pool_bytes{kind=\"free\"} 128974848\n",
           "process_resident_memory_bytes ",
       })
    EXPECT_TRUE(absl::StrContains(text, line)) << line << " not in:\n" << text;
}

TEST(Records, AWorkerWithoutStorageHasNoPoolOrTransfers) {
  auto store = fsm::Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string text = Text(Records(store->get(), nullptr, nullptr));
  EXPECT_FALSE(absl::StrContains(text, "volmigrate_thin_pool_bytes{")) << text;
  EXPECT_TRUE(absl::StrContains(text, "process_resident_memory_bytes ")) << text;
}

TEST(Steps, CountByOutcomeAndTime) {
  Steps steps;
  steps.Observe("migration-in", "HYDRATING", absl::Milliseconds(20), fsm::StepOutcome::kOk);
  steps.Observe("migration-in", "HYDRATING", absl::Milliseconds(30), fsm::StepOutcome::kOk);
  steps.Observe("migration-out", "OFFERING", absl::Seconds(2), fsm::StepOutcome::kRetry);
  const std::string text = Text(*steps.registry());
  for (const char* line : {
           "volmigrate_fsm_steps_total{kind=\"migration-in\",outcome=\"ok\",state=\"HYDRATING\"} 2\n",
           "volmigrate_fsm_steps_total{kind=\"migration-out\",outcome=\"retry\",state=\"OFFERING\"} 1\n",
           "volmigrate_fsm_step_seconds_bucket{kind=\"migration-in\",state=\"HYDRATING\",le=\"0.05\"} 2\n",
           "volmigrate_fsm_step_seconds_bucket{kind=\"migration-out\",state=\"OFFERING\",le=\"1\"} 0\n",
       })
    EXPECT_TRUE(absl::StrContains(text, line)) << line << " not in:\n" << text;
}

// GET `path` from 127.0.0.1:`port`; the whole answer, headers included.
std::string Get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(Server, ServesEveryCollectableOverHttp) {
  auto store = fsm::Store::Open(NewTempDir());
  ASSERT_TRUE(store.ok()) << store.status();
  auto steps = std::make_shared<Steps>();
  steps->Observe("seal", "UPLOADING", absl::Seconds(1), fsm::StepOutcome::kFailed);
  auto server = Server::Start("127.0.0.1:0", {std::make_shared<Records>(store->get(), nullptr, nullptr),
                                              steps->registry()});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  const std::string got = Get((*server)->port(), "/metrics");
  EXPECT_TRUE(absl::StrContains(got, "200 OK")) << got;
  EXPECT_TRUE(absl::StrContains(got, "process_resident_memory_bytes ")) << got;
  const char* step = "volmigrate_fsm_steps_total{kind=\"seal\",outcome=\"failed\",state=\"UPLOADING\"} 1";
  EXPECT_TRUE(absl::StrContains(got, step)) << got;

  auto taken = Server::Start(absl::StrCat("127.0.0.1:", (*server)->port()), {});
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable) << taken.status();
}

}  // namespace
}  // namespace volmigrate::metrics
