// Source copies kept after a migration ([migration] retire = "keep"): listed,
// purged one at a time, and expired retire_after_seconds after their
// migration ended. The expiry is the migration's record's end time plus the
// grace, both durable (LMDB, LVM), so a restart keeps every timer.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "migration/machines.h"

namespace volmigrate::migration {

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
