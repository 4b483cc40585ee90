// workerd's configuration file (TOML). Unknown keys are errors: a typo must not
// silently fall back to a default on a production host.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "migration/options.h"
#include "rpc/tls.h"

namespace volmigrate::workerd {

struct PeerConfig {
  std::string name;     // the peer's worker name, also its certificate's common name
  std::string address;  // host:port of its workerd
};

struct StorageConfig {
  bool configured = false;
  std::string volume_group;
  std::string thin_pool;
  std::string key_dir;  // one key file per volume, 0600, in a 0700 directory
  // Key derivation for new keyslots; empty: cryptsetup's defaults (argon2id).
  // Test beds set "pbkdf2" with few iterations: Argon2 is slow under TCG.
  std::string pbkdf;
  uint32_t pbkdf_iterations = 0;
};

// Where sealed volumes' logs go ([objstore]): a local directory by default.
struct ObjstoreConfig {
  std::string kind = "dir";  // "dir" or "s3"
  std::string dir;           // kind dir; default <data_dir>/objects
  std::string endpoint;      // kind s3: http(s)://host[:port]
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;    // else AWS_ACCESS_KEY_ID
  std::string secret_key;    // else AWS_SECRET_ACCESS_KEY; never logged
  bool virtual_host = false; // addressing = "virtual-host" (default "path")
  uint64_t object_mib = 8;
  int parallel = 4;
  int attempts = 5;
  uint64_t multipart_mib = 64;
  uint64_t part_mib = 16;
};

struct Config {
  std::string worker;  // this worker's name; its certificate's common name
  std::string listen = "0.0.0.0:7443";
  std::string data_dir = "/var/lib/volmigrate";
  std::string log_level = "info";
  bool plaintext = false;  // local development only: no TLS, no peer authentication
  rpc::TlsFiles tls;
  StorageConfig storage;
  int max_concurrent = 4;  // machines running a step at once
  migration::Options migration;
  ObjstoreConfig objstore;
  // [metrics] listen: where Prometheus scrapes GET /metrics (host:port, plain
  // HTTP, no authentication: bind it to loopback or a management network).
  // Empty (the default): no metrics server.
  std::string metrics_listen;
  // Tests only, from VOLMIGRATE_CRASH_DIR (never the file): SIGKILL once before
  // and once after the step of every state, leaving a marker file for each.
  std::string crash_dir;
  // Tests only, from VOLMIGRATE_HALT_BEFORE ("kind.STATE", never the file): the
  // first machine to reach that state stops there for good, its step not run,
  // so a test can cut the power with exactly that state committed.
  std::string halt_before;
  std::vector<PeerConfig> peers;
  // [fleet] address_template, e.g. "{name}.workers.example:7443": any worker
  // whose certificate has the worker role is a peer, reached at the template
  // with its name; the peers listed are still reached at their own address.
  // Empty: only the listed peers.
  std::string address_template;
  // Certificate common names that may call the Operator service. Peers may
  // only ask for Health (workerd checks its peers at start) and read the
  // migrations they take part in; anyone else is refused.
  std::vector<std::string> operators = {"operator"};

  const PeerConfig* FindPeer(const std::string& name) const;
  // Listed, or any other valid worker name with an address template.
  bool IsPeer(const std::string& name) const;
  // Where to reach peer `name`; "" if it is not a peer.
  std::string PeerAddress(const std::string& name) const;
  bool IsOperator(const std::string& name) const;
};

// Parses and validates; errors name the file, the line where known, and the key.
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& source_name);
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Worker and volume names become parts of LV, dm and IQN names.
bool ValidName(const std::string& s);

}  // namespace volmigrate::workerd
