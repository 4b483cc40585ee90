// The one fake DeviceMapper for tests: tables as maps, every change recorded,
// and a dm-clone device's hydration simulated (kcopyd copies 16 regions per
// status query while hydration is on and not held). Not thread-safe: its
// owner (host::FakeHost) serializes calls; the atomics are the knobs tests
// turn while machines run.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "dmutil/dm.h"

namespace volmigrate::dm {

class FakeDm final : public DeviceMapper {
 public:
  std::map<std::string, std::vector<Target>> live, inactive;
  std::vector<std::string> calls;                // "create x", "reload x", "suspend x", "resume x"
  absl::Status fail_resume = absl::OkStatus();   // the next Resume fails with it
  uint64_t hydrated = 0, total = 64;             // regions of the clone, in the kernel's memory
  uint64_t committed = 0;                        // ... and in its metadata on disk
  std::optional<uint64_t> committed_at_swap;     // when a linear table replaced the clone
  bool hydrating = false;
  std::atomic<bool> hold = false;                     // kcopyd makes no progress
  std::atomic<uint32_t> threshold = 256, batch = 32;  // as the clone's table sets them

  absl::Status Create(const std::string& n, const std::vector<Target>& t, bool) override {
    calls.push_back("create " + n);
    if (live.count(n)) return live[n] == t ? absl::OkStatus() : absl::AlreadyExistsError(n);
    live[n] = t;
    return absl::OkStatus();
  }
  absl::Status Reload(const std::string& n, const std::vector<Target>& t) override {
    calls.push_back("reload " + n);
    if (t[0].type == "linear" && live.count(n) && live[n][0].type == "clone") committed_at_swap = committed;
    inactive[n] = t;
    return absl::OkStatus();
  }
  absl::Status Suspend(const std::string& n) override {
    calls.push_back("suspend " + n);
    return absl::OkStatus();
  }
  absl::Status Resume(const std::string& n) override {
    calls.push_back("resume " + n);
    if (!fail_resume.ok()) return std::exchange(fail_resume, absl::OkStatus());
    if (inactive.count(n)) live[n] = inactive[n], inactive.erase(n);
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string& n) override {
    live.erase(n);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Exists(const std::string& n) override { return live.count(n) > 0; }
  absl::StatusOr<std::vector<Target>> Table(const std::string& n) override {
    if (!live.count(n)) return absl::NotFoundError(n);
    return live[n];
  }
  absl::StatusOr<std::vector<Target>> Status(const std::string& n, bool noflush) override {
    if (!live.count(n)) return absl::NotFoundError(n);
    if (live[n][0].type != "clone") return live[n];
    if (hydrating && !hold && hydrated < total) hydrated = std::min(total, hydrated + 16);  // kcopyd at work
    if (!noflush) committed = hydrated;  // dm-clone commits its metadata first
    return std::vector<Target>{{0, 8192, "clone",
                                absl::StrCat("8 6/2048 128 ", hydrated, "/", total, " 0 ",
                                             hydrating ? "0" : "1 no_hydration", " 4 hydration_threshold ",
                                             threshold.load(), " hydration_batch_size ", batch.load(), " rw")}};
  }
  absl::StatusOr<std::string> Message(const std::string&, const std::string& m) override {
    if (m == "enable_hydration") hydrating = true;
    if (m == "disable_hydration") hydrating = false;
    uint32_t n = 0;
    if (absl::SimpleAtoi(absl::StripPrefix(m, "hydration_threshold "), &n)) threshold = n;
    if (absl::SimpleAtoi(absl::StripPrefix(m, "hydration_batch_size "), &n)) batch = n;
    return std::string();
  }
};

}  // namespace volmigrate::dm
