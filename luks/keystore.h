// Where volume passphrases live. The default keeps one file per volume, mode
// 0600, in a directory of mode 0700; keys never reach a log.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace volmigrate::luks {

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // NotFound when the volume has no key.
  virtual absl::StatusOr<std::string> Get(const std::string& volume) = 0;
  // Returns the existing key, or makes, stores and returns a new random one.
  virtual absl::StatusOr<std::string> GetOrCreate(const std::string& volume) = 0;
  virtual absl::Status Put(const std::string& volume, const std::string& key) = 0;
  // A missing key is success.
  virtual absl::Status Delete(const std::string& volume) = 0;
};

class FileKeyStore final : public KeyStore {
 public:
  // Creates `dir` (0700) if needed and tightens its mode if it is looser.
  static absl::StatusOr<std::unique_ptr<FileKeyStore>> Open(const std::string& dir);

  absl::StatusOr<std::string> Get(const std::string& volume) override;
  absl::StatusOr<std::string> GetOrCreate(const std::string& volume) override;
  absl::Status Put(const std::string& volume, const std::string& key) override;
  absl::Status Delete(const std::string& volume) override;

 private:
  explicit FileKeyStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::string> PathOf(const std::string& volume) const;
  std::string dir_;
};

}  // namespace volmigrate::luks
