#include "fsm/store.h"

#include <lmdb.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/files.h"
#include "common/test_util.h"
#include "gtest/gtest.h"

namespace volmigrate::fsm {
namespace {

Record Rec(const std::string& id, const std::string& state) {
  Record r;
  r.set_id(id);
  r.set_kind("k");
  r.set_state(state);
  return r;
}

TEST(Store, CreateCommitAndHistory) {
  auto s = Store::Open(NewTempDir());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Create(Rec("a", "ONE")).ok());
  EXPECT_EQ((*s)->Create(Rec("a", "ONE")).code(), absl::StatusCode::kAlreadyExists);

  Record next = Rec("a", "TWO");
  next.set_data("payload");
  ASSERT_TRUE((*s)->Commit(next, "ONE", "").ok());
  // A stale writer that still thinks the machine is in ONE is refused.
  EXPECT_EQ((*s)->Commit(Rec("a", "THREE"), "ONE", "").code(), absl::StatusCode::kFailedPrecondition);
  // Same state with an error: history records it.
  ASSERT_TRUE((*s)->Commit(next, "TWO", "UNAVAILABLE: peer down").ok());

  auto got = (*s)->Get("a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state(), "TWO");
  EXPECT_EQ(got->data(), "payload");
  auto hist = (*s)->History("a");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_EQ((*hist)[0].to(), "ONE");
  EXPECT_EQ((*hist)[1].from(), "ONE");
  EXPECT_EQ((*hist)[1].to(), "TWO");
  EXPECT_EQ((*hist)[2].error(), "UNAVAILABLE: peer down");
  EXPECT_EQ((*s)->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(Store, HistoryOfOneMachineExcludesPrefixSiblings) {
  auto s = Store::Open(NewTempDir());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Create(Rec("m1", "A")).ok());
  ASSERT_TRUE((*s)->Create(Rec("m10", "A")).ok());
  ASSERT_TRUE((*s)->Commit(Rec("m10", "B"), "A", "").ok());
  EXPECT_EQ((*s)->History("m1")->size(), 1u);
  EXPECT_EQ((*s)->History("m10")->size(), 2u);
}

TEST(Store, ReopenKeepsEverything) {
  std::string dir = NewTempDir();
  {
    auto s = Store::Open(dir);
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE((*s)->Create(Rec("m" + std::to_string(i), "A")).ok());
    ASSERT_TRUE((*s)->Commit(Rec("m7", "B"), "A", "").ok());
  }
  auto s = Store::Open(dir);
  ASSERT_TRUE(s.ok());
  auto all = (*s)->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 50u);
  EXPECT_EQ((*s)->Get("m7")->state(), "B");
}

TEST(Store, CancelRequestSurvivesAStepCommit) {
  auto s = Store::Open(NewTempDir());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Create(Rec("a", "A")).ok());
  Record cancel = Rec("a", "A");
  cancel.set_cancel_requested(true);
  ASSERT_TRUE((*s)->Commit(cancel, "A", "cancel requested").ok());
  // A step that read the record before the cancel commits without the flag.
  ASSERT_TRUE((*s)->Commit(Rec("a", "B"), "A", "").ok());
  EXPECT_TRUE((*s)->Get("a")->cancel_requested());
  ASSERT_TRUE((*s)->Commit(Rec("a", "ROLLBACK"), "B", "", /*clears_cancel=*/true).ok());
  EXPECT_FALSE((*s)->Get("a")->cancel_requested());
}

// Commands workerd runs must not inherit the store's files (lvm refuses to
// run quietly with a leaked descriptor, and a child could keep the store open).
TEST(Store, ChildrenDoNotInheritItsFiles) {
  std::string dir = NewTempDir();
  auto s = Store::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Create(Rec("m1", "A")).ok());
  FILE* p = popen("ls -l /proc/self/fd/", "r");
  ASSERT_NE(p, nullptr);
  std::string fds;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) fds += buf;
  ASSERT_EQ(pclose(p), 0);
  EXPECT_EQ(fds.find(dir), std::string::npos) << fds;
}

// A write that cannot reach the disk (here: past the file size limit, as a
// full or read-only file system would refuse it) is reported by WriteStatus
// until a write succeeds again.
TEST(Store, WriteStatusReportsAFailedWriteUntilOneSucceeds) {
  std::string dir = NewTempDir();
  auto s = Store::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status();
  Store& st = **s;
  ASSERT_TRUE(st.Create(Rec("m1", "A")).ok());
  EXPECT_TRUE(st.WriteStatus().ok());

  struct rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_IGN);
  // Past the two meta pages: every commit fails before it writes a meta page.
  struct rlimit lim = old;
  lim.rlim_cur = 8192;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  Record big = Rec("m1", "B");
  big.set_data(std::string(1 << 20, 'x'));
  absl::Status failed = st.Commit(big, "A", "");
  absl::Status probed = st.Probe(absl::ZeroDuration());
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_DFL);

  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(probed.ok());
  EXPECT_FALSE(st.WriteStatus().ok());
  EXPECT_NE(st.WriteStatus().message().find("cannot be written"), std::string::npos) << st.WriteStatus();
  EXPECT_NE(st.WriteStatus().message().find(dir), std::string::npos) << st.WriteStatus();

  // Writable again: the next write clears it, and the record never changed.
  ASSERT_TRUE(st.Commit(big, "A", "").ok());
  EXPECT_TRUE(st.WriteStatus().ok());
  EXPECT_EQ(st.Get("m1")->data().size(), size_t{1} << 20);
  EXPECT_TRUE(st.Probe(absl::ZeroDuration()).ok());
}

TEST(Store, GarbageFileIsAClearError) {
  std::string dir = NewTempDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/data.mdb", std::string(8192, 'x'), 0600).ok());
  auto s = Store::Open(dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find(dir + "/data.mdb"), std::string::npos) << s.status();
}

TEST(Store, UnreadableRecordRefusesToOpen) {
  std::string dir = NewTempDir();
  { ASSERT_TRUE(Store::Open(dir).ok()); }
  // Write a record the store cannot parse, behind its back.
  MDB_env* env;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 4);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0600), 0);
  MDB_txn* txn;
  MDB_dbi dbi;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "machines", 0, &dbi), 0);
  std::string key = "mig-1", val = "\xff\xff\xff\xff not a record";
  MDB_val k{key.size(), key.data()}, v{val.size(), val.data()};
  ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);

  auto s = Store::Open(dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("mig-1"), std::string::npos) << s.status();
}

Record Claiming(const std::string& id, const std::string& volume) {
  Record r = Rec(id, "A");
  r.add_claims(volume);
  return r;
}

TEST(Store, OneLiveMachineHoldsAVolume) {
  std::string dir = NewTempDir();
  {
    auto s = Store::Open(dir);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Create(Claiming("m1", "v")).ok());
    absl::Status second = (*s)->Create(Claiming("m2", "v"));
    EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.message().find("held by m1 (k, A)"), std::string::npos) << second;
    EXPECT_FALSE((*s)->Get("m2").ok()) << "a refused machine leaves no record";
    EXPECT_TRUE((*s)->Create(Claiming("m3", "w")).ok()) << "other volumes are free";
    EXPECT_EQ(*(*s)->HolderOf("v"), "m1");
    EXPECT_EQ(*(*s)->HolderOf("x"), "");
  }
  // The claim is durable: a restarted worker still refuses a second holder.
  auto s = Store::Open(dir);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Create(Claiming("m2", "v")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*s)->Hold("v", "delete request").status().code(), absl::StatusCode::kFailedPrecondition);
  // A step commit keeps the claim, whatever record the step wrote.
  ASSERT_TRUE((*s)->Commit(Rec("m1", "B"), "A", "").ok());
  EXPECT_EQ((*s)->Get("m1")->claims_size(), 1);
  EXPECT_EQ(*(*s)->HolderOf("v"), "m1");
  // Terminal releases it.
  Record done = Rec("m1", "DONE");
  done.set_terminal(true);
  ASSERT_TRUE((*s)->Commit(done, "B", "").ok());
  EXPECT_EQ(*(*s)->HolderOf("v"), "");
  EXPECT_TRUE((*s)->Create(Claiming("m2", "v")).ok());
}

TEST(Store, LeasesExcludeMachinesAndEachOther) {
  auto s = Store::Open(NewTempDir());
  ASSERT_TRUE(s.ok());
  {
    auto lease = (*s)->Hold("v", "a delete request");
    ASSERT_TRUE(lease.ok()) << lease.status();
    EXPECT_EQ(*(*s)->HolderOf("v"), "a delete request");
    EXPECT_EQ((*s)->Hold("v", "an unseal request").status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ((*s)->Hold("v", "a delete request").status().code(), absl::StatusCode::kUnavailable)
        << "the same request twice at once: the second may retry";
    absl::Status m = (*s)->Create(Claiming("m1", "v"));
    EXPECT_EQ(m.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(m.message().find("held by a delete request"), std::string::npos) << m;
  }
  EXPECT_EQ(*(*s)->HolderOf("v"), "") << "a lease ends with its scope";
  {
    // A lease taken in a machine's name lets that machine be created: the
    // checks made under the lease and the claim are one admission.
    auto lease = (*s)->Hold("v", "m1");
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ((*s)->Create(Claiming("m2", "v")).code(), absl::StatusCode::kFailedPrecondition);
    ASSERT_TRUE((*s)->Create(Claiming("m1", "v")).ok());
  }
  EXPECT_EQ(*(*s)->HolderOf("v"), "m1") << "the machine holds it after the lease ends";
}

TEST(Store, RejectsBadIds) {
  auto s = Store::Open(NewTempDir());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Create(Rec("", "A")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*s)->Create(Rec(std::string("a\0b", 3), "A")).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace volmigrate::fsm
