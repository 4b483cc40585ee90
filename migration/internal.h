// Helpers shared by the source and destination machines (not an interface).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "fsm/runner.h"
#include "migration/state.pb.h"

namespace volmigrate::migration::internal {

absl::StatusOr<MigrationState> Parse(const fsm::StepContext& c);
fsm::Next Go(const std::string& state, const MigrationState& st);
// Same state: the runner commits only when the data changed, then waits.
fsm::Next Stay(const fsm::StepContext& c, const MigrationState& st, absl::Duration wait);
// A step function of the form fn(env, context) as the runner wants it.
template <typename Env, typename F>
fsm::StepFn Bind(Env* env, F fn) {
  return [env, fn](const fsm::StepContext& c) { return fn(env, c); };
}
// How a rollback ends: ABORTED when asked for, FAILED with the reason otherwise.
absl::StatusOr<fsm::Next> RolledBack(const MigrationState& st);
std::string RandomHex(int bytes);
std::string RandomSecret(int chars);  // [A-Za-z0-9]
std::string SourceKeyName(const std::string& migration_id);  // the source's passphrase on the destination
std::string SourceCryptName(const std::string& migration_id);
std::string MetadataLv(const std::string& migration_id);
std::string RetiredLv(const std::string& migration_id);

}  // namespace volmigrate::migration::internal
