// Test double for Executor: answers commands from rules, records what ran.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "common/exec.h"
#include "common/test_util.h"

namespace volmigrate {

class FakeExecutor final : public Executor {
 public:
  using Handler = std::function<absl::StatusOr<ExecResult>(const Command&)>;

  // Commands whose joined argv starts with `prefix` get `result`; later rules win.
  void On(const std::string& prefix, ExecResult result) {
    rules_.push_back({prefix, [result](const Command&) { return result; }});
  }
  void On(const std::string& prefix, Handler h) { rules_.push_back({prefix, std::move(h)}); }

  absl::StatusOr<ExecResult> Run(const Command& cmd) override {
    std::string line = absl::StrJoin(cmd.argv, " ");
    calls.push_back(line);
    for (auto it = rules_.rbegin(); it != rules_.rend(); ++it)
      if (absl::StartsWith(line, it->prefix)) return it->handler(cmd);
    return ExecResult{127, "", "fake: no rule for " + line};
  }

  // Commands run so far that start with `prefix`.
  int Count(const std::string& prefix) const {
    int n = 0;
    for (const auto& c : calls) n += absl::StartsWith(c, prefix);
    return n;
  }

  std::vector<std::string> calls;

 private:
  struct Rule {
    std::string prefix;
    Handler handler;
  };
  std::vector<Rule> rules_;
};

}  // namespace volmigrate
