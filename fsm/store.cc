#include "fsm/store.h"

#include <fcntl.h>
#include <lmdb.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::fsm {
namespace {

constexpr uint32_t kFormat = 1;
constexpr size_t kMapSize = size_t{1} << 30;  // address space, not disk: grows as used

absl::Status MdbError(int rc, absl::string_view what) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (rc) {
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      code = absl::StatusCode::kDataLoss;
      break;
    case MDB_VERSION_MISMATCH:
      code = absl::StatusCode::kFailedPrecondition;
      break;
    case MDB_MAP_FULL:
      code = absl::StatusCode::kResourceExhausted;
      break;
    default:
      if (rc > 0) return ErrnoError(rc, what);
  }
  return absl::Status(code, absl::StrCat(what, ": ", mdb_strerror(rc)));
}

struct EnvClose {
  void operator()(MDB_env* e) const { mdb_env_close(e); }
};

// A transaction that aborts unless committed.
class Txn {
 public:
  static absl::StatusOr<Txn> Begin(MDB_env* env, bool write) {
    MDB_txn* t = nullptr;
    if (int rc = mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &t); rc != 0)
      return MdbError(rc, "beginning LMDB transaction");
    return Txn(t);
  }
  Txn(Txn&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  Txn& operator=(Txn&&) = delete;
  ~Txn() {
    if (t_) mdb_txn_abort(t_);
  }
  MDB_txn* get() const { return t_; }
  absl::Status Commit() {
    int rc = mdb_txn_commit(std::exchange(t_, nullptr));
    return rc == 0 ? absl::OkStatus() : MdbError(rc, "committing LMDB transaction");
  }

 private:
  explicit Txn(MDB_txn* t) : t_(t) {}
  MDB_txn* t_;
};

MDB_val Val(absl::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
absl::string_view View(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

std::string HistoryKey(absl::string_view id, uint64_t seq) {
  std::string k(id);
  k.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>((seq >> shift) & 0xff));
  return k;
}

}  // namespace

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Store::Env {
  std::unique_ptr<MDB_env, EnvClose> env;
  MDB_dbi machines = 0, history = 0, meta = 0, claims = 0;
};

Store::Store(std::string dir, std::unique_ptr<Env> env) : dir_(std::move(dir)), env_(std::move(env)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  auto env = std::make_unique<Env>();
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != 0) return MdbError(rc, "creating LMDB environment");
  env->env.reset(raw);
  mdb_env_set_maxdbs(raw, 8);
  mdb_env_set_mapsize(raw, kMapSize);
  std::string where = absl::StrCat("opening state store ", dir, "/data.mdb");
  if (int rc = mdb_env_open(raw, dir.c_str(), MDB_NOTLS, 0600); rc != 0) return MdbError(rc, where);
  // LMDB opens its lock and meta files close-on-exec but not the data file:
  // every command workerd runs (lvs complains) would inherit it.
  mdb_filehandle_t fd;
  if (int rc = mdb_env_get_fd(raw, &fd); rc != 0) return MdbError(rc, where);
  if (fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC) != 0) return ErrnoError(errno, where);

  {
    ASSIGN_OR_RETURN(Txn txn, Txn::Begin(raw, true));
    for (auto [name, dbi] : {std::pair{"machines", &env->machines}, {"history", &env->history}, {"meta", &env->meta},
                             {"claims", &env->claims}}) {
      if (int rc = mdb_dbi_open(txn.get(), name, MDB_CREATE, dbi); rc != 0) return MdbError(rc, where);
    }
    MDB_val k = Val("format"), v;
    int rc = mdb_get(txn.get(), env->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
      std::string f = std::to_string(kFormat);
      MDB_val fv = Val(f);
      if ((rc = mdb_put(txn.get(), env->meta, &k, &fv, 0)) != 0) return MdbError(rc, where);
    } else if (rc != 0) {
      return MdbError(rc, where);
    } else if (View(v) != std::to_string(kFormat)) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": format version ", View(v), ", this build reads ",
                                                        kFormat, " (written by a newer volmigrate?)"));
    }
    RETURN_IF_ERROR(txn.Commit());
  }
  std::unique_ptr<Store> store(new Store(dir, std::move(env)));
  RETURN_IF_ERROR(store->Validate());
  return store;
}

absl::Status Store::Validate() const {
  // List() parses every record and fails on the first one it cannot read.
  return List().status();
}

absl::Status Store::Create(Record r) {
  if (r.id().empty() || r.id().find('\0') != std::string::npos)
    return absl::InvalidArgumentError("machine id must be non-empty and contain no NUL");
  std::lock_guard lock(mu_);
  absl::StatusOr<Txn> began = Txn::Begin(env_->env.get(), true);
  if (!began.ok()) return Noted(began.status());
  Txn& txn = *began;
  for (const std::string& volume : r.claims()) {
    RETURN_IF_ERROR(CheckFreeLocked(txn.get(), volume, r.id()));
    MDB_val ck = Val(volume), cv = Val(r.id());
    if (int rc = mdb_put(txn.get(), env_->claims, &ck, &cv, 0); rc != 0)
      return Noted(MdbError(rc, absl::StrCat("claiming ", volume, " for ", r.id())));
  }
  int64_t now = NowMs();
  r.set_created_ms(now);
  r.set_updated_ms(now);
  r.set_next_seq(1);
  HistoryEntry h;
  h.set_at_ms(now);
  h.set_to(r.state());
  std::string rec = r.SerializeAsString(), hist = h.SerializeAsString(), hk = HistoryKey(r.id(), 0);
  MDB_val k = Val(r.id()), v = Val(rec), hkv = Val(hk), hv = Val(hist);
  int rc = mdb_put(txn.get(), env_->machines, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return absl::AlreadyExistsError(absl::StrCat("machine ", r.id(), " already exists"));
  if (rc != 0) return MdbError(rc, absl::StrCat("storing machine ", r.id()));
  if ((rc = mdb_put(txn.get(), env_->history, &hkv, &hv, 0)) != 0)
    return MdbError(rc, absl::StrCat("storing history of ", r.id()));
  return Noted(txn.Commit());
}

absl::Status Store::Commit(Record next, const std::string& expected_state, const std::string& error,
                           bool clears_cancel) {
  std::lock_guard lock(mu_);
  absl::StatusOr<Txn> began = Txn::Begin(env_->env.get(), true);
  if (!began.ok()) return Noted(began.status());
  Txn& txn = *began;
  ASSIGN_OR_RETURN(Record stored, ReadLocked(txn.get(), next.id()));
  if (stored.state() != expected_state)
    return absl::FailedPreconditionError(absl::StrCat("machine ", next.id(), " is in ", stored.state(),
                                                      ", not ", expected_state));
  if (stored.cancel_requested() && !clears_cancel) next.set_cancel_requested(true);
  *next.mutable_claims() = stored.claims();
  if (next.terminal() && !stored.terminal()) {
    for (const std::string& volume : stored.claims()) {
      MDB_val ck = Val(volume), holder;
      int rc = mdb_get(txn.get(), env_->claims, &ck, &holder);
      if (rc == 0 && View(holder) == next.id()) rc = mdb_del(txn.get(), env_->claims, &ck, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) return Noted(MdbError(rc, absl::StrCat("releasing ", volume)));
    }
  }
  next.set_created_ms(stored.created_ms());
  RETURN_IF_ERROR(PutLocked(txn.get(), next, stored, error));
  return Noted(txn.Commit());
}

absl::Status Store::PutLocked(MDB_txn* txn, Record& next, const Record& stored, const std::string& error) {
  int64_t now = NowMs();
  next.set_updated_ms(now);
  next.set_next_seq(stored.next_seq());
  if (next.state() != stored.state() || !error.empty()) {
    HistoryEntry h;
    h.set_at_ms(now);
    h.set_from(stored.state());
    h.set_to(next.state());
    h.set_error(error);
    std::string hist = h.SerializeAsString(), hk = HistoryKey(next.id(), stored.next_seq());
    MDB_val hkv = Val(hk), hv = Val(hist);
    if (int rc = mdb_put(txn, env_->history, &hkv, &hv, MDB_NOOVERWRITE); rc != 0)
      return MdbError(rc, absl::StrCat("appending history of ", next.id()));
    next.set_next_seq(stored.next_seq() + 1);
  }
  std::string rec = next.SerializeAsString();
  MDB_val k = Val(next.id()), v = Val(rec);
  if (int rc = mdb_put(txn, env_->machines, &k, &v, 0); rc != 0)
    return MdbError(rc, absl::StrCat("storing machine ", next.id()));
  return absl::OkStatus();
}

absl::Status Store::RequestCancel(const std::string& id, const std::function<absl::Status(const Record&)>& check) {
  std::lock_guard lock(mu_);
  absl::StatusOr<Txn> began = Txn::Begin(env_->env.get(), true);
  if (!began.ok()) return Noted(began.status());
  Txn& txn = *began;
  ASSIGN_OR_RETURN(Record r, ReadLocked(txn.get(), id));
  RETURN_IF_ERROR(check(r));
  if (r.cancel_requested()) return absl::OkStatus();
  Record next = r;
  next.set_cancel_requested(true);
  RETURN_IF_ERROR(PutLocked(txn.get(), next, r, "cancel requested"));
  return Noted(txn.Commit());
}

absl::StatusOr<std::string> Store::HolderLocked(MDB_txn* txn, const std::string& volume) const {
  if (auto l = leases_.find(volume); l != leases_.end()) return l->second;
  MDB_val k = Val(volume), id;
  int rc = mdb_get(txn, env_->claims, &k, &id);
  if (rc == MDB_NOTFOUND) return std::string();
  if (rc != 0) return MdbError(rc, absl::StrCat("reading the claim on ", volume));
  absl::StatusOr<Record> r = ReadLocked(txn, View(id));
  if (absl::IsNotFound(r.status())) return std::string();
  if (!r.ok()) return r.status();
  return r->terminal() ? std::string() : r->id();
}

absl::Status Store::CheckFreeLocked(MDB_txn* txn, const std::string& volume, const std::string& holder) const {
  ASSIGN_OR_RETURN(std::string h, HolderLocked(txn, volume));
  if (h.empty() || h == holder) return absl::OkStatus();
  std::string what = h;
  if (auto r = ReadLocked(txn, h); !leases_.contains(volume) && r.ok())
    what = absl::StrCat(h, " (", r->kind(), ", ", r->state(), ")");
  return absl::FailedPreconditionError(absl::StrCat("volume ", volume, " is held by ", what));
}

absl::StatusOr<Lease> Store::Hold(const std::string& volume, const std::string& holder) {
  std::lock_guard lock(mu_);
  if (auto l = leases_.find(volume); l != leases_.end()) {
    // The same holder again is a retry racing its first try: ask it to come
    // back, when the first has either made its machine or given up.
    if (l->second == holder)
      return absl::UnavailableError(absl::StrCat("volume ", volume, " is being admitted for ", holder, "; try again"));
    return absl::FailedPreconditionError(absl::StrCat("volume ", volume, " is held by ", l->second));
  }
  ASSIGN_OR_RETURN(Txn txn, Txn::Begin(env_->env.get(), false));
  RETURN_IF_ERROR(CheckFreeLocked(txn.get(), volume, holder));
  leases_[volume] = holder;
  return Lease(this, volume, holder);
}

absl::Status Store::CheckFree(const std::string& volume) const {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Txn txn, Txn::Begin(env_->env.get(), false));
  return CheckFreeLocked(txn.get(), volume, "");
}

absl::StatusOr<std::string> Store::HolderOf(const std::string& volume) const {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Txn txn, Txn::Begin(env_->env.get(), false));
  return HolderLocked(txn.get(), volume);
}

Lease::Lease(Store* store, std::string volume, std::string holder)
    : store_(store), volume_(std::move(volume)), holder_(std::move(holder)) {}

Lease::Lease(Lease&& o) noexcept
    : store_(std::exchange(o.store_, nullptr)), volume_(std::move(o.volume_)), holder_(std::move(o.holder_)) {}

Lease::~Lease() {
  if (!store_) return;
  std::lock_guard lock(store_->mu_);
  if (auto l = store_->leases_.find(volume_); l != store_->leases_.end() && l->second == holder_)
    store_->leases_.erase(l);
}

absl::Status Store::Noted(absl::Status s) {
  if (s.ok()) {
    write_status_ = s;
    last_write_ = absl::Now();
  } else {
    write_status_ = absl::Status(s.code(), absl::StrCat("state store ", dir_, " cannot be written: ", s.message()));
  }
  return s;
}

absl::Status Store::WriteStatus() const {
  std::lock_guard lock(mu_);
  return write_status_;
}

absl::Status Store::Probe(absl::Duration interval) {
  std::lock_guard lock(mu_);
  if (write_status_.ok() && absl::Now() - last_write_ < interval) return absl::OkStatus();
  absl::StatusOr<Txn> began = Txn::Begin(env_->env.get(), true);
  if (!began.ok()) return Noted(began.status());
  std::string at = std::to_string(NowMs());
  MDB_val k = Val("probe"), v = Val(at);
  if (int rc = mdb_put(began->get(), env_->meta, &k, &v, 0); rc != 0) return Noted(MdbError(rc, "probing the store"));
  return Noted(began->Commit());
}

absl::StatusOr<Record> Store::ReadLocked(MDB_txn* txn, absl::string_view id) const {
  MDB_val k = Val(id), v;
  int rc = mdb_get(txn, env_->machines, &k, &v);
  if (rc == MDB_NOTFOUND) return absl::NotFoundError(absl::StrCat("no machine ", id));
  if (rc != 0) return MdbError(rc, absl::StrCat("reading machine ", id));
  Record r;
  if (!r.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size)))
    return absl::DataLossError(absl::StrCat("record of machine ", id, " in ", dir_, " is unreadable"));
  return r;
}

absl::StatusOr<Record> Store::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Txn txn, Txn::Begin(env_->env.get(), false));
  return ReadLocked(txn.get(), id);
}

absl::StatusOr<std::vector<Record>> Store::List() const {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Txn txn, Txn::Begin(env_->env.get(), false));
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), env_->machines, &c); rc != 0) return MdbError(rc, "listing machines");
  std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(c, mdb_cursor_close);
  std::vector<Record> out;
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc != MDB_NOTFOUND; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (rc != 0) return MdbError(rc, absl::StrCat("listing machines in ", dir_));
    Record r;
    if (!r.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size)) || r.id() != View(k))
      return absl::DataLossError(absl::StrCat("record '", View(k), "' in ", dir_,
                                              "/data.mdb is unreadable; refusing to run without it"));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<HistoryEntry>> Store::History(const std::string& id) const {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Txn txn, Txn::Begin(env_->env.get(), false));
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), env_->history, &c); rc != 0) return MdbError(rc, "reading history");
  std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(c, mdb_cursor_close);
  std::string prefix = id + '\0';
  MDB_val k = Val(prefix), v;
  std::vector<HistoryEntry> out;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc != MDB_NOTFOUND;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (rc != 0) return MdbError(rc, absl::StrCat("reading history of ", id));
    if (!absl::StartsWith(View(k), prefix)) break;
    HistoryEntry h;
    if (!h.ParseFromArray(v.mv_data, static_cast<int>(v.mv_size)))
      return absl::DataLossError(absl::StrCat("history of machine ", id, " in ", dir_, " is unreadable"));
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace volmigrate::fsm
