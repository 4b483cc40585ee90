#include "iscsi/target.h"

#include "common/fake_executor.h"
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

TEST(Tgt, ExportMakesEveryPieceWithTheNextFreeTid) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, TestData("tgtadm-show-idle.txt"), ""});
  ex.On("tgtadm --lld iscsi --op show --mode account", ExecResult{0, "Account list:\n    mig-1\n", ""});
  ex.On("tgtadm --lld iscsi --op new", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op update", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op bind", ExecResult{0, "", ""});
  Tgt tgt(&ex);
  ASSERT_TRUE(tgt.Export(Spec()).ok());
  std::vector<std::string> want = {
      kShow,
      "tgtadm --lld iscsi --op new --mode target --tid 2 -T iqn.2026-11.io.volmigrate:g1.mig-2",
      "tgtadm --lld iscsi --op new --mode logicalunit --tid 2 --lun 1 -b /dev/vg0/vol-2",
      "tgtadm --lld iscsi --op update --mode logicalunit --tid 2 --lun 1 --params readonly=1",
      "tgtadm --lld iscsi --op show --mode account",
      "tgtadm --lld iscsi --op new --mode account --user mig-2 --password 0123456789abcd",
      "tgtadm --lld iscsi --op bind --mode account --tid 2 --user mig-2",
      "tgtadm --lld iscsi --op bind --mode target --tid 2 --initiator-name iqn.2026-11.io.volmigrate:g2",
  };
  EXPECT_EQ(ex.calls, want);
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

TEST(Tgt, FailingTgtadmMasksTheSecret) {
  FakeExecutor ex;
  ex.On(kShow, ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op show --mode account", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op", ExecResult{0, "", ""});
  ex.On("tgtadm --lld iscsi --op new --mode account",
        ExecResult{22, "", "tgtadm: invalid request 0123456789abcd\n"});
  absl::Status st = Tgt(&ex).Export(Spec());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find("0123456789abcd"), std::string::npos) << st;
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
