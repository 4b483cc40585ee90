// The durable store behind every state machine: one LMDB environment per worker.
//
//   machines: id -> Record            (current state and data)
//   history:  id \0 seq(be64) -> HistoryEntry   (append-only)
//   meta:     "format" -> version
//
// Each Create/Commit is one LMDB write transaction, so a crash leaves either the
// old record and history or the new ones, never a mix.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsm/record.pb.h"

namespace volmigrate::fsm {

using Record = volmigrate::fsm::Record;
using HistoryEntry = volmigrate::fsm::HistoryEntry;

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
  absl::Status Create(Record r);

  // Replaces the record if its stored state is still `expected_state`
  // (FailedPrecondition otherwise: someone else moved it). Appends a history
  // entry when the state changes or `error` is not empty. A stored cancel request
  // survives the commit unless `clears_cancel` (the runner acted on it): a cancel
  // recorded while a step was running is never lost.
  absl::Status Commit(Record next, const std::string& expected_state, const std::string& error,
                      bool clears_cancel = false);

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
  // Records the outcome of beginning or committing a write transaction for
  // WriteStatus and returns it. REQUIRES: mu_ held.
  absl::Status Noted(absl::Status s);

  std::string dir_;
  std::unique_ptr<Env> env_;
  mutable std::mutex mu_;  // one writer and reader at a time: records are small
  absl::Status write_status_;    // guarded by mu_
  absl::Time last_write_;        // guarded by mu_; when a write last reached the disk
};

int64_t NowMs();

}  // namespace volmigrate::fsm
