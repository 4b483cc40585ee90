// A range of a block device in 512-byte sectors.
#pragma once

#include <cstdint>

namespace volmigrate::host {

struct Extent {
  uint64_t start = 0;
  uint64_t length = 0;
  bool operator==(const Extent&) const = default;
};

}  // namespace volmigrate::host
