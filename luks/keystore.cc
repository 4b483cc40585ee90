#include "luks/keystore.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::luks {
namespace {

constexpr size_t kKeyBytes = 64;

bool SafeName(const std::string& v) {
  if (v.empty() || v.size() > 63 || v[0] == '-') return false;
  for (char c : v)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileKeyStore>> FileKeyStore::Open(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  return std::unique_ptr<FileKeyStore>(new FileKeyStore(dir));
}

absl::StatusOr<std::string> FileKeyStore::PathOf(const std::string& volume) const {
  if (!SafeName(volume)) return absl::InvalidArgumentError(absl::StrCat("volume id '", volume, "' is not a safe file name"));
  return absl::StrCat(dir_, "/", volume, ".key");
}

absl::StatusOr<std::string> FileKeyStore::Get(const std::string& volume) {
  ASSIGN_OR_RETURN(std::string path, PathOf(volume));
  auto key = ReadFile(path);
  if (!key.ok() && key.status().code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat("no key for volume ", volume, " in ", dir_));
  if (key.ok() && key->empty()) return absl::DataLossError(absl::StrCat("key file of volume ", volume, " is empty"));
  return key;
}

absl::StatusOr<std::string> FileKeyStore::GetOrCreate(const std::string& volume) {
  auto key = Get(volume);
  if (key.ok() || key.status().code() != absl::StatusCode::kNotFound) return key;
  std::string fresh(kKeyBytes, '\0');
  if (getrandom(fresh.data(), fresh.size(), 0) != static_cast<ssize_t>(fresh.size()))
    return ErrnoError(errno, "getrandom");
  RETURN_IF_ERROR(Put(volume, fresh));
  return fresh;
}

absl::Status FileKeyStore::Put(const std::string& volume, const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("empty key");
  ASSIGN_OR_RETURN(std::string path, PathOf(volume));
  return WriteFileAtomic(path, key, 0600);
}

absl::Status FileKeyStore::Delete(const std::string& volume) {
  ASSIGN_OR_RETURN(std::string path, PathOf(volume));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, absl::StrCat("removing ", path));
  return absl::OkStatus();
}

}  // namespace volmigrate::luks
