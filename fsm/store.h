// The durable store behind every state machine: one LMDB environment per worker.
//
//   machines: id -> Record            (current state and data)
//   history:  id \0 seq(be64) -> HistoryEntry   (append-only)
//   claims:   volume -> id of the machine that holds it
//   meta:     "format" -> version
//
// Each Create/Commit is one LMDB write transaction, so a crash leaves either the
// old record and history or the new ones, never a mix.
//
// The store is the worker's one admission authority. A volume is held by at
// most one thing at a time: a machine that is not terminal and named it in
// Record::claims (durable), or a Lease (in memory, for an operation that runs
// inside one request and dies with the process). "Is it free" and "it is mine"
// happen under one lock and, for a machine, in the write transaction that
// creates it: two requests for one volume cannot both pass.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsm/record.pb.h"

struct MDB_txn;

namespace volmigrate::fsm {

using Record = volmigrate::fsm::Record;
using HistoryEntry = volmigrate::fsm::HistoryEntry;

class Store;

// A volume held by an operation until this is destroyed. Movable; releases
// only what it holds.
class Lease {
 public:
  Lease(Lease&& o) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

 private:
  friend class Store;
  Lease(Store* store, std::string volume, std::string holder);
  Store* store_;
  std::string volume_, holder_;
};

class Store {
 public:
  // Opens (creating if needed) the store in directory `dir`. Refuses, with a
  // DataLoss or FailedPrecondition error naming the file, a store that is not
  // LMDB, was written by a newer format, or holds a record it cannot parse:
  // a worker must not start while some machine would be silently forgotten.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // AlreadyExists if a record with r.id() exists. Appends history "" -> state.
  // Takes every volume in r.claims(): FailedPrecondition, naming the holder,
  // if another live machine or a lease not held by r.id() holds one. A claim
  // is released when the machine's record becomes terminal.
  absl::Status Create(Record r);

  // Holds `volume` for `holder` (a machine id about to be created with a claim
  // on it, or what an operation is doing, e.g. "delete"): FailedPrecondition
  // naming the holder if a live machine or another lease holds it;
  // Unavailable if a lease of the same holder does (a retry racing itself).
  absl::StatusOr<Lease> Hold(const std::string& volume, const std::string& holder);

  // The id of the live machine, or the lease holder, that holds `volume`; ""
  // when it is free.
  absl::StatusOr<std::string> HolderOf(const std::string& volume) const;
  // OK when `volume` is free now, else the error Create would give: for an
  // early refusal before slow checks (the claim itself still decides).
  absl::Status CheckFree(const std::string& volume) const;

  // Replaces the record if its stored state is still `expected_state`
  // (FailedPrecondition otherwise: someone else moved it). Appends a history
  // entry when the state changes or `error` is not empty. A stored cancel request
  // survives the commit unless `clears_cancel` (the runner acted on it): a cancel
  // recorded while a step was running is never lost.
  absl::Status Commit(Record next, const std::string& expected_state, const std::string& error,
                      bool clears_cancel = false);

  // Records a cancel request on the stored record, read and written in one
  // transaction: a step's commit can neither come between nor be overwritten.
  // `check` sees the stored record and may refuse (its error is returned).
  // A request already recorded is success. Appends history "cancel requested".
  absl::Status RequestCancel(const std::string& id, const std::function<absl::Status(const Record&)>& check);

  absl::StatusOr<Record> Get(const std::string& id) const;
  absl::StatusOr<std::vector<Record>> List() const;
  absl::StatusOr<std::vector<HistoryEntry>> History(const std::string& id) const;

  const std::string& path() const { return dir_; }

  // OK, or why the last write to the store failed (a read-only or full file
  // system, an I/O error): what Health reports. Cleared by the next write that
  // reaches the disk. Probe() writes a marker when nothing else has written
  // for `interval`, so a store gone bad while idle is seen too.
  absl::Status WriteStatus() const;
  absl::Status Probe(absl::Duration interval);

 private:
  struct Env;
  Store(std::string dir, std::unique_ptr<Env> env);
  absl::Status Validate() const;
  // OK when `volume` is free or held by `holder` (a lease or a machine that is
  // not terminal). REQUIRES: mu_ held; `txn` is an open LMDB transaction.
  absl::Status CheckFreeLocked(MDB_txn* txn, const std::string& volume, const std::string& holder) const;
  absl::StatusOr<std::string> HolderLocked(MDB_txn* txn, const std::string& volume) const;
  // NotFound, DataLoss for a record that does not parse. REQUIRES: mu_ held.
  absl::StatusOr<Record> ReadLocked(MDB_txn* txn, absl::string_view id) const;
  // Stores `next` over `stored` (its id's record), with a history entry when
  // the state changes or `error` is not empty. REQUIRES: mu_ held, a write txn.
  absl::Status PutLocked(MDB_txn* txn, Record& next, const Record& stored, const std::string& error);
  friend class Lease;
  // Records the outcome of beginning or committing a write transaction for
  // WriteStatus and returns it. REQUIRES: mu_ held.
  absl::Status Noted(absl::Status s);

  std::string dir_;
  std::unique_ptr<Env> env_;
  mutable std::mutex mu_;  // one writer and reader at a time: records are small
  absl::Status write_status_;    // guarded by mu_
  absl::Time last_write_;        // guarded by mu_; when a write last reached the disk
  std::map<std::string, std::string> leases_;  // guarded by mu_; volume -> holder
};

int64_t NowMs();

}  // namespace volmigrate::fsm
