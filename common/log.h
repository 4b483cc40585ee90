// One log pipe: everything goes through spdlog to stderr (the journal under systemd).
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace volmigrate {

// level: trace, debug, info, warn, error. Under systemd (JOURNAL_STREAM set) the
// journal stamps lines itself, so the timestamp is left out.
absl::Status InitLogging(absl::string_view level);

// "vol=<v> mig=<m>": the prefix every line about a volume or migration carries,
// so `journalctl | grep mig=...` finds a migration's whole story.
std::string LogTag(absl::string_view volume, absl::string_view migration);

}  // namespace volmigrate
