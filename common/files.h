// Small file helpers with errors as values.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace volmigrate {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes via a temporary file, fsync and rename, so readers see old or new, never half.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view data, mode_t mode);

// Writes `data` into an existing file in place, in one write: a sysfs
// attribute, which takes a value per write and is no place for a rename.
absl::Status WriteAttribute(const std::string& path, absl::string_view data);

// Size in bytes of a block device (BLKGETSIZE64) or a regular file.
absl::StatusOr<uint64_t> DeviceBytes(const std::string& path);

// Creates a directory (and parents) with the given mode; an existing directory is fine.
absl::Status MakeDirs(const std::string& path, mode_t mode);

// RAII file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace volmigrate
