// The iSCSI target side (tgt): one target per export, its LUN read-only, CHAP
// credentials made for it, and only the named initiator admitted.
#pragma once

#include <mutex>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/exec.h"

namespace volmigrate::iscsi {

struct ExportSpec {
  std::string iqn;            // the target's name
  std::string device;         // block device to export
  std::string chap_user;
  std::string chap_secret;    // 12-16 characters; never logged
  // The only initiator admitted, by name. tgt ORs its ACL entries (an address
  // entry would admit any initiator from that address), so the export binds the
  // name alone; CHAP is the second factor.
  std::string initiator_iqn;
};

struct Lun {
  int lun = 0;
  std::string type;  // "controller" or "disk"
  std::string backing_path;
  bool readonly = false;
};

struct Nexus {
  std::string initiator;
  std::string address;
};

struct TargetInfo {
  int tid = 0;
  std::string iqn;
  std::vector<Lun> luns;
  std::vector<std::string> accounts;
  std::vector<std::string> acl;  // addresses and initiator names
  std::vector<Nexus> nexuses;    // logged-in initiators
};

// `tgtadm --lld iscsi --op show --mode target`
absl::StatusOr<std::vector<TargetInfo>> ParseTgtadmShow(const std::string& text);

// tgtd's management socket: what tgtadm connects to.
inline constexpr char kTgtdSocket[] = "/var/run/tgtd/socket.0";

// Creates a CHAP account in tgtd through its management socket, speaking
// tgtadm's protocol (tgt's usr/tgtadm.h), so that the secret is never on a
// command line. TGTADM_USER_EXIST is AlreadyExists.
absl::Status NewTgtdAccount(const std::string& socket_path, const std::string& user, const std::string& secret);

class Tgt {
 public:
  explicit Tgt(Executor* ex, std::string socket_path = kTgtdSocket) : ex_(ex), socket_(std::move(socket_path)) {}

  // Idempotent and resumable: finds a target of that name and completes what
  // is missing (LUN, read-only flag, account, ACL). A target of that name over
  // another device: AlreadyExists.
  absl::Status Export(const ExportSpec& spec);
  // Removes the target (even with initiators logged in) and its account. A
  // target that is not there is success.
  absl::Status Remove(const std::string& iqn, const std::string& chap_user);
  absl::StatusOr<std::vector<TargetInfo>> List();
  // Targets whose name starts with `prefix`: what a crash may have left.
  absl::StatusOr<std::vector<TargetInfo>> Leftovers(const std::string& prefix);

 private:
  absl::StatusOr<std::string> Accounts();
  absl::Status Tgtadm(std::vector<std::string> args);
  Executor* ex_;
  std::string socket_;
  // Export picks a free target id from a listing, so two at once would pick
  // the same one: exports and removals of one tgtd run one at a time.
  std::mutex mu_;
};

}  // namespace volmigrate::iscsi
