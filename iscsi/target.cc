#include "iscsi/target.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::iscsi {
namespace {

int Indent(const std::string& line) {
  int n = 0;
  while (n < static_cast<int>(line.size()) && line[n] == ' ') ++n;
  return n;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// A line of a target's "LUN information:"; `lun` is the LUN it describes.
absl::Status ParseLunLine(const std::string& t, TargetInfo& cur, Lun*& lun) {
  if (absl::StartsWith(t, "LUN: ")) {
    Lun l;
    if (!absl::SimpleAtoi(t.substr(5), &l.lun)) return absl::InvalidArgumentError("tgtadm show: LUN number");
    cur.luns.push_back(l);
    lun = &cur.luns.back();
  } else if (lun && absl::StartsWith(t, "Type: ")) {
    lun->type = t.substr(6);
  } else if (lun && absl::StartsWith(t, "Readonly: ")) {
    lun->readonly = t.substr(10) == "Yes";
  } else if (lun && absl::StartsWith(t, "Backing store path: ")) {
    lun->backing_path = t.substr(20);
    if (lun->backing_path == "None") lun->backing_path.clear();
  }
  return absl::OkStatus();
}

// A line of a target's "I_T nexus information:"; `nexus` is the one it describes.
void ParseNexusLine(const std::string& t, TargetInfo& cur, Nexus*& nexus) {
  if (absl::StartsWith(t, "I_T nexus: ")) {
    cur.nexuses.push_back({});
    nexus = &cur.nexuses.back();
  } else if (nexus && absl::StartsWith(t, "Initiator: ")) {
    std::string who = t.substr(11);
    nexus->initiator = who.substr(0, who.find(' '));
  } else if (nexus && absl::StartsWith(t, "IP Address: ")) {
    nexus->address = t.substr(12);
  }
}

}  // namespace

absl::StatusOr<std::vector<TargetInfo>> ParseTgtadmShow(const std::string& text) {
  std::vector<TargetInfo> out;
  std::string section;
  Lun* lun = nullptr;
  Nexus* nexus = nullptr;
  for (const auto& raw : absl::StrSplit(text, '\n')) {
    std::string line(absl::StripTrailingAsciiWhitespace(raw));
    if (line.empty()) continue;
    std::string t(absl::StripLeadingAsciiWhitespace(line));
    int indent = Indent(line);
    if (indent == 0) {
      // "Target 1: iqn...."
      std::vector<std::string> p = absl::StrSplit(t, absl::MaxSplits(": ", 1));
      TargetInfo ti;
      if (p.size() != 2 || !absl::StartsWith(p[0], "Target ") || !absl::SimpleAtoi(p[0].substr(7), &ti.tid))
        return absl::InvalidArgumentError(absl::StrCat("tgtadm show: unexpected line '", line, "'"));
      ti.iqn = p[1];
      out.push_back(std::move(ti));
      section.clear();
      continue;
    }
    if (out.empty()) return absl::InvalidArgumentError("tgtadm show: text before the first target");
    TargetInfo& cur = out.back();
    if (indent == 4) {
      section = t;
      lun = nullptr;
      nexus = nullptr;
      continue;
    }
    if (section == "LUN information:") {
      RETURN_IF_ERROR(ParseLunLine(t, cur, lun));
    } else if (section == "I_T nexus information:") {
      ParseNexusLine(t, cur, nexus);
    } else if (section == "Account information:") {
      std::string acct = t;
      if (absl::EndsWith(acct, " (outgoing)")) continue;  // mutual CHAP: not ours
      cur.accounts.push_back(acct);
    } else if (section == "ACL information:") {
      cur.acl.push_back(t);
    }
  }
  return out;
}

namespace {

// tgt's struct tgtadm_req and tgtadm_rsp, field for field (usr/tgtadm.h,
// unchanged since tgt 1.0.24).
struct TgtadmReq {
  uint32_t mode;
  uint32_t op;
  char lld[64];
  uint32_t len;  // of the header and the parameters after it
  int32_t tid;
  uint64_t sid;
  uint64_t lun;
  uint32_t cid;
  uint32_t host_no;
  uint32_t device_type;
  uint32_t ac_dir;
  uint32_t pack;
  uint32_t force;
};
static_assert(sizeof(TgtadmReq) == 120);
struct TgtadmRsp {
  uint32_t err;
  uint32_t len;  // of the header and the text after it
};
constexpr uint32_t kModeAccount = 7, kOpNew = 0;
constexpr uint32_t kUserExists = 14;  // TGTADM_USER_EXIST

absl::Status WriteAll(int fd, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoError(errno, what);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NewTgtdAccount(const std::string& socket_path, const std::string& user, const std::string& secret) {
  const std::string where = absl::StrCat("tgtd's management socket ", socket_path);
  if (user.find(',') != std::string::npos || secret.find(',') != std::string::npos)
    return absl::InvalidArgumentError("a tgtd account's user and secret cannot hold ','");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return absl::InvalidArgumentError(where + ": path too long");
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return absl::UnavailableError(absl::StrCat("connecting to ", where, " (is tgtd running?): ", std::strerror(errno)));
  // tgtd splits "user=U,password=P" at the first ',' and wants the NUL.
  std::string params = absl::StrCat("user=", user, ",password=", secret);
  params.push_back('\0');
  TgtadmReq req{};
  req.mode = kModeAccount;
  req.op = kOpNew;
  std::memcpy(req.lld, "iscsi", 5);
  req.len = static_cast<uint32_t>(sizeof(req) + params.size());
  req.tid = -1;
  RETURN_IF_ERROR(WriteAll(fd.get(), &req, sizeof(req), "writing to " + where));
  RETURN_IF_ERROR(WriteAll(fd.get(), params.data(), params.size(), "writing to " + where));
  TgtadmRsp rsp{};
  ssize_t n = ::recv(fd.get(), &rsp, sizeof(rsp), MSG_WAITALL);
  if (n != static_cast<ssize_t>(sizeof(rsp)))
    return absl::UnavailableError(absl::StrCat(where, " closed before answering"));
  if (rsp.err == kUserExists) return absl::AlreadyExistsError(absl::StrCat("tgtd account ", user, " exists"));
  if (rsp.err != 0)
    return absl::UnavailableError(absl::StrCat("tgtd refused account ", user, ": tgtadm error ", rsp.err));
  return absl::OkStatus();
}

absl::Status Tgt::Tgtadm(std::vector<std::string> args) {
  std::vector<std::string> argv = {"tgtadm", "--lld", "iscsi"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(*ex_, {.argv = argv}).status();
}

absl::StatusOr<std::vector<TargetInfo>> Tgt::List() {
  ASSIGN_OR_RETURN(ExecResult r, RunChecked(*ex_, {.argv = {"tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "target"}},
                                            absl::StatusCode::kUnavailable));
  return ParseTgtadmShow(r.out);
}

absl::StatusOr<std::string> Tgt::Accounts() {
  ASSIGN_OR_RETURN(ExecResult r, RunChecked(*ex_, {.argv = {"tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "account"}},
                                            absl::StatusCode::kUnavailable));
  return r.out;
}

absl::Status Tgt::Export(const ExportSpec& s) {
  std::lock_guard lock(mu_);
  if (s.iqn.empty() || s.device.empty() || s.chap_user.empty() || s.initiator_iqn.empty())
    return absl::InvalidArgumentError("export needs an IQN, a device, a CHAP user and the initiator's IQN");
  if (s.chap_secret.size() < 12 || s.chap_secret.size() > 16)
    return absl::InvalidArgumentError("CHAP secret must be 12-16 characters");
  ASSIGN_OR_RETURN(std::vector<TargetInfo> all, List());
  const TargetInfo* have = nullptr;
  std::set<int> tids;
  for (const TargetInfo& t : all) {
    tids.insert(t.tid);
    if (t.iqn == s.iqn) have = &t;
  }
  int tid = 1;
  if (have) {
    tid = have->tid;
  } else {
    while (tids.count(tid)) ++tid;
    RETURN_IF_ERROR(Tgtadm({"--op", "new", "--mode", "target", "--tid", absl::StrCat(tid), "-T", s.iqn}));
  }
  std::string t = absl::StrCat(tid);
  const Lun* disk = nullptr;
  if (have)
    for (const Lun& l : have->luns)
      if (l.lun == 1) disk = &l;
  if (disk && disk->backing_path != s.device)
    return absl::AlreadyExistsError(absl::StrCat("target ", s.iqn, " exports ", disk->backing_path, ", not ", s.device));
  if (!disk) RETURN_IF_ERROR(Tgtadm({"--op", "new", "--mode", "logicalunit", "--tid", t, "--lun", "1", "-b", s.device}));
  // tgtadm refuses readonly=1 when the LUN is created; it takes it as an update.
  if (!disk || !disk->readonly)
    RETURN_IF_ERROR(Tgtadm({"--op", "update", "--mode", "logicalunit", "--tid", t, "--lun", "1", "--params", "readonly=1"}));
  if (!have || !Contains(have->accounts, s.chap_user)) {
    ASSIGN_OR_RETURN(std::string accounts, Accounts());
    bool exists = false;
    for (auto line : absl::StrSplit(accounts, '\n'))
      exists |= absl::StripAsciiWhitespace(line) == s.chap_user;
    if (!exists) RETURN_IF_ERROR(NewTgtdAccount(socket_, s.chap_user, s.chap_secret));
    RETURN_IF_ERROR(Tgtadm({"--op", "bind", "--mode", "account", "--tid", t, "--user", s.chap_user}));
  }
  if (!have || !Contains(have->acl, s.initiator_iqn))
    RETURN_IF_ERROR(Tgtadm({"--op", "bind", "--mode", "target", "--tid", t, "--initiator-name", s.initiator_iqn}));
  return absl::OkStatus();
}

absl::Status Tgt::Remove(const std::string& iqn, const std::string& chap_user) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(std::vector<TargetInfo> all, List());
  for (const TargetInfo& t : all) {
    if (t.iqn != iqn) continue;
    RETURN_IF_ERROR(Tgtadm({"--op", "delete", "--mode", "target", "--tid", absl::StrCat(t.tid), "--force"}));
  }
  if (chap_user.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string accounts, Accounts());
  for (auto line : absl::StrSplit(accounts, '\n')) {
    if (absl::StripAsciiWhitespace(line) == chap_user)
      return Tgtadm({"--op", "delete", "--mode", "account", "--user", chap_user});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TargetInfo>> Tgt::Leftovers(const std::string& prefix) {
  ASSIGN_OR_RETURN(std::vector<TargetInfo> all, List());
  std::vector<TargetInfo> out;
  for (TargetInfo& t : all)
    if (absl::StartsWith(t.iqn, prefix)) out.push_back(std::move(t));
  return out;
}

}  // namespace volmigrate::iscsi
