// LUKS2 through libcryptsetup: the on-disk layout a migration must reproduce,
// formatting with a given layout, opening and closing, and the volume keys.
// Only luks.cc includes <libcryptsetup.h>.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace volmigrate::luks {

struct Layout {
  std::string uuid;              // empty when formatting: a new one is made
  std::string cipher = "aes-xts-plain64";
  uint32_t key_size_bits = 512;
  uint32_t sector_size = 4096;   // bytes
  uint64_t data_offset = 0;      // bytes; 0 when formatting: cryptsetup's default
  uint64_t metadata_size = 0;    // bytes of each JSON metadata area; 0: default
  uint64_t keyslots_size = 0;    // bytes of the keyslots area; 0: default
  std::string label;
};

struct Header {
  Layout layout;
  uint64_t device_bytes = 0;     // the whole device or image file
  uint64_t plaintext_bytes = 0;  // device_bytes - data_offset: what the open mapping shows
};

// Key derivation for new keyslots. Empty type: cryptsetup's defaults (argon2id,
// benchmarked), for production. Tests use pbkdf2 with few iterations: Argon2 is
// slow under TCG.
struct Pbkdf {
  std::string type;
  uint32_t iterations = 0;
};

// Reads the header of a block device or an image file. Errors, each its own:
//   FailedPrecondition  the device holds no LUKS header at all
//   DataLoss            a LUKS header whose metadata cannot be read (damaged)
//   NotFound            no such path
absl::StatusOr<Header> ReadHeader(const std::string& path);

// Formats `path` as LUKS2 with `want`'s layout and one keyslot for `passphrase`.
// Idempotent: a device that already holds a LUKS2 header with this layout and a
// keyslot the passphrase opens is left alone; one with another layout is an
// AlreadyExists conflict (nothing is overwritten).
absl::Status Format(const std::string& path, const Layout& want, const std::string& passphrase, const Pbkdf& pbkdf);

struct OpenOptions {
  bool readonly = false;
  bool allow_discards = false;
};

// Opens `path` as /dev/mapper/<name>. Idempotent: an active mapping of that
// name over the same device is success. A wrong passphrase: PermissionDenied.
absl::Status Open(const std::string& path, const std::string& name, const std::string& passphrase,
                  const OpenOptions& opts);

// Closes /dev/mapper/<name>; a mapping that is not there is success.
absl::Status Close(const std::string& name);

// Whether /dev/mapper/<name> is an active crypt mapping.
absl::StatusOr<bool> IsOpen(const std::string& name);

// Sends libcryptsetup's log lines to spdlog (once per process).
void RouteLogging();

}  // namespace volmigrate::luks
