#include "workerd/migration_view.h"

#include "absl/strings/str_cat.h"

namespace volmigrate::workerd {

bool IsMigrationKind(const std::string& kind) { return kind == kMigrationOutKind || kind == kMigrationInKind; }

absl::StatusOr<v1::Migration> MigrationFromRecord(const fsm::Record& r,
                                                  const std::vector<fsm::HistoryEntry>* history) {
  v1::Migration m;
  if (!m.ParseFromString(r.data()))
    return absl::DataLossError(absl::StrCat("migration ", r.id(), ": stored data is unreadable"));
  m.set_id(r.id());
  m.set_state(r.state());
  m.set_terminal(r.terminal());
  m.set_error(r.last_error());
  m.set_started_unix(r.created_ms() / 1000);
  m.set_updated_unix(r.updated_ms() / 1000);
  if (history) {
    for (const fsm::HistoryEntry& h : *history) {
      v1::Transition* t = m.add_history();
      t->set_at_unix_ms(h.at_ms());
      t->set_from(h.from());
      t->set_to(h.to());
      t->set_error(h.error());
    }
  }
  return m;
}

}  // namespace volmigrate::workerd
