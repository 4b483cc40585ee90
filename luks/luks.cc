#include "luks/luks.h"

#include "dmutil/lock.h"

#include <fcntl.h>
#include <libcryptsetup.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace volmigrate::luks {
namespace {

struct CryptFree {
  void operator()(crypt_device* cd) const { crypt_free(cd); }
};
using Crypt = std::unique_ptr<crypt_device, CryptFree>;

absl::StatusOr<Crypt> Init(const std::string& path) {
  crypt_device* cd = nullptr;
  if (int r = crypt_init(&cd, path.c_str()); r < 0) return ErrnoError(-r, absl::StrCat("opening ", path));
  return Crypt(cd);
}

// The active mapping `name`, for queries and deactivation.
absl::StatusOr<Crypt> InitByName(const std::string& name) {
  crypt_device* cd = nullptr;
  if (int r = crypt_init_by_name(&cd, name.c_str()); r < 0) return ErrnoError(-r, absl::StrCat("mapping ", name));
  return Crypt(cd);
}

// LUKS1 and LUKS2 primary headers start "LUKS\xba\xbe"; LUKS2's secondary copy,
// which survives a damaged primary, "SKUL\xba\xbe" at one of a few offsets.
absl::StatusOr<bool> HasLuksMagic(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, absl::StrCat("opening ", path));
  static const char kPrimary[] = "LUKS\xba\xbe", kSecondary[] = "SKUL\xba\xbe";
  for (off_t off : {0L, 16384L, 32768L, 65536L, 131072L, 262144L, 524288L, 1048576L, 2097152L, 4194304L}) {
    char buf[6];
    if (pread(fd.get(), buf, 6, off) != 6) break;
    if (std::memcmp(buf, off == 0 ? kPrimary : kSecondary, 6) == 0) return true;
  }
  return false;
}

absl::StatusOr<Crypt> Load(const std::string& path) {
  ASSIGN_OR_RETURN(Crypt cd, Init(path));
  int r = crypt_load(cd.get(), CRYPT_LUKS2, nullptr);
  if (r >= 0) return cd;
  ASSIGN_OR_RETURN(bool magic, HasLuksMagic(path));
  if (!magic) return absl::FailedPreconditionError(absl::StrCat(path, " holds no LUKS header"));
  return absl::DataLossError(
      absl::StrCat("LUKS2 header of ", path, " is damaged or not LUKS2 (", std::strerror(-r), ")"));
}

Header Describe(crypt_device* cd, uint64_t device_bytes) {
  Header h;
  Layout& l = h.layout;
  l.uuid = crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "";
  l.cipher = absl::StrCat(crypt_get_cipher(cd), "-", crypt_get_cipher_mode(cd));
  l.key_size_bits = static_cast<uint32_t>(crypt_get_volume_key_size(cd)) * 8;
  l.sector_size = static_cast<uint32_t>(crypt_get_sector_size(cd));
  l.data_offset = crypt_get_data_offset(cd) * 512;
  uint64_t md = 0, ks = 0;
  if (crypt_get_metadata_size(cd, &md, &ks) == 0) {
    l.metadata_size = md;
    l.keyslots_size = ks;
  }
  l.label = crypt_get_label(cd) ? crypt_get_label(cd) : "";
  h.device_bytes = device_bytes;
  h.plaintext_bytes = device_bytes > l.data_offset ? device_bytes - l.data_offset : 0;
  return h;
}

bool SameLayout(const Layout& have, const Layout& want) {
  return have.cipher == want.cipher && have.key_size_bits == want.key_size_bits &&
         have.sector_size == want.sector_size && (want.data_offset == 0 || have.data_offset == want.data_offset) &&
         (want.uuid.empty() || have.uuid == want.uuid);
}

void LogLine(int level, const char* msg, void*) {
  std::string line(absl::StripTrailingAsciiWhitespace(msg ? msg : ""));
  if (level == CRYPT_LOG_ERROR) {
    spdlog::warn("libcryptsetup: {}", line);
  } else if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON) {
    spdlog::trace("libcryptsetup: {}", line);
  } else {
    spdlog::debug("libcryptsetup: {}", line);
  }
}

}  // namespace

void RouteLogging() {
  static std::once_flag once;
  std::call_once(once, [] { crypt_set_log_callback(nullptr, LogLine, nullptr); });
}

absl::StatusOr<Header> ReadHeader(const std::string& path) {
  std::lock_guard lock(DeviceMapperMutex());
  RouteLogging();
  ASSIGN_OR_RETURN(uint64_t bytes, DeviceBytes(path));
  ASSIGN_OR_RETURN(Crypt cd, Load(path));
  return Describe(cd.get(), bytes);
}

absl::Status Format(const std::string& path, const Layout& want, const std::string& passphrase, const Pbkdf& pbkdf) {
  std::lock_guard lock(DeviceMapperMutex());
  RouteLogging();
  if (passphrase.empty()) return absl::InvalidArgumentError("empty passphrase");
  auto dash = want.cipher.find('-');
  if (dash == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("cipher '", want.cipher, "' has no mode"));
  ASSIGN_OR_RETURN(uint64_t bytes, DeviceBytes(path));

  // Already formatted? Accept it only if it is what we would have made.
  if (auto existing = Load(path); existing.ok()) {
    Header have = Describe(existing->get(), bytes);
    if (!SameLayout(have.layout, want))
      return absl::AlreadyExistsError(absl::StrCat(path, " already holds a LUKS2 header with another layout (",
                                                   have.layout.cipher, ", data offset ", have.layout.data_offset, ")"));
    int slot = crypt_activate_by_passphrase(existing->get(), nullptr, CRYPT_ANY_SLOT, passphrase.data(),
                                            passphrase.size(), 0);
    if (slot < 0)
      return absl::AlreadyExistsError(absl::StrCat(path, " already holds this layout under another key"));
    return absl::OkStatus();
  } else if (existing.status().code() == absl::StatusCode::kDataLoss) {
    return Annotate(existing.status(), "refusing to format over it");
  }

  if (want.data_offset && want.data_offset >= bytes)
    return absl::InvalidArgumentError(absl::StrCat("data offset ", want.data_offset, " is beyond the end of ", path,
                                                   " (", bytes, " bytes)"));
  ASSIGN_OR_RETURN(Crypt cd, Init(path));
  std::string where = absl::StrCat("formatting ", path, " as LUKS2");
  if (want.data_offset % 512) return absl::InvalidArgumentError("data offset must be a multiple of 512");
  if (want.data_offset) {
    if (int r = crypt_set_data_offset(cd.get(), want.data_offset / 512); r < 0) return ErrnoError(-r, where);
  }
  if (want.metadata_size || want.keyslots_size) {
    if (int r = crypt_set_metadata_size(cd.get(), want.metadata_size, want.keyslots_size); r < 0)
      return ErrnoError(-r, absl::StrCat(where, ": metadata ", want.metadata_size, " keyslots ", want.keyslots_size));
  }
  if (!pbkdf.type.empty()) {
    crypt_pbkdf_type p{};
    p.type = pbkdf.type.c_str();
    p.hash = "sha256";
    p.iterations = pbkdf.iterations;
    p.flags = pbkdf.iterations ? CRYPT_PBKDF_NO_BENCHMARK : 0;
    if (int r = crypt_set_pbkdf_type(cd.get(), &p); r < 0) return ErrnoError(-r, absl::StrCat(where, ": pbkdf"));
  }
  std::string cipher = want.cipher.substr(0, dash), mode = want.cipher.substr(dash + 1);
  crypt_params_luks2 params{};
  params.sector_size = want.sector_size;
  params.label = want.label.empty() ? nullptr : want.label.c_str();
  if (int r = crypt_format(cd.get(), CRYPT_LUKS2, cipher.c_str(), mode.c_str(),
                           want.uuid.empty() ? nullptr : want.uuid.c_str(), nullptr, want.key_size_bits / 8, &params);
      r < 0)
    return ErrnoError(-r, where);
  if (int r = crypt_keyslot_add_by_volume_key(cd.get(), CRYPT_ANY_SLOT, nullptr, 0, passphrase.data(),
                                              passphrase.size());
      r < 0)
    return ErrnoError(-r, absl::StrCat(where, ": adding keyslot"));
  return absl::OkStatus();
}

absl::StatusOr<bool> IsOpen(const std::string& name) {
  std::lock_guard lock(DeviceMapperMutex());
  // No crypt_device needed; crypt_init_by_name would log an error for a mapping
  // that is simply not there.
  switch (crypt_status(nullptr, name.c_str())) {
    case CRYPT_ACTIVE:
    case CRYPT_BUSY:
      return true;
    case CRYPT_INACTIVE:
      return false;
    default:
      return absl::UnavailableError(absl::StrCat("cannot query device-mapper for ", name));
  }
}

absl::Status Open(const std::string& path, const std::string& name, const std::string& passphrase,
                  const OpenOptions& opts) {
  std::lock_guard lock(DeviceMapperMutex());
  RouteLogging();
  ASSIGN_OR_RETURN(bool open, IsOpen(name));
  if (open) {
    ASSIGN_OR_RETURN(Crypt cd, InitByName(name));
    const char* dev = crypt_get_device_name(cd.get());
    struct stat a {}, b {};
    if (dev && stat(dev, &a) == 0 && stat(path.c_str(), &b) == 0 && a.st_rdev == b.st_rdev) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("mapping ", name, " is open over ", dev ? dev : "?", ", not ", path));
  }
  ASSIGN_OR_RETURN(Crypt cd, Load(path));
  uint32_t flags = (opts.readonly ? CRYPT_ACTIVATE_READONLY : 0) | (opts.allow_discards ? CRYPT_ACTIVATE_ALLOW_DISCARDS : 0);
  int r = crypt_activate_by_passphrase(cd.get(), name.c_str(), CRYPT_ANY_SLOT, passphrase.data(), passphrase.size(),
                                       flags);
  if (r == -EPERM) return absl::PermissionDeniedError(absl::StrCat("wrong key for ", path));
  if (r < 0) return ErrnoError(-r, absl::StrCat("opening ", path, " as ", name));
  return absl::OkStatus();
}

absl::Status Close(const std::string& name) {
  std::lock_guard lock(DeviceMapperMutex());
  RouteLogging();
  ASSIGN_OR_RETURN(bool open, IsOpen(name));
  if (!open) return absl::OkStatus();
  ASSIGN_OR_RETURN(Crypt cd, InitByName(name));
  if (int r = crypt_deactivate(cd.get(), name.c_str()); r < 0) return ErrnoError(-r, absl::StrCat("closing ", name));
  return absl::OkStatus();
}

}  // namespace volmigrate::luks
