// The durable machines that seal a volume and ship it to its log in object
// storage, and that restore a volume from a log; plus the synchronous calls
// around them (start, unseal, list the log). Both keep TransferState as data.
//
// Every edge of both machines (their MachineDef's edges; a test holds the
// two equal). Besides these, every state may stay (a poll, or a batch of
// uploads or writes done) and go to FAILED; neither machine can be cancelled.
//
// @verbatim seal
//   state           its step goes to
//   FENCING       -> SNAPSHOTTING
//   SNAPSHOTTING  -> MAPPING DONE         (DONE: a seal only; MAPPING: a ship)
//   MAPPING       -> UPLOADING
//   UPLOADING     -> CHECKPOINTING
//   CHECKPOINTING -> CLEANING
//   CLEANING      -> DONE
// @endverbatim
//
// @verbatim restore
//   state           its step goes to
//   PLANNING      -> WRITING
//   WRITING       -> VERIFYING
//   VERIFYING     -> DONE
// @endverbatim
//
// A ship is resumable anywhere: its plan (which extents go in which object) is
// a pure function of two frozen snapshots' thin mappings, so after a restart it
// is computed again, the objects already in the store are skipped and the rest
// uploaded. Objects are only ever ciphertext: they are read from the thin LV
// under dm-crypt, never from the open volume.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "fsm/runner.h"
#include "lsvd/log.h"
#include "objstore/store.h"
#include "host/host.h"
#include "sealing/state.pb.h"
#include "volmigrate/v1/volmigrate.pb.h"

namespace volmigrate::sealing {

inline constexpr char kSealKind[] = "seal";
inline constexpr char kRestoreKind[] = "restore";

struct Options {
  uint64_t object_bytes = 8ull << 20;  // data per object
  int parallel = 4;                    // uploads or downloads at once
  int attempts = 5;                    // per object, on transient errors
  std::string consumer_start;          // hooks, as for migrations
  std::string consumer_stop;
};

// A ship's plan and what its snapshot holds.
struct Planned {
  lsvd::PointPlan plan;
  uint64_t allocated_bytes = 0;
};

struct Env {
  std::string worker;
  Options opts;
  host::Host* host = nullptr;
  objstore::ObjectStore* objects = nullptr;
  fsm::Store* store = nullptr;
  // The key of `volume` held by peer `peer` (Peer.FetchVolumeKey).
  std::function<absl::StatusOr<std::string>(const std::string& peer, const std::string& volume)> fetch_key;
  std::function<int64_t()> now_ms;

  // Plans and read groups computed in this process, by machine id; after a
  // restart they are computed again (they are deterministic).
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const Planned>> plans;
  std::map<std::string, std::shared_ptr<const std::vector<lsvd::ReadGroup>>> groups;
};

fsm::MachineDef SealMachine(Env* env);
fsm::MachineDef RestoreMachine(Env* env);
bool IsTransferKind(const std::string& kind);
absl::StatusOr<v1::Transfer> TransferView(const fsm::Record& r, const Env& env);

// Checks what can be checked at once (the volume exists, nothing else runs on
// it, the log is this volume's), then submits.
absl::StatusOr<v1::Transfer> StartSeal(Env* env, fsm::Runner* runner, const std::string& volume, bool ship);
absl::StatusOr<v1::Transfer> StartRestore(Env* env, fsm::Runner* runner, const v1::RestoreVolumeRequest& req);

// Drops snapshots never shipped, opens the volume and starts its consumer.
// Refused while any machine (a migration's too) holds the volume; idempotent
// otherwise, so a consumer that failed to start can be started again.
absl::Status Unseal(Env* env, const std::string& volume);

absl::StatusOr<v1::ListSnapshotsResponse> ListSnapshots(Env* env, const std::string& volume);

}  // namespace volmigrate::sealing
