#include "iscsi/target.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fake_executor.h"
#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::iscsi {
namespace {

constexpr char kShow[] = "tgtadm --lld iscsi --op show --mode target";

TEST(TgtadmShow, ParsesCapturedIdleTarget) {
  auto all = ParseTgtadmShow(TestData("tgtadm-show-idle.txt"));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  const TargetInfo& t = (*all)[0];
  EXPECT_EQ(t.tid, 1);
  EXPECT_EQ(t.iqn, "iqn.2026-11.io.volmigrate:g1.mig-1");
  ASSERT_EQ(t.luns.size(), 2u);
  EXPECT_EQ(t.luns[0].type, "controller");
  EXPECT_EQ(t.luns[0].backing_path, "");
  EXPECT_EQ(t.luns[1].backing_path, "/dev/vg0/vol-1");
  EXPECT_TRUE(t.luns[1].readonly);
  EXPECT_EQ(t.accounts, std::vector<std::string>{"mig-1"});
  EXPECT_EQ(t.acl, (std::vector<std::string>{"169.254.0.2", "iqn.2026-11.io.volmigrate:g2"}));
  EXPECT_TRUE(t.nexuses.empty());
}

TEST(TgtadmShow, ParsesCapturedConnectedTarget) {
  auto all = ParseTgtadmShow(TestData("tgtadm-show-connected.txt"));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ((*all)[0].nexuses.size(), 1u);
  EXPECT_EQ((*all)[0].nexuses[0].initiator, "iqn.2026-11.io.volmigrate:g2");
  EXPECT_EQ((*all)[0].nexuses[0].address, "169.254.0.2");
}

TEST(TgtadmShow, EmptyAndGarbage) {
  EXPECT_TRUE(ParseTgtadmShow("")->empty());
  EXPECT_FALSE(ParseTgtadmShow("hello\n").ok());
}

ExportSpec Spec() {
  return {.iqn = "iqn.2026-11.io.volmigrate:g1.mig-2",
          .device = "/dev/vg0/vol-2",
          .chap_user = "mig-2",
          .chap_secret = "0123456789abcd",
          .initiator_iqn = "iqn.2026-11.io.volmigrate:g2"};
}

// tgtd's management socket, played: answers each request with `err` and
// keeps what it was sent.
class FakeTgtd {
 public:
  explicit FakeTgtd(uint32_t err = 0) : path_(NewTempDir() + "/socket.0"), err_(err) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeTgtd() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  const std::string& path() const { return path_; }
  // Each request: its header's mode, op, lld, tid and the parameters.
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char hdr[120];
      uint32_t f[2], len = 0;
      int32_t tid = 0;
      if (::recv(c, hdr, sizeof(hdr), MSG_WAITALL) == sizeof(hdr)) {
        std::memcpy(f, hdr, 8);
        std::memcpy(&len, hdr + 72, 4);
        std::memcpy(&tid, hdr + 76, 4);
        std::string params(len - sizeof(hdr), '\0');
        ::recv(c, params.data(), params.size(), MSG_WAITALL);
        std::lock_guard lock(mu_);
        requests_.push_back(absl::StrCat(f[0], " ", f[1], " ", hdr + 8, " ", tid, " ", params));
        uint32_t rsp[2] = {err_, 8};
        (void)!::write(c, rsp, sizeof(rsp));
      }
      ::close(c);
    }
  }
  std::string path_;
  uint32_t err_;
  int fd_ = -1;
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TEST(Tgt, ExportMakesEveryPieceWithTheNextFreeTid) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, TestData("tgtadm-show-idle.txt"), ""});
  ex.On("tgtadm --lld iscsi --op show --mode account", ExecResult{0, "Account list:\n    mig-1\n", ""});
  ex.On("tgtadm --lld iscsi --op new", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op update", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op bind", ExecResult{0, "", ""});
  FakeTgtd tgtd;
  Tgt tgt(&ex, tgtd.path());
  ASSERT_TRUE(tgt.Export(Spec()).ok());
  std::vector<std::string> want = {
      kShow,
      "tgtadm --lld iscsi --op new --mode target --tid 2 -T iqn.2026-11.io.volmigrate:g1.mig-2",
      "tgtadm --lld iscsi --op new --mode logicalunit --tid 2 --lun 1 -b /dev/vg0/vol-2",
      "tgtadm --lld iscsi --op update --mode logicalunit --tid 2 --lun 1 --params readonly=1",
      "tgtadm --lld iscsi --op show --mode account",
      "tgtadm --lld iscsi --op bind --mode account --tid 2 --user mig-2",
      "tgtadm --lld iscsi --op bind --mode target --tid 2 --initiator-name iqn.2026-11.io.volmigrate:g2",
  };
  EXPECT_EQ(ex.calls, want);
  // The account, secret included, went over the socket: mode account, op new.
  EXPECT_EQ(tgtd.requests(), std::vector<std::string>{std::string("7 0 iscsi -1 user=mig-2,password=0123456789abcd") +
                                                       '\0'});
}

TEST(Tgt, NoTgtdIsUnavailable) {
  absl::Status s = NewTgtdAccount(NewTempDir() + "/socket.0", "mig-2", "0123456789abcd");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message().find("0123456789abcd"), std::string::npos) << s;
}

TEST(Tgt, ExportOfAnExistingCompleteTargetDoesNothing) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, TestData("tgtadm-show-idle.txt"), ""});
  Tgt tgt(&ex);
  ExportSpec s = Spec();
  s.iqn = "iqn.2026-11.io.volmigrate:g1.mig-1";
  s.device = "/dev/vg0/vol-1";
  s.chap_user = "mig-1";
  ASSERT_TRUE(tgt.Export(s).ok());
  EXPECT_EQ(ex.calls, std::vector<std::string>{kShow});
  s.device = "/dev/vg0/other";
  EXPECT_EQ(tgt.Export(s).code(), absl::StatusCode::kAlreadyExists);
}

TEST(Tgt, BadSecretRefusedAndNeverEchoed) {
  FakeExecutor ex;
  Tgt tgt(&ex);
  ExportSpec s = Spec();
  s.chap_secret = "short";
  absl::Status st = tgt.Export(s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().find("short"), std::string::npos);
  EXPECT_TRUE(ex.calls.empty());
}

TEST(Tgt, RefusedAccountNamesNoSecret) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op show --mode account", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op", ExecResult{0, "", ""});
  FakeTgtd tgtd(17);  // TGTADM_INVALID_REQUEST
  absl::Status st = Tgt(&ex, tgtd.path()).Export(Spec());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(st.message().find("0123456789abcd"), std::string::npos) << st;
  for (const std::string& c : ex.calls) EXPECT_EQ(c.find("0123456789abcd"), std::string::npos) << c;
}

TEST(Tgt, RemoveForcesAndDropsTheAccount) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, TestData("tgtadm-show-connected.txt"), ""});
  ex.On("tgtadm --lld iscsi --op show --mode account", ExecResult{0, "Account list:\n    mig-1\n", ""});
  ex.On("tgtadm --lld iscsi --op delete", ExecResult{0, "", ""});
  Tgt tgt(&ex);
  ASSERT_TRUE(tgt.Remove("iqn.2026-11.io.volmigrate:g1.mig-1", "mig-1").ok());
  EXPECT_EQ(ex.Count("tgtadm --lld iscsi --op delete --mode target --tid 1 --force"), 1);
  EXPECT_EQ(ex.Count("tgtadm --lld iscsi --op delete --mode account --user mig-1"), 1);
  ex.calls.clear();
  ASSERT_TRUE(tgt.Remove("iqn.2026-11.io.volmigrate:g1.gone", "gone").ok());
  EXPECT_EQ(ex.Count("tgtadm --lld iscsi --op delete"), 0);
}

TEST(Tgt, LeftoversByPrefix) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, TestData("tgtadm-show-idle.txt"), ""});
  Tgt tgt(&ex);
  EXPECT_EQ(tgt.Leftovers("iqn.2026-11.io.volmigrate:g1.")->size(), 1u);
  EXPECT_TRUE(tgt.Leftovers("iqn.2026-11.io.volmigrate:g9.")->empty());
}

}  // namespace
}  // namespace volmigrate::iscsi
