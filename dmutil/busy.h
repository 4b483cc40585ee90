// How busy a block device has been: the kernel's io_ticks, the milliseconds
// during which it had I/O in flight (Documentation/block/stat.rst, field 10 of
// /sys/dev/block/<major>:<minor>/stat). dm accounts the I/O its devices are
// sent, so for a dm-clone device this is its consumer's I/O alone: hydration's
// copies go to the devices below it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace volmigrate::dm {

absl::StatusOr<uint64_t> ParseIoTicks(const std::string& stat);

// For the block device at `path` (e.g. /dev/mapper/vol); `sysfs` is "/sys" or
// a fake tree in tests. NotFound when the device is not there.
absl::StatusOr<uint64_t> IoTicks(const std::string& path, const std::string& sysfs = "/sys");

}  // namespace volmigrate::dm
