// How a migration machine's durable record is shown over the API. A migration's
// FSM data is its v1.Migration message; the record adds state, error and history.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "fsm/store.h"
#include "volmigrate/v1/volmigrate.pb.h"

namespace volmigrate::workerd {

inline constexpr char kMigrationOutKind[] = "migration-out";
inline constexpr char kMigrationInKind[] = "migration-in";

bool IsMigrationKind(const std::string& kind);

absl::StatusOr<v1::Migration> MigrationFromRecord(const fsm::Record& r, const std::vector<fsm::HistoryEntry>* history);

}  // namespace volmigrate::workerd
