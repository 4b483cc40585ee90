#include "iscsi/initiator.h"

#include <fcntl.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::iscsi {
namespace {

// iscsiadm's exit code when there is nothing to show or log out of.
constexpr int kNoObjectsFound = 21;

bool SamePortal(const std::string& printed, const std::string& portal) {
  // iscsiadm prints "169.254.0.1:3260,1" (with the portal group).
  return printed == portal || absl::StartsWith(printed, portal + ",");
}

}  // namespace

absl::StatusOr<std::vector<SessionInfo>> ParseSessionsP3(const std::string& text) {
  std::vector<SessionInfo> out;
  std::string iqn, portal;
  for (const auto& raw : absl::StrSplit(text, '\n')) {
    std::string t(absl::StripAsciiWhitespace(raw));
    if (absl::StartsWith(t, "Target: ")) {
      iqn = t.substr(8);
      iqn = iqn.substr(0, iqn.find(' '));  // "(non-flash)"
    } else if (absl::StartsWith(t, "Current Portal: ")) {
      portal = t.substr(16);
    } else if (absl::StartsWith(t, "SID: ")) {
      SessionInfo s;
      if (!absl::SimpleAtoi(t.substr(5), &s.sid)) return absl::InvalidArgumentError(absl::StrCat("iscsiadm: '", t, "'"));
      s.iqn = iqn;
      s.portal = portal;
      out.push_back(std::move(s));
    } else if (!out.empty() && absl::StartsWith(t, "iSCSI Session State: ")) {
      out.back().state = t.substr(21);
    } else if (!out.empty() && absl::StrContains(t, "Attached scsi disk ")) {
      std::string rest = t.substr(t.find("Attached scsi disk ") + 19);
      out.back().disks.push_back(rest.substr(0, rest.find_first_of(" \t")));
    }
  }
  return out;
}

absl::Status Initiator::Update(const LoginSpec& s, const std::vector<std::pair<std::string, std::string>>& settings) {
  Command c{.argv = {"iscsiadm", "-m", "node", "-T", s.iqn, "-p", s.portal, "-o", "update"}};
  for (const auto& [name, value] : settings) c.argv.insert(c.argv.end(), {"-n", name, "-v", value});
  return RunChecked(*ex_, c, absl::StatusCode::kUnavailable).status();
}

absl::Status Initiator::WriteSecret(const LoginSpec& s) {
  namespace fs = std::filesystem;
  if (s.chap_secret.find_first_of("\r\n") != std::string::npos)
    return absl::InvalidArgumentError("a CHAP secret cannot hold a line break");
  // <nodes>/<iqn>/<ip>,<port>,<tpgt>/<iface>, or <nodes>/<iqn>/<ip>,<port> (the
  // old layout, a file); the portal group is whatever iscsiadm gave it.
  const size_t colon = s.portal.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("portal '", s.portal, "' has no port"));
  const std::string prefix = absl::StrCat(absl::StripSuffix(absl::StripPrefix(s.portal.substr(0, colon), "["), "]"),
                                          ",", s.portal.substr(colon + 1));
  std::error_code ec;
  for (const std::string& nodes : node_dirs_) {
    for (const auto& e : fs::directory_iterator(fs::path(nodes) / s.iqn, ec)) {
      const std::string name = e.path().filename().string();
      if (name != prefix && !absl::StartsWith(name, prefix + ",")) continue;
      const fs::path rec = e.is_directory() ? e.path() / "default" : e.path();
      ASSIGN_OR_RETURN(std::string text, ReadFile(rec.string()));
      std::string out;
      for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty()))
        if (!absl::StartsWith(line, "node.session.auth.password "))
          absl::StrAppend(&out, line, "\n");
      absl::StrAppend(&out, "node.session.auth.password = ", s.chap_secret, "\n");
      return WriteFileAtomic(rec.string(), out, 0600);
    }
  }
  return absl::NotFoundError(absl::StrCat("no node record of ", s.iqn, " at ", s.portal, " in ",
                                          absl::StrJoin(node_dirs_, " or ")));
}

absl::StatusOr<std::vector<SessionInfo>> Initiator::Sessions() {
  ASSIGN_OR_RETURN(ExecResult r, ex_->Run({.argv = {"iscsiadm", "-m", "session", "-P", "3"}}));
  if (r.exit_code == kNoObjectsFound) return std::vector<SessionInfo>{};
  if (r.exit_code != 0)
    return absl::UnavailableError(absl::StrCat("iscsiadm -m session: exit ", r.exit_code, ": ",
                                               absl::StripAsciiWhitespace(r.err)));
  return ParseSessionsP3(r.out);
}

absl::Status Initiator::Prepare(const LoginSpec& s) {
  // A node record of our own, not discovery: no dependence on what else the target offers.
  RETURN_IF_ERROR(RunChecked(*ex_, {.argv = {"iscsiadm", "-m", "node", "-o", "new", "-T", s.iqn, "-p", s.portal}},
                             absl::StatusCode::kUnavailable)
                      .status());
  RETURN_IF_ERROR(Update(s, {{"node.session.auth.authmethod", "CHAP"},
                             {"node.session.auth.username", s.chap_user},
                             {"node.session.timeo.replacement_timeout", absl::StrCat(s.replacement_timeout_seconds)},
                             {"node.startup", "manual"}}));
  // Last: the record as iscsiadm wrote it, with the secret added.
  return WriteSecret(s);
}

absl::Status Initiator::Login(const LoginSpec& s) {
  // sysfs first: a step that only checks the session it made earlier (in the
  // blackout) starts no process. The iqn names one migration.
  if (FindSession(s.iqn)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<SessionInfo> sessions, Sessions());
  for (const SessionInfo& si : sessions)
    if (si.iqn == s.iqn && SamePortal(si.portal, s.portal)) return absl::OkStatus();
  const Command login{.argv = {"iscsiadm", "-m", "node", "-T", s.iqn, "-p", s.portal, "--login"},
                      .timeout = absl::Seconds(60)};
  ASSIGN_OR_RETURN(ExecResult r, ex_->Run(login));
  if (r.exit_code == kNoObjectsFound) {  // not prepared (or lost with /etc on a reboot)
    RETURN_IF_ERROR(Prepare(s));
    ASSIGN_OR_RETURN(r, ex_->Run(login));
  }
  if (r.exit_code == 0) return absl::OkStatus();
  std::string why(absl::StripAsciiWhitespace(r.err));
  // 24: authorization failure (wrong CHAP). 19: non-retryable login failure,
  // which is how tgt refuses an initiator its ACL does not admit.
  if (r.exit_code == 24 || r.exit_code == 19)
    return absl::PermissionDeniedError(absl::StrCat("iSCSI login to ", s.iqn, " at ", s.portal, " refused: ", why));
  return absl::UnavailableError(absl::StrCat("iSCSI login to ", s.iqn, " at ", s.portal, ": exit ", r.exit_code, ": ", why));
}

absl::Status Initiator::Logout(const std::string& iqn, const std::string& portal) {
  ASSIGN_OR_RETURN(std::vector<SessionInfo> sessions, Sessions());
  for (const SessionInfo& si : sessions) {
    if (si.iqn != iqn || !SamePortal(si.portal, portal)) continue;
    ASSIGN_OR_RETURN(ExecResult r, ex_->Run({.argv = {"iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "--logout"}}));
    if (r.exit_code != 0 && r.exit_code != kNoObjectsFound)
      return absl::UnavailableError(absl::StrCat("iSCSI logout from ", iqn, ": ", absl::StripAsciiWhitespace(r.err)));
  }
  ASSIGN_OR_RETURN(ExecResult r, ex_->Run({.argv = {"iscsiadm", "-m", "node", "-o", "delete", "-T", iqn, "-p", portal}}));
  if (r.exit_code != 0 && r.exit_code != kNoObjectsFound)
    return absl::UnavailableError(absl::StrCat("deleting node record of ", iqn, ": ", absl::StripAsciiWhitespace(r.err)));
  return absl::OkStatus();
}

std::optional<std::filesystem::path> Initiator::FindSession(const std::string& iqn) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& s : fs::directory_iterator(fs::path(sysfs_) / "class/iscsi_session", ec)) {
    auto name = ReadFile((s.path() / "targetname").string());
    if (name.ok() && absl::StripTrailingAsciiWhitespace(*name) == iqn) return s.path();
  }
  return std::nullopt;
}

absl::StatusOr<std::string> Initiator::SessionState(const std::string& iqn) {
  std::optional<std::filesystem::path> s = FindSession(iqn);
  if (!s) return std::string();
  auto state = ReadFile((*s / "state").string());
  if (absl::IsNotFound(state.status())) return std::string();  // gone between the two reads
  RETURN_IF_ERROR(state.status());
  return std::string(absl::StripTrailingAsciiWhitespace(*state));
}

absl::StatusOr<std::pair<std::string, std::string>> Initiator::FindLun(const std::string& iqn) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (std::optional<fs::path> s = FindSession(iqn)) {
    // session*/device/target*/<h:c:t:l>/block/<disk>
    for (const auto& tgt : fs::directory_iterator(*s / "device", ec)) {
      if (!absl::StartsWith(tgt.path().filename().string(), "target")) continue;
      for (const auto& lun : fs::directory_iterator(tgt.path(), ec)) {
        for (const auto& blk : fs::directory_iterator(lun.path() / "block", ec)) {
          return std::make_pair(lun.path().string(), blk.path().filename().string());
        }
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no disk for ", iqn, " yet"));
}

absl::StatusOr<Disk> Initiator::FindDisk(const std::string& iqn) {
  ASSIGN_OR_RETURN(auto lun, FindLun(iqn));
  ASSIGN_OR_RETURN(std::string state, ReadFile(lun.first + "/state"));
  return Disk{.name = lun.second, .state = std::string(absl::StripTrailingAsciiWhitespace(state))};
}

absl::StatusOr<bool> Initiator::Revive(const std::string& iqn) {
  ASSIGN_OR_RETURN(auto lun, FindLun(iqn));
  ASSIGN_OR_RETURN(std::string state, ReadFile(lun.first + "/state"));
  // The kernel takes only "running" and "offline" from userspace, and leaves
  // "transport-offline" itself once the session logs in.
  if (absl::StripTrailingAsciiWhitespace(state) != "offline") return false;
  RETURN_IF_ERROR(WriteAttribute(lun.first + "/state", "running\n"));
  return true;
}

absl::StatusOr<std::string> Initiator::WaitDevice(const std::string& iqn, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<std::string> dev = absl::NotFoundError("");
    if (auto lun = FindLun(iqn); lun.ok()) dev = "/dev/" + lun->second;
    // The sysfs entry comes first, the /dev node a moment later, and the disk
    // opens only once the SCSI layer has attached it: until then open() fails
    // (ENXIO; libcryptsetup then said "Block device required" and a migration
    // rolled back). Wait until it opens.
    if (dev.ok() && sysfs_ == "/sys") {
      Fd fd(::open(dev->c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
      if (fd.valid()) return dev;
    } else if (dev.ok() && std::filesystem::exists(sysfs_ + *dev)) {
      return dev;
    }
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError(absl::StrCat("no disk appeared for ", iqn, " within ", absl::FormatDuration(timeout)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace volmigrate::iscsi
