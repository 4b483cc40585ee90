// The iSCSI initiator side (open-iscsi): node records with CHAP, login and
// logout, and the session's disk, waited for by its sysfs path.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
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
  int replacement_timeout_seconds = 600;
};

struct SessionInfo {
  int sid = 0;
  std::string iqn;
  std::string portal;  // as iscsiadm prints it: "169.254.0.1:3260,1"
  std::string state;   // "LOGGED_IN", "FAILED", ...
  std::vector<std::string> disks;  // "sda"
};

// The disk of a session and the SCSI layer's state of it (sysfs device/state):
// "running", "blocked" (session in recovery: I/O waits), "transport-offline"
// (the replacement timeout expired: I/O fails until the session logs in
// again), "offline" (the error handler gave up on it: I/O fails until someone
// sets it running, whatever the session does).
struct Disk {
  std::string name;  // "sda"
  std::string state;
};

// `iscsiadm -m session -P 3`
absl::StatusOr<std::vector<SessionInfo>> ParseSessionsP3(const std::string& text);

class Initiator {
 public:
  // `sysfs`: "/sys", or a fake tree in tests. `node_dirs`: where open-iscsi may
  // keep its node records (Debian's, then Fedora's), the first holding the
  // target's record is used.
  Initiator(Executor* ex, std::string sysfs = "/sys",
            std::vector<std::string> node_dirs = {"/etc/iscsi/nodes", "/var/lib/iscsi/nodes"})
      : ex_(ex), sysfs_(std::move(sysfs)), node_dirs_(std::move(node_dirs)) {}

  // The node record with CHAP and timeouts, ahead of the login (idempotent).
  absl::Status Prepare(const LoginSpec& spec);
  // Idempotent: a session to that target and portal is success. Prepares the
  // node record first when there is none.
  absl::Status Login(const LoginSpec& spec);
  // Logs out and deletes the node record (its CHAP secret with it). No session: success.
  absl::Status Logout(const std::string& iqn, const std::string& portal);
  absl::StatusOr<std::vector<SessionInfo>> Sessions();
  // The kernel's state of the session to `iqn` ("LOGGED_IN", "FAILED", "FREE"),
  // "" when there is none. From sysfs, no process: workerd asks every second
  // of a hydration, on a host whose CPU the copy's ciphers need.
  absl::StatusOr<std::string> SessionState(const std::string& iqn);
  // The disk of the session to `iqn` ("/dev/sda"), waiting for it to appear:
  // the node comes some time after login. DeadlineExceeded after `timeout`.
  absl::StatusOr<std::string> WaitDevice(const std::string& iqn, absl::Duration timeout);
  // The disk of the session to `iqn` now; NotFound when there is none.
  absl::StatusOr<Disk> FindDisk(const std::string& iqn);
  // Sets the disk of the session to `iqn` running again if the SCSI layer took
  // it offline; true when it did. Only useful once the session is logged in
  // again (the caller checks): until then its I/O would fail anyway.
  absl::StatusOr<bool> Revive(const std::string& iqn);

 private:
  // Sets each (name, value) of the node record with one iscsiadm: it takes
  // -n/-v pairs in turn, and each process costs a second under emulation.
  absl::Status Update(const LoginSpec& s, const std::vector<std::pair<std::string, std::string>>& settings);
  // The CHAP secret into the node record's file itself: `iscsiadm -o update`
  // would take it on its command line, which any local user can read.
  absl::Status WriteSecret(const LoginSpec& s);
  // The session's directory in sysfs (".../iscsi_session/sessionN").
  std::optional<std::filesystem::path> FindSession(const std::string& iqn);
  // The disk's SCSI device directory in sysfs (".../<h:c:t:l>") and its name.
  absl::StatusOr<std::pair<std::string, std::string>> FindLun(const std::string& iqn);
  Executor* ex_;
  std::string sysfs_;
  std::vector<std::string> node_dirs_;
};

}  // namespace volmigrate::iscsi
