// Error helpers shared by every module: errors are absl::Status values with context.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace volmigrate {

// errno -> Status with what we were doing. C libraries sometimes fail with errno 0
// (libdm before its ioctl, for one); that is still a failure, reported as EIO.
absl::Status ErrnoError(int err, absl::string_view context);

// Prefixes the message of a non-OK status with more context, keeping its code.
absl::Status Annotate(const absl::Status& s, absl::string_view context);

}  // namespace volmigrate

#define VOLMIGRATE_CONCAT_INNER(a, b) a##b
#define VOLMIGRATE_CONCAT(a, b) VOLMIGRATE_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    if (absl::Status _st = (expr); !_st.ok()) {    \
      return _st;                                  \
    }                                              \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(*tmp)

// ASSIGN_OR_RETURN(auto x, MaybeX());
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(VOLMIGRATE_CONCAT(_statusor_, __LINE__), lhs, expr)
