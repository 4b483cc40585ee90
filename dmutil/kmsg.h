// The kernel's log (/dev/kmsg), where device-mapper targets report what their
// status cannot: dm-clone only logs a failed hydration ("254:8: hydration
// failed") and retries it forever, so the reason for a stall is found here.
//
// A record: "<level>,<seq>,<usec since boot>,<flags>;<text>" followed by
// optional " KEY=value" continuation lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace volmigrate::dm {

struct KernelMessage {
  int level = 0;  // 0 emerg .. 3 err .. 7 debug
  uint64_t seq = 0;
  std::string text;
};

// One record (the first line; continuation lines are ignored). nullopt if it
// is not a record.
std::optional<KernelMessage> ParseKmsgRecord(absl::string_view record);

// The first message at error level or worse with seq >= `from_seq` that names
// one of `devices` ("254:8", "sdb", "dm-3") as a whole word; nullopt if none.
std::optional<KernelMessage> FirstErrorAbout(const std::vector<KernelMessage>& log,
                                             const std::vector<std::string>& devices, uint64_t from_seq);

// Every record in the kernel's log buffer now, oldest first (the buffer is a
// ring: the oldest records may be gone).
absl::StatusOr<std::vector<KernelMessage>> ReadKernelLog(const std::string& path = "/dev/kmsg");

}  // namespace volmigrate::dm
