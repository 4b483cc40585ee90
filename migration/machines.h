// The two durable machines of a live migration, the calls that start,
// accept, cancel and drain them, and the source copies they retire. The
// source ("migration-out") fences the consumer, exports the volume, offers it
// and maps where it holds data; the destination ("migration-in") clones the
// source's ciphertext and opens it with the source's key, marks every region
// the map leaves out copied, boots the consumer, trims, hydrates and cuts over. Both keep v1.Migration (in MigrationState) as their data.
//
// Every edge of both machines (their MachineDef's edges and cancel_to; a
// test holds the two equal). Besides these, every state may stay (a poll)
// and go to FAILED on an error that is not retried.
//
// @verbatim migration-out
//   state        its step goes to                a cancel goes to
//   QUEUED     -> PREPARING                      | ABORTED
//   PREPARING  -> EXPORTING                      | ABORTED
//   EXPORTING  -> OFFERING ROLLBACK              | ROLLBACK
//   OFFERING   -> STAGING ROLLBACK               | ROLLBACK   (refused)
//   STAGING    -> FENCING OFFERING ROLLBACK      | ROLLBACK   (OFFERING: the destination lost the offer)
//   FENCING    -> WAITING ROLLBACK               | ROLLBACK
//   WAITING    -> RETIRING ROLLBACK              | ROLLBACK   (ROLLBACK: the destination ended before boot)
//   RETIRING   -> DONE
//   ROLLBACK   -> ABORTED WAITING                             (WAITING: the destination may have booted)
// @endverbatim
//
// @verbatim migration-in
//   state        its step goes to                a cancel goes to
//   ACCEPTED   -> STAGED ROLLBACK                | ROLLBACK
//   STAGED     -> ATTACHING ROLLBACK             | ROLLBACK   (ROLLBACK: the source ended)
//   ATTACHING  -> CLONED ROLLBACK                | ROLLBACK
//   CLONED     -> BOOTING ROLLBACK               | ROLLBACK
//   BOOTING    -> BOOTED                                      (from here the consumer may run: forward only)
//   BOOTED     -> HYDRATING
//   HYDRATING  -> CUT_OVER
//   CUT_OVER   -> NOTIFYING HYDRATING                         (HYDRATING: rebooted; the clone's metadata lacks regions)
//   NOTIFYING  -> DONE
//   ROLLBACK   -> ABORTED
// @endverbatim
//
// ROLLBACK ends in FAILED instead of ABORTED when a refusal or an error, not
// an operator, caused it. Where a step before the boot would fail (source:
// EXPORTING to WAITING; destination: ACCEPTED to CLONED), it goes to ROLLBACK
// instead (internal::Guard).
//
// Everything that does not need the source's data happens before the fence
// (export, offer, the destination's LV and clone metadata, the iSCSI session,
// the clone with hydration off and the LUKS2 mapping on it), so the blackout
// holds only: stop, close and map on the source (FENCING), then check the
// session, mark what the map leaves out and start the consumer on the
// destination (ATTACHING, CLONED, BOOTING). The destination sees the fence by polling the
// source. The map is taken in FENCING (after the close: nothing writes) and
// fetched in STAGED, so it is exact; a source without GetAllocation has every
// region copied.
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fsm/runner.h"
#include "host/host.h"
#include "migration/options.h"
#include "migration/peers.h"
#include "migration/state.pb.h"
#include "volmigrate/v1/volmigrate.pb.h"

namespace volmigrate::migration {

inline constexpr char kOutKind[] = "migration-out";
inline constexpr char kInKind[] = "migration-in";

// What both machines work with. Outlives the runner.
struct Env {
  std::string worker;
  std::string portal;         // where destinations reach this worker's tgt
  std::string initiator_iqn;  // this worker's initiator name
  Options opts;
  host::Host* host = nullptr;
  Peers* peers = nullptr;
  fsm::Store* store = nullptr;
  std::function<int64_t()> now_ms;  // wall clock; tests set their own

  // A drain's concurrency limit: its machines let out of QUEUED whose
  // records do not show it yet.
  std::mutex released_mu;
  std::set<std::string> released;

  // Held from a drain's (or rebalance's) "none running" check until its
  // migrations are recorded: two operators' drains at once are one drain.
  std::mutex drain_start_mu;
};

fsm::MachineDef SourceMachine(Env* env);
fsm::MachineDef DestinationMachine(Env* env);

// The migration's public view from its record: state, error and times filled in.
absl::StatusOr<v1::Migration> ViewOf(const fsm::Record& r);
bool IsMigrationKind(const std::string& kind);

// Operator: starts moving `volume` to `destination` (a configured peer). Checks
// synchronously what can be checked without changing anything: the volume
// exists and is not migrating, the destination answers and has room.
absl::StatusOr<v1::Migration> StartMigration(Env* env, fsm::Runner* runner, const std::string& volume,
                                             const std::string& destination);

// Operator: abort. Before the destination boots, rolls back; afterwards
// FailedPrecondition. Works on either side.
absl::Status AbortMigration(Env* env, fsm::Runner* runner, const std::string& id);

// Peer: the destination accepts (idempotently) or refuses an offer.
absl::StatusOr<std::string> AcceptOffer(Env* env, fsm::Runner* runner, const v1::OfferMigrationRequest& req);
// Peer: where the volume holds data, for the migration's destination, from
// the source's fence until the destination booted; FailedPrecondition outside.
absl::StatusOr<v1::AllocationMap> AllocationFor(Env* env, const std::string& id, const std::string& destination);
// Peer: the source asks the destination to roll back; FailedPrecondition once booted.
absl::StatusOr<std::string> CancelIncoming(Env* env, fsm::Runner* runner, const std::string& id,
                                           const std::string& source_worker);

// Operator: migrates every volume of this worker with at most `max_concurrent`
// (0: 2) at once; destinations among `destinations` (all peers when empty) by
// free thin-pool space, as planned first (migration/plan.h): a volume that
// fits nowhere starts nothing. With `plan_only`, answers the plan (state
// PLANNED, each move with its bytes and ETA) and changes nothing. An
// unfinished drain is returned instead of a new one or a plan.
absl::StatusOr<v1::Drain> StartDrain(Env* env, fsm::Runner* runner, std::vector<std::string> destinations,
                                     const std::vector<std::string>& all_peers, uint32_t max_concurrent,
                                     bool plan_only = false);

// Operator: a drain (or rebalance) from its migrations' records: state,
// how many ended, the time left (remaining_seconds). `id` empty: the one
// running. NotFound when there is no such drain.
absl::StatusOr<v1::Drain> GetDrain(Env* env, const std::string& id);

// Operator: aborts the running drain `id` (empty: the one running). Each of
// its migrations still before its destination's boot is cancelled (rolls
// back); those past it finish. The answer names the ones rolling back.
// StartDrain later resumes with the volumes still here.
// FailedPrecondition when it has ended; NotFound as GetDrain.
absl::StatusOr<v1::Drain> AbortDrain(Env* env, fsm::Runner* runner, const std::string& id);

// Operator: moves some of this worker's volumes to `destinations` (all peers
// when empty) until its pool use meets `target`, as planned by PlanRebalance
// (migration/plan.h), each move a migration of one drain (id "r-..."),
// watched like one. `plan_only` and an unfinished drain: as StartDrain. The
// answer's pools give each worker's use now and as planned.
struct RebalanceTarget {
  double tolerance_percent = 10;  // pool use (allocated / size) at most this far above the fleet's mean (relative)
  double ceiling_percent = 0;     // when > 0 instead: pool use under this, no destination put over it
};
absl::StatusOr<v1::Drain> StartRebalance(Env* env, fsm::Runner* runner, std::vector<std::string> destinations,
                                         const std::vector<std::string>& all_peers, uint32_t max_concurrent,
                                         const RebalanceTarget& target, bool plan_only = false);

// Source copies kept after a migration ([migration] retire = "keep"): listed,
// purged one at a time, and expired retire_after_seconds after their
// migration ended. The expiry is the migration's record's end time plus the
// grace, both durable (LMDB, LVM), so a restart keeps every timer.
struct RetiredCopy {
  std::string name;          // the LV, "<migration>-retired"
  std::string volume;        // what it is a copy of
  std::string migration_id;
  uint64_t bytes = 0;        // what the pool holds for it
  int64_t retired_unix_ms = 0;  // when its migration ended; 0: its record is gone
  int64_t expires_unix_ms = 0;  // 0: never (retire_after 0, or no record to date it)
};

// NotFound "no retired copy 'x' on worker w".
absl::Status NoRetiredCopy(const std::string& name, const std::string& worker);

// Every retired copy on this worker, oldest first.
absl::StatusOr<std::vector<RetiredCopy>> ListRetired(Env* env);

// Deletes one: its key, then its LV, so a cut between leaves an LV without a
// key, which the next purge of it deletes. Idempotent for a copy already half
// gone; NotFound for a name that is not a retired copy here.
absl::Status PurgeRetired(Env* env, const std::string& name);

// Purges every copy past its expiry (env->now_ms()); the ones purged.
absl::StatusOr<std::vector<RetiredCopy>> ExpireRetired(Env* env);

}  // namespace volmigrate::migration
