#include "dmutil/pool.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace volmigrate::dm {

absl::StatusOr<PoolSpace> ParsePoolSpace(const std::string& table_params, const std::string& status_params) {
  std::vector<std::string> t = absl::StrSplit(table_params, ' ', absl::SkipEmpty());
  std::vector<std::string> s = absl::StrSplit(status_params, ' ', absl::SkipEmpty());
  uint64_t block_sectors = 0, used = 0, total = 0;
  std::vector<std::string> data = s.size() > 4 ? absl::StrSplit(s[2], '/') : std::vector<std::string>{};
  if (t.size() < 4 || !absl::SimpleAtoi(t[2], &block_sectors) || block_sectors == 0 || data.size() != 2 ||
      !absl::SimpleAtoi(data[0], &used) || !absl::SimpleAtoi(data[1], &total) || used > total)
    return absl::DataLossError(absl::StrCat("thin-pool: cannot read '", table_params, "' / '", status_params, "'"));
  return PoolSpace{.free_bytes = (total - used) * block_sectors * 512,
                   .total_bytes = total * block_sectors * 512,
                   .out_of_data_space = s[4] == "out_of_data_space"};
}

}  // namespace volmigrate::dm
