// Running the external tools we wrap (lvm, tgtadm, iscsiadm, fstrim): one
// seam, so wrappers are unit-tested against captured output with a fake, and
// one place that keeps secrets out of logs and error messages.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace volmigrate {

struct Command {
  std::vector<std::string> argv;
  std::string stdin_data;
  absl::Duration timeout = absl::Seconds(60);
  // Strings (CHAP secrets, ...) replaced by "***" wherever the command is
  // logged or quoted in an error.
  std::vector<std::string> secrets;
  std::vector<std::string> env;  // extra NAME=VALUE
};

struct ExecResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // OK with the exit code whatever it is; errors only when the command could not
  // run (not found: NotFound) or timed out (DeadlineExceeded, after a SIGKILL).
  virtual absl::StatusOr<ExecResult> Run(const Command& cmd) = 0;
};

// fork/exec with pipes; the child gets a clean environment plus cmd.env.
class SystemExecutor final : public Executor {
 public:
  absl::StatusOr<ExecResult> Run(const Command& cmd) override;
};

// The command line as it may be shown: secrets masked.
std::string Describe(const Command& cmd);
std::string Redact(std::string text, const std::vector<std::string>& secrets);

// Runs and requires exit 0; otherwise an error quoting the command and stderr.
// `code` is the status code for a non-zero exit.
absl::StatusOr<ExecResult> RunChecked(Executor& ex, const Command& cmd,
                                      absl::StatusCode code = absl::StatusCode::kInternal);

}  // namespace volmigrate
