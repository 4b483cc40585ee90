#include "metrics/metrics.h"

#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "migration/machines.h"

namespace volmigrate::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

const Histogram::BucketBoundaries kBlackout = {0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60};
const Histogram::BucketBoundaries kHydration = {10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400};
const Histogram::BucketBoundaries kStep = {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300};

std::string Side(const std::string& kind) { return kind == migration::kOutKind ? "source" : "destination"; }

// The families a scrape fills from the records, built fresh each time so
// they hold exactly what the records say now.
struct Scrape {
  prometheus::Registry reg;
  Family<Gauge>& migrations = BuildGauge()
                                  .Name("volmigrate_migrations")
                                  .Help("Migrations not ended, by side and state")
                                  .Register(reg);
  Family<Counter>& migrations_ended = BuildCounter()
                                          .Name("volmigrate_migrations_ended_total")
                                          .Help("Migrations ended, by side and outcome (done, failed, aborted)")
                                          .Register(reg);
  Family<Histogram>& blackout = BuildHistogram()
                                    .Name("volmigrate_migration_blackout_seconds")
                                    .Help("Incoming migrations' blackout: source fence to consumer started here")
                                    .Register(reg);
  Family<Histogram>& hydration = BuildHistogram()
                                     .Name("volmigrate_migration_hydration_seconds")
                                     .Help("Incoming migrations' hydration: consumer started here to every "
                                           "region copied")
                                     .Register(reg);
  Family<Counter>& bytes = BuildCounter()
                               .Name("volmigrate_migration_bytes_total")
                               .Help("Migration bytes: copied (pulled over the link here), skipped (marked copied "
                                     "without a copy), sent (pulled from here by destinations)")
                               .Register(reg);
  Family<Gauge>& rate = BuildGauge()
                            .Name("volmigrate_migration_rate_bytes_per_second")
                            .Help("Current hydration rate of each incoming migration")
                            .Register(reg);
  Family<Gauge>& stalled = BuildGauge()
                               .Name("volmigrate_migrations_stalled")
                               .Help("Incoming migrations stalled now, by cause")
                               .Register(reg);
  Family<Gauge>& transfers = BuildGauge()
                                 .Name("volmigrate_transfers")
                                 .Help("Seals, ships and restores not ended, by kind and state")
                                 .Register(reg);
  Family<Counter>& transfers_ended = BuildCounter()
                                         .Name("volmigrate_transfers_ended_total")
                                         .Help("Seals, ships and restores ended, by kind and outcome")
                                         .Register(reg);
  Family<Counter>& transfer_bytes = BuildCounter()
                                        .Name("volmigrate_transfer_bytes_total")
                                        .Help("Bytes uploaded (seal, ship) or written (restore)")
                                        .Register(reg);
  Family<Gauge>& pool = BuildGauge()
                            .Name("volmigrate_thin_pool_bytes")
                            .Help("The volumes' thin pool: size and free")
                            .Register(reg);
  Family<Gauge>& memory = BuildGauge()
                              .Name("process_resident_memory_bytes")
                              .Help("Resident memory of workerd")
                              .Register(reg);
};

void AddMigration(Scrape& s, const fsm::Record& r) {
  auto m = migration::ViewOf(r);
  if (!m.ok()) {
    spdlog::warn("metrics: {}", m.status().ToString());
    return;
  }
  const std::string side = Side(r.kind());
  const v1::MigrationProgress& p = m->progress();
  if (r.terminal()) {
    s.migrations_ended.Add({{"side", side}, {"outcome", absl::AsciiStrToLower(r.state())}}).Increment();
  } else {
    s.migrations.Add({{"side", side}, {"state", r.state()}}).Increment();
  }
  const double copied = p.hydrated_bytes() > p.discarded_bytes() ? p.hydrated_bytes() - p.discarded_bytes() : 0;
  if (side == "source") {
    s.bytes.Add({{"kind", "sent"}}).Increment(copied);
    return;
  }
  s.bytes.Add({{"kind", "copied"}}).Increment(copied);
  s.bytes.Add({{"kind", "skipped"}}).Increment(std::min(p.hydrated_bytes(), p.discarded_bytes()));
  if (m->blackout_seconds() > 0) s.blackout.Add({}, kBlackout).Observe(m->blackout_seconds());
  if (m->hydration_seconds() > 0) s.hydration.Add({}, kHydration).Observe(m->hydration_seconds());
  if (r.terminal()) return;
  s.rate.Add({{"migration", r.id()}, {"volume", m->volume_id()}}).Set(p.rate_bytes_per_second());
  if (p.stalled()) s.stalled.Add({{"cause", p.stall_cause().empty() ? "unknown" : p.stall_cause()}}).Increment();
}

void AddTransfer(Scrape& s, const fsm::Record& r, const sealing::Env& seal) {
  auto t = sealing::TransferView(r, seal);
  if (!t.ok()) {
    spdlog::warn("metrics: {}", t.status().ToString());
    return;
  }
  if (r.terminal()) {
    s.transfers_ended.Add({{"kind", t->kind()}, {"outcome", absl::AsciiStrToLower(r.state())}}).Increment();
  } else {
    s.transfers.Add({{"kind", t->kind()}, {"state", r.state()}}).Increment();
  }
  s.transfer_bytes.Add({{"kind", t->kind()}}).Increment(static_cast<double>(t->done_bytes()));
}

// Resident pages times the page size, from /proc/self/statm; 0 if unreadable.
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace

std::vector<prometheus::MetricFamily> Records::Collect() const {
  Scrape s;
  auto all = store_->List();
  if (!all.ok()) {
    spdlog::warn("metrics: reading the state store: {}", all.status().ToString());
  } else {
    for (const fsm::Record& r : *all) {
      if (migration::IsMigrationKind(r.kind())) AddMigration(s, r);
      if (seal_ && sealing::IsTransferKind(r.kind())) AddTransfer(s, r, *seal_);
    }
  }
  if (host_) {
    auto space = host_->PoolSpace();
    if (space.ok()) {
      s.pool.Add({{"kind", "size"}}).Set(static_cast<double>(space->total_bytes));
      s.pool.Add({{"kind", "free"}}).Set(static_cast<double>(space->free_bytes));
    } else {
      spdlog::warn("metrics: thin pool: {}", space.status().ToString());
    }
  }
  s.memory.Add({}).Set(ResidentBytes());
  return s.reg.Collect();
}

Steps::Steps()
    : registry_(std::make_shared<prometheus::Registry>()),
      count_(&BuildCounter()
                  .Name("volmigrate_fsm_steps_total")
                  .Help("FSM steps run by this process, by machine kind, state and outcome (ok, retry, failed)")
                  .Register(*registry_)),
      seconds_(&BuildHistogram()
                    .Name("volmigrate_fsm_step_seconds")
                    .Help("How long FSM steps took, by machine kind and state")
                    .Register(*registry_)) {}

void Steps::Observe(const std::string& kind, const std::string& state, absl::Duration took,
                    fsm::StepOutcome outcome) {
  const char* o = outcome == fsm::StepOutcome::kOk ? "ok" : outcome == fsm::StepOutcome::kRetry ? "retry" : "failed";
  count_->Add({{"kind", kind}, {"state", state}, {"outcome", o}}).Increment();
  seconds_->Add({{"kind", kind}, {"state", state}}, kStep).Observe(absl::ToDoubleSeconds(took));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const std::string& listen,
                                                      std::vector<std::shared_ptr<prometheus::Collectable>> from) {
  std::unique_ptr<Server> s(new Server);
  try {
    // One thread: a scrape reads the store once; Prometheus asks every few seconds.
    s->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", listen, ": ", e.what()));
  }
  s->from_ = std::move(from);
  for (const auto& c : s->from_) s->exposer_->RegisterCollectable(c);
  const std::vector<int> ports = s->exposer_->GetListeningPorts();
  s->port_ = ports.empty() ? 0 : ports.front();
  return s;
}

}  // namespace volmigrate::metrics
