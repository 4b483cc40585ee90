// dm-thin's pool target (drivers/md/dm-thin.c), read-only: how much room it
// has left, from its table and status lines. Pure.
//
// Table:  thin-pool <metadata dev> <data dev> <data block sectors> <low water mark> ...
// Status: <transaction id> <used>/<total metadata blocks> <used>/<total data blocks>
//         <held metadata root> ro|rw|out_of_data_space ...   -- or "Fail"
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace volmigrate::dm {

struct PoolSpace {
  uint64_t free_bytes = 0, total_bytes = 0;
  bool out_of_data_space = false;
};

absl::StatusOr<PoolSpace> ParsePoolSpace(const std::string& table_params, const std::string& status_params);

}  // namespace volmigrate::dm
