#include "common/status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace volmigrate {

absl::Status ErrnoError(int err, absl::string_view context) {
  if (err == 0) err = EIO;
  return absl::ErrnoToStatus(err, context);
}

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace volmigrate
