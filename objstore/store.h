// Where sealed volumes' logs live: a small interface over object storage, with
// a local directory (the default) and S3-compatible services behind it.
// Objects are written whole (a reader never sees half of one from us);
// every call is safe from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace volmigrate::objstore {

struct ObjectInfo {
  std::string name;
  uint64_t size = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual absl::Status Put(const std::string& name, const std::string& data) = 0;
  // NotFound for a missing object.
  virtual absl::StatusOr<std::string> Get(const std::string& name) = 0;
  // Up to `length` bytes from `offset`; fewer at the object's end.
  virtual absl::StatusOr<std::string> GetRange(const std::string& name, uint64_t offset, uint64_t length) = 0;
  // Every object whose name starts with `prefix`, sorted by name.
  virtual absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  // A missing object is success.
  virtual absl::Status Delete(const std::string& name) = 0;
  // For messages: "dir:/var/lib/..." or "s3:http://host/bucket".
  virtual std::string Describe() const = 0;
};

// Objects as files under `root` (created 0700); names may contain '/'.
// Writes go to a temporary file, are fsynced and renamed into place.
absl::StatusOr<std::unique_ptr<ObjectStore>> NewLocalStore(const std::string& root);

struct S3Options {
  std::string endpoint;  // "http://127.0.0.1:7480" or "https://s3.eu-west-1.amazonaws.com"
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;  // from the config or AWS_ACCESS_KEY_ID
  std::string secret_key;  // from the config or AWS_SECRET_ACCESS_KEY; never logged
  bool virtual_host = false;  // bucket.host/key instead of host/bucket/key
  uint64_t multipart_bytes = 64ull << 20;  // objects at least this big go in parts
  uint64_t part_bytes = 16ull << 20;       // at least 5 MiB except the last (S3's rule)
  long timeout_seconds = 120;
};

// S3 over HTTP(S) with AWS Signature V4 (libcurl's). Credentials missing from
// `opts` come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
absl::StatusOr<std::unique_ptr<ObjectStore>> NewS3Store(S3Options opts);

}  // namespace volmigrate::objstore
