// Helpers shared by the source and destination machines (not an interface).
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "fsm/runner.h"
#include "migration/machines.h"
#include "migration/state.pb.h"
#include "volumes/lvm.h"

namespace volmigrate::migration::internal {

absl::StatusOr<MigrationState> Parse(const fsm::StepContext& c);
fsm::Next Go(const std::string& state, const MigrationState& st);
// Same state: the runner commits only when the data changed, then waits.
fsm::Next Stay(const fsm::StepContext& c, const MigrationState& st, absl::Duration wait);
// How a rollback ends: ABORTED when asked for, FAILED with the reason otherwise.
absl::StatusOr<fsm::Next> RolledBack(const MigrationState& st);
// Every step of either side that may leave something behind, but the
// rollback itself. An error that retrying cannot cure:
//  - while the destination's consumer cannot have started, goes to ROLLBACK
//    with the error as its reason, instead of FAILED leaving an export, a
//    stopped consumer or a half-built destination behind;
//  - once it may have (the data says so: the destination's consumer_may_run,
//    the source's destination_booted), is retried with backoff and shown as
//    the machine's error: there is nothing to roll back to, and FAILED would
//    release the volume's claim and stop tracking the hydration.
fsm::StepFn Guard(Env* env, std::function<absl::StatusOr<fsm::Next>(Env*, const fsm::StepContext&)> fn);
// FailedPrecondition when destinations would not know where to reach this worker's tgt.
absl::Status CheckPortal(const Env* env);
// Submits an outgoing migration of `lv` to `destination`, which reported
// `destination_free` bytes free in its pool; refuses what cannot fit. The
// caller has checked the portal; the machine's claim refuses a busy volume.
absl::StatusOr<v1::Migration> SubmitOutgoing(Env* env, fsm::Runner* runner, const volumes::LvRow& lv,
                                             const std::string& destination, uint64_t destination_free,
                                             const std::string& drain_id, uint32_t max_concurrent);
std::string MetadataLv(const std::string& migration_id);
std::string RetiredLv(const std::string& migration_id);
// The clone metadata LV's size: whole MiB, written in full before it is used,
// so it holds its pool blocks and never needs new ones when the pool runs low.
uint64_t MetadataBytes(uint64_t clone_bytes, uint32_t region_kib);
// What a destination needs free for `lv`, as the source plans it before the
// exact map: the LV's blocks (data and LUKS2 header), the clone's metadata and
// the reserve kept free (the destination's room check counts the same).
uint64_t RoomNeeded(const Options& o, const volumes::LvRow& lv);

}  // namespace volmigrate::migration::internal
