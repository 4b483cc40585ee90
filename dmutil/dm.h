// Device-mapper: every libdevmapper call lives in dm.cc, behind this interface,
// so the logic above it (clone tables, swaps, size checks) has a fake for tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace volmigrate::dm {

struct Target {
  uint64_t start = 0;   // sectors
  uint64_t length = 0;  // sectors
  std::string type;     // "clone", "linear", "crypt", ...
  std::string params;
  bool operator==(const Target&) const = default;
};

class DeviceMapper {
 public:
  virtual ~DeviceMapper() = default;
  // Idempotent: a device of that name with the same table is success; with
  // another table, AlreadyExists.
  virtual absl::Status Create(const std::string& name, const std::vector<Target>& table, bool readonly) = 0;
  // Loads an inactive table; it takes effect at the next Suspend+Resume.
  virtual absl::Status Reload(const std::string& name, const std::vector<Target>& table) = 0;
  virtual absl::Status Suspend(const std::string& name) = 0;
  virtual absl::Status Resume(const std::string& name) = 0;
  // A device that is not there is success.
  virtual absl::Status Remove(const std::string& name) = 0;
  virtual absl::StatusOr<bool> Exists(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<Target>> Table(const std::string& name) = 0;
  // noflush: do not commit metadata (a dm-clone status query otherwise does).
  virtual absl::StatusOr<std::vector<Target>> Status(const std::string& name, bool noflush) = 0;
  virtual absl::StatusOr<std::string> Message(const std::string& name, const std::string& message) = 0;
};

// The real one, on libdevmapper. Without udev (DM_DISABLE_UDEV=1) libdm makes
// the /dev/mapper nodes itself.
std::unique_ptr<DeviceMapper> NewLibDm();

// Replaces the table of a live device with a linear map onto `dev` (the same
// node stays open for its users): reload, suspend, resume.
absl::Status SwapToLinear(DeviceMapper& dm, const std::string& name, const std::string& dev, uint64_t sectors);

}  // namespace volmigrate::dm
