#include "iscsi/initiator.h"

#include <filesystem>
#include <fstream>

#include "common/fake_executor.h"
#include "common/files.h"
#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::iscsi {
namespace {

constexpr char kIqn[] = "iqn.2026-11.io.volmigrate:g1.mig-1";

// A fake sysfs tree holding the session `session` to kIqn, with `below` (a
// path under the session's directory, e.g. its disk's LUN) made too; its root.
std::string FakeSysfs(const std::string& session, const std::string& below = "") {
  const std::string root = NewTempDir(), dir = root + "/class/iscsi_session/" + session;
  std::filesystem::create_directories(dir + below);
  std::ofstream(dir + "/targetname") << kIqn << "\n";
  return root;
}

TEST(SessionsP3, ParsesCapturedSession) {
  auto s = ParseSessionsP3(TestData("iscsiadm-session-P3.txt"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].sid, 1);
  EXPECT_EQ((*s)[0].iqn, kIqn);
  EXPECT_EQ((*s)[0].portal, "169.254.0.1:3260,1");
  EXPECT_EQ((*s)[0].state, "LOGGED_IN");
  EXPECT_EQ((*s)[0].disks, std::vector<std::string>{"sda"});
}

LoginSpec Spec() { return {"169.254.0.1:3260", kIqn, "mig-1", "secret-12345ab", 120}; }

// iscsiadm's node records, played: `-o new` writes one as iscsiadm does.
struct FakeNodes {
  explicit FakeNodes(FakeExecutor& ex) : dir(NewTempDir() + "/nodes") {
    ex.On("iscsiadm -m node", ExecResult{0, "", ""});
    ex.On(std::string("iscsiadm -m node -o new -T ") + kIqn + " -p 169.254.0.1:3260", [this](const Command&) {
      std::filesystem::create_directories(std::filesystem::path(Record()).parent_path());
      std::ofstream(Record()) << "# BEGIN RECORD 2.1.8\nnode.name = " << kIqn
                              << "\nnode.session.auth.password = \nnode.conn[0].port = 3260\n# END RECORD\n";
      return absl::StatusOr<ExecResult>(ExecResult{0, "", ""});
    });
  }
  std::string Record() const { return dir + "/" + kIqn + "/169.254.0.1,3260,-1/default"; }
  std::string dir;
};

TEST(Initiator, LoginWithoutANodeRecordWritesItThenLogsIn) {
  FakeExecutor ex;
  ex.On("iscsiadm -m session", ExecResult{21, "", "iscsiadm: No active sessions.\n"});
  FakeNodes nodes(ex);
  int logins = 0;
  ex.On(std::string("iscsiadm -m node -T ") + kIqn + " -p 169.254.0.1:3260 --login",
        [&](const Command&) { return absl::StatusOr<ExecResult>(ExecResult{++logins == 1 ? 21 : 0, "", ""}); });
  Initiator ini(&ex, "/sys", {"/nonexistent", nodes.dir});
  ASSERT_TRUE(ini.Login(Spec()).ok());
  EXPECT_EQ(ex.Count(std::string("iscsiadm -m node -o new -T ") + kIqn + " -p 169.254.0.1:3260"), 1);
  // Every setting in one update.
  EXPECT_EQ(ex.Count(std::string("iscsiadm -m node -T ") + kIqn + " -p 169.254.0.1:3260 -o update"), 1);
  EXPECT_EQ(ex.Count(std::string("iscsiadm -m node -T ") + kIqn +
                     " -p 169.254.0.1:3260 -o update -n node.session.auth.authmethod -v CHAP"
                     " -n node.session.auth.username -v mig-1 -n node.session.timeo.replacement_timeout -v 120"
                     " -n node.startup -v manual"),
            1);
  EXPECT_EQ(logins, 2);
  // The secret is in the record, once, and on no command line.
  std::string rec = *ReadFile(nodes.Record());
  EXPECT_NE(rec.find("node.name = " + std::string(kIqn) + "\n"), std::string::npos) << rec;
  EXPECT_EQ(rec.find("node.session.auth.password = \n"), std::string::npos) << rec;
  EXPECT_NE(rec.find("node.session.auth.password = secret-12345ab\n"), std::string::npos) << rec;
  for (const std::string& c : ex.calls) EXPECT_EQ(c.find("secret-12345ab"), std::string::npos) << c;
}

TEST(Initiator, NoRecordToHoldTheSecretIsNotFound) {
  FakeExecutor ex;
  ex.On("iscsiadm -m node", ExecResult{0, "", ""});  // as if iscsiadm kept its records elsewhere
  absl::Status s = Initiator(&ex, "/sys", {NewTempDir()}).Prepare(Spec());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_EQ(s.message().find("secret-12345ab"), std::string::npos) << s;
}

TEST(Initiator, PreparedLoginIsOneCommand) {
  FakeExecutor ex;
  ex.On("iscsiadm -m session", ExecResult{21, "", ""});
  FakeNodes nodes(ex);
  Initiator ini(&ex, "/sys", {nodes.dir});
  ASSERT_TRUE(ini.Prepare(Spec()).ok());
  int before = static_cast<int>(ex.calls.size());
  ASSERT_TRUE(ini.Login(Spec()).ok());
  EXPECT_EQ(static_cast<int>(ex.calls.size()) - before, 2);  // the session list and the login
}

TEST(Initiator, LoginWithASessionAlreadyThereDoesNothing) {
  FakeExecutor ex;
  ex.On("iscsiadm -m session", ExecResult{0, TestData("iscsiadm-session-P3.txt"), ""});
  ASSERT_TRUE(Initiator(&ex).Login(Spec()).ok());
  EXPECT_EQ(ex.Count("iscsiadm -m node"), 0);
}

TEST(Initiator, LoginWithTheSessionInSysfsStartsNoProcess) {
  FakeExecutor ex;
  ASSERT_TRUE(Initiator(&ex, FakeSysfs("session3")).Login(Spec()).ok());
  EXPECT_TRUE(ex.calls.empty());
}

TEST(Initiator, RefusedLoginIsPermissionDenied) {
  FakeExecutor ex;
  ex.On("iscsiadm -m session", ExecResult{21, "", ""});
  ex.On("iscsiadm -m node", ExecResult{0, "", ""});
  ex.On(std::string("iscsiadm -m node -T ") + kIqn + " -p 169.254.0.1:3260 --login",
        ExecResult{24, "", "iscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)\n"});
  absl::Status s = Initiator(&ex).Login(Spec());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(s.message().find("secret-12345ab"), std::string::npos);
}

TEST(Initiator, InitiatorNotAdmittedIsPermissionDenied) {
  FakeExecutor ex;
  ex.On("iscsiadm -m session", ExecResult{21, "", ""});
  ex.On("iscsiadm -m node", ExecResult{0, "", ""});
  // What tgt's ACL refusal looks like from open-iscsi (seen in tests/vm/plumbing_test.sh).
  ex.On(std::string("iscsiadm -m node -T ") + kIqn + " -p 169.254.0.1:3260 --login",
        ExecResult{19, "", "iscsiadm: initiator reported error (19 - encountered non-retryable iSCSI login failure)\n"});
  EXPECT_EQ(Initiator(&ex).Login(Spec()).code(), absl::StatusCode::kPermissionDenied);
}

TEST(Initiator, LogoutWithoutSessionStillDropsTheRecord) {
  FakeExecutor ex;
  ex.On("iscsiadm -m session", ExecResult{21, "", ""});
  ex.On("iscsiadm -m node -o delete", ExecResult{21, "", ""});
  ASSERT_TRUE(Initiator(&ex).Logout(kIqn, "169.254.0.1:3260").ok());
  EXPECT_EQ(ex.Count("iscsiadm -m node -T"), 0);
}

TEST(Initiator, WaitsForTheDiskBySysfs) {
  namespace fs = std::filesystem;
  const std::string root = FakeSysfs("session1", "/device/target0:0:0/0:0:0:1/block/sda");
  FakeExecutor ex;
  Initiator ini(&ex, root);
  // sysfs knows the disk but /dev does not yet: keep waiting, then give up.
  EXPECT_EQ(ini.WaitDevice(kIqn, absl::Milliseconds(200)).status().code(), absl::StatusCode::kDeadlineExceeded);
  fs::create_directories(root + "/dev");
  std::ofstream(root + "/dev/sda") << "";
  auto dev = ini.WaitDevice(kIqn, absl::Seconds(2));
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(*dev, "/dev/sda");
  EXPECT_EQ(ini.WaitDevice("iqn.other", absl::Milliseconds(100)).status().code(), absl::StatusCode::kDeadlineExceeded);
}

// Read from sysfs each second of a hydration: no iscsiadm process.
TEST(Initiator, SessionStateFromSysfs) {
  const std::string root = FakeSysfs("session3");
  FakeExecutor ex;
  Initiator ini(&ex, root);
  EXPECT_EQ(*ini.SessionState(kIqn), "");  // the session is there, its state not yet
  for (const char* state : {"LOGGED_IN", "FAILED"}) {
    std::ofstream(root + "/class/iscsi_session/session3/state") << state << "\n";
    EXPECT_EQ(*ini.SessionState(kIqn), state);
  }
  EXPECT_EQ(*ini.SessionState("iqn.other"), "");
  EXPECT_EQ(ex.Count("iscsiadm"), 0);
}

// The kernel keeps a disk its error handler set offline so until told; once
// the session is back, Revive tells it. Other states are the kernel's to leave.
TEST(Initiator, RevivesAnOfflineDiskOnly) {
  const std::string root = FakeSysfs("session1", "/device/target0:0:0/0:0:0:1/block/sdb");
  const std::string lun = root + "/class/iscsi_session/session1/device/target0:0:0/0:0:0:1";
  FakeExecutor ex;
  Initiator ini(&ex, root);
  EXPECT_EQ(ini.FindDisk("iqn.other").status().code(), absl::StatusCode::kNotFound);
  for (const char* state : {"running", "blocked", "transport-offline"}) {
    std::ofstream(lun + "/state") << state << "\n";
    auto d = ini.FindDisk(kIqn);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->name, "sdb");
    EXPECT_EQ(d->state, state);
    EXPECT_FALSE(*ini.Revive(kIqn)) << state;
    EXPECT_EQ(ini.FindDisk(kIqn)->state, state);
  }
  std::ofstream(lun + "/state") << "offline\n";
  EXPECT_TRUE(*ini.Revive(kIqn));
  EXPECT_EQ(ini.FindDisk(kIqn)->state, "running");
}

}  // namespace
}  // namespace volmigrate::iscsi
