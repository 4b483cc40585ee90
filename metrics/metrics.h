// workerd's Prometheus metrics, served on [metrics] listen (off by default).
//
// Most are read from the durable records at each scrape (migrations and
// transfers by state, their bytes and times), so a restart neither loses nor
// counts them twice; the FSM step counts and durations are this process's
// own (they start again at zero with it, as Prometheus counters may); the
// thin pool and the process's memory are read live. README.md lists every
// metric and its meaning.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsm/runner.h"
#include "fsm/store.h"
#include "host/host.h"
#include "sealing/machines.h"

namespace volmigrate::metrics {

// What the records and the node show at the moment of a scrape.
class Records : public prometheus::Collectable {
 public:
  // `host` and `seal` may be null (a worker without [storage]): no pool
  // metrics, no transfers. All must outlive this.
  Records(fsm::Store* store, host::Host* host, const sealing::Env* seal)
      : store_(store), host_(host), seal_(seal) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  fsm::Store* store_;
  host::Host* host_;
  const sealing::Env* seal_;
};

// FSM steps run by this process: counted by outcome and timed.
class Steps {
 public:
  Steps();
  // For fsm::RunnerOptions::observe.
  void Observe(const std::string& kind, const std::string& state, absl::Duration took, fsm::StepOutcome outcome);
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* count_;
  prometheus::Family<prometheus::Histogram>* seconds_;
};

// Serves GET /metrics over HTTP on `listen` (host:port; port 0 picks one)
// until destroyed.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(const std::string& listen,
                                                       std::vector<std::shared_ptr<prometheus::Collectable>> from);
  int port() const { return port_; }

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<std::shared_ptr<prometheus::Collectable>> from_;  // the exposer holds weak pointers
  int port_ = 0;
};

}  // namespace volmigrate::metrics
