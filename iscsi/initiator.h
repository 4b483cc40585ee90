// The iSCSI initiator side (open-iscsi): node records with CHAP, login and
// logout, and the session's disk, waited for by its sysfs path.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/exec.h"

namespace volmigrate::iscsi {

struct LoginSpec {
  std::string portal;  // host:port
  std::string iqn;
  std::string chap_user;
  std::string chap_secret;  // never logged
  // How long a session may be down before I/O fails; until then I/O blocks,
  // so a short network cut stalls hydration instead of failing it.
  int replacement_timeout_seconds = 120;
};

struct SessionInfo {
  int sid = 0;
  std::string iqn;
  std::string portal;  // as iscsiadm prints it: "169.254.0.1:3260,1"
  std::string state;   // "LOGGED_IN", "FAILED", ...
  std::vector<std::string> disks;  // "sda"
};

// `iscsiadm -m session -P 3`
absl::StatusOr<std::vector<SessionInfo>> ParseSessionsP3(const std::string& text);

class Initiator {
 public:
  // `sysfs`: "/sys", or a fake tree in tests.
  Initiator(Executor* ex, std::string sysfs = "/sys") : ex_(ex), sysfs_(std::move(sysfs)) {}

  // The node record with CHAP and timeouts, ahead of the login (idempotent).
  absl::Status Prepare(const LoginSpec& spec);
  // Idempotent: a session to that target and portal is success. Prepares the
  // node record first when there is none.
  absl::Status Login(const LoginSpec& spec);
  // Logs out and deletes the node record (its CHAP secret with it). No session: success.
  absl::Status Logout(const std::string& iqn, const std::string& portal);
  absl::StatusOr<std::vector<SessionInfo>> Sessions();
  // The disk of the session to `iqn` ("/dev/sda"), waiting for it to appear:
  // the node comes some time after login. DeadlineExceeded after `timeout`.
  absl::StatusOr<std::string> WaitDevice(const std::string& iqn, absl::Duration timeout);

 private:
  absl::Status Node(const LoginSpec& s, const std::string& name, const std::string& value, bool secret = false);
  absl::StatusOr<std::string> FindDevice(const std::string& iqn);
  Executor* ex_;
  std::string sysfs_;
};

}  // namespace volmigrate::iscsi
