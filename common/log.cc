#include "common/log.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace volmigrate {

absl::Status InitLogging(absl::string_view level) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for names it does not know; only "off" itself may mean that.
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level '", level, "' (trace, debug, info, warn, error, off)"));
  }
  spdlog::drop("volmigrate");
  auto logger = spdlog::stderr_logger_mt("volmigrate");
  logger->set_level(lvl);
  logger->set_pattern(std::getenv("JOURNAL_STREAM") ? "%l %v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

std::string LogTag(absl::string_view volume, absl::string_view migration) {
  std::string out;
  if (!volume.empty()) absl::StrAppend(&out, "vol=", volume);
  if (!migration.empty()) absl::StrAppend(&out, out.empty() ? "" : " ", "mig=", migration);
  return out;
}

}  // namespace volmigrate
