#include "dmutil/busy.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::dm {

absl::StatusOr<uint64_t> ParseIoTicks(const std::string& stat) {
  std::vector<std::string> f = absl::StrSplit(stat, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
  uint64_t ticks = 0;
  if (f.size() < 11 || !absl::SimpleAtoi(f[9], &ticks))
    return absl::InvalidArgumentError(absl::StrCat("block device stat without io_ticks: '", stat, "'"));
  return ticks;
}

absl::StatusOr<uint64_t> IoTicks(const std::string& path, const std::string& sysfs) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return ErrnoError(errno, absl::StrCat("cannot stat ", path));
  if (!S_ISBLK(sb.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, " is not a block device"));
  ASSIGN_OR_RETURN(std::string text,
                   ReadFile(absl::StrCat(sysfs, "/dev/block/", major(sb.st_rdev), ":", minor(sb.st_rdev), "/stat")));
  return ParseIoTicks(text);
}

}  // namespace volmigrate::dm
