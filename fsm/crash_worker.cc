// The process fsm_crash_test kills with SIGKILL at random points.
//
//   fsm_crash_worker DIR FIRST COUNT STEPS
//
// Submits machines m<FIRST>..m<FIRST+COUNT-1> (those that exist are left alone),
// each a chain S00 -> S01 -> ... -> DONE, runs every unfinished machine and exits 0
// when none is left. Step k turns the machine's value v into f(v, k) and leaves an
// effect file DIR/effects/<id>.<k> holding f(v, k). A replayed step must find the
// same input and so write the same effect; a different one is written to
// DIR/violations/. Every application is appended to DIR/applied.log.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "fsm/runner.h"
#include "fsm/store.h"
#include "spdlog/spdlog.h"

using namespace volmigrate;

namespace {

std::string StateName(int k) { return absl::StrFormat("S%02d", k); }

uint64_t Advance(uint64_t v, int k) { return (v * 31 + static_cast<uint64_t>(k) + 1) % (uint64_t{1} << 61); }

absl::StatusOr<fsm::Next> Step(const std::string& dir, int steps, int k, const fsm::StepContext& ctx) {
  uint64_t v = std::stoull(ctx.data);
  uint64_t nv = Advance(v, k);
  std::string effect = absl::StrCat(dir, "/effects/", ctx.id, ".", k);
  std::string want = std::to_string(nv);
  if (auto have = ReadFile(effect); have.ok()) {
    if (*have != want) {
      (void)WriteFileAtomic(absl::StrCat(dir, "/violations/", ctx.id, ".", k),
                            absl::StrCat("expected ", want, " found ", *have), 0644);
    }
  } else if (absl::Status s = WriteFileAtomic(effect, want, 0644); !s.ok()) {
    return s;
  }
  Fd log(::open((dir + "/applied.log").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  std::string line = absl::StrCat(ctx.id, " ", k, "\n");
  if (!log.valid() || ::write(log.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return absl::UnavailableError("appending applied.log");
  return fsm::Next{k + 1 == steps ? "DONE" : StateName(k + 1), want};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DIR FIRST COUNT STEPS\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);  // thousands of transitions: keep the test log readable
  std::string dir = argv[1];
  int first = std::atoi(argv[2]), count = std::atoi(argv[3]), steps = std::atoi(argv[4]);
  for (const char* sub : {"/effects", "/violations"}) {
    if (absl::Status s = MakeDirs(dir + sub, 0755); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  auto store = fsm::Store::Open(dir + "/state");
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  fsm::MachineDef def;
  def.kind = "chain";
  def.initial_state = StateName(0);
  def.terminal_states = {"DONE", "FAILED"};
  for (int k = 0; k < steps; ++k) {
    def.steps[StateName(k)] = [dir, steps, k](const fsm::StepContext& c) { return Step(dir, steps, k, c); };
    def.edges[StateName(k)] = {k + 1 < steps ? StateName(k + 1) : "DONE"};
  }
  fsm::Runner runner(store->get(), {.max_concurrent = 4,
                                    .backoff_initial = absl::Milliseconds(1),
                                    .backoff_max = absl::Milliseconds(10)});
  if (absl::Status s = runner.Register(std::move(def)); !s.ok()) return 1;
  if (absl::Status s = runner.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  for (int i = first; i < first + count; ++i) {
    absl::Status s = runner.Submit("chain", absl::StrCat("m", i), "1");
    if (!s.ok() && s.code() != absl::StatusCode::kAlreadyExists) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  uint64_t seen = runner.Version();
  while (runner.Active() > 0) seen = runner.WaitForChange(seen, absl::Now() + absl::Milliseconds(100));
  runner.Stop();
  return 0;
}
