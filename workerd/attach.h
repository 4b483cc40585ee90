// A volume put to use on this worker and taken out of use, through the API
// rather than by hand: attach opens it and starts its consumer; detach stops
// the consumer and closes it. Both hold the volume (fsm::Store::Hold) while
// they run, so neither runs beside a migration, seal or delete of it.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "migration/machines.h"

namespace volmigrate::workerd {

// Idempotent: an attached volume is attached again (the consumer hook is
// idempotent by contract), so a retry after a crash between the open and the
// hook completes it. NotFound for no such volume; FailedPrecondition while
// anything holds it, or when it is sealed (unseal opens a sealed volume).
absl::Status Attach(migration::Env& env, const std::string& volume);

// Idempotent: a closed volume is left as it is. The consumer stops before the
// close, so nothing writes to a volume that is going away.
absl::Status Detach(migration::Env& env, const std::string& volume);

}  // namespace volmigrate::workerd
