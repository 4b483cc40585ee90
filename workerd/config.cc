#include "workerd/config.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/status.h"
#include "toml++/toml.h"

namespace volmigrate::workerd {
namespace {

absl::Status Bad(const std::string& src, const toml::node* n, const std::string& msg) {
  if (n && n->source().begin.line)
    return absl::InvalidArgumentError(absl::StrCat(src, ":", n->source().begin.line, ": ", msg));
  return absl::InvalidArgumentError(absl::StrCat(src, ": ", msg));
}

// One table of the file: its keys read with errors that name the file, the
// line and the key ("workerd.toml:7: 'fsm.max_concurrent' must be 1..64").
class Section {
 public:
  Section(const std::string& src, const toml::table& t, std::string where)
      : src_(src), t_(t), where_(std::move(where)) {}

  absl::Status Keys(const std::set<std::string>& allowed) const {
    for (auto&& [k, v] : t_) {
      std::string key(k.str());
      if (!allowed.contains(key))
        return Bad(src_, &v,
                   absl::StrCat("unknown key '", where_, key, "' (known: ", absl::StrJoin(allowed, ", "), ")"));
    }
    return absl::OkStatus();
  }

  // Reads an optional string key; a present key of the wrong type is an error.
  absl::Status String(const char* key, std::string* out) const {
    const toml::node* n = t_.get(key);
    if (!n) return absl::OkStatus();
    if (!n->is_string()) return Fail(key, "must be a string");
    *out = *n->value<std::string>();
    return absl::OkStatus();
  }

  // Reads an optional integer key within [lo, hi].
  template <typename T>
  absl::Status Int(const char* key, int64_t lo, int64_t hi, T* out) const {
    const toml::node* n = t_.get(key);
    if (!n) return absl::OkStatus();
    auto i = n->value<int64_t>();
    if (!n->is_integer() || *i < lo || *i > hi) return Fail(key, absl::StrCat("must be ", lo, "..", hi));
    *out = static_cast<T>(*i);
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) const {
    const toml::node* n = t_.get(key);
    if (!n) return absl::OkStatus();
    if (!n->is_boolean()) return Fail(key, "must be true or false");
    *out = *n->value<bool>();
    return absl::OkStatus();
  }

  // "'where.key' msg", at the key's line when the key is present.
  absl::Status Fail(const char* key, const std::string& msg) const {
    return Bad(src_, t_.get(key), absl::StrCat("'", where_, key, "' ", msg));
  }

 private:
  const std::string& src_;
  const toml::table& t_;
  std::string where_;
};

// The table [name] of root, or nullptr when the file has none.
absl::StatusOr<const toml::table*> SubTable(const std::string& src, const toml::table& root, const char* name) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (!n->as_table()) return Bad(src, n, absl::StrCat("[", name, "] must be a table"));
  return n->as_table();
}

bool ValidAddress(const std::string& a) {
  auto colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size()) return false;
  for (char c : a.substr(colon + 1))
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-');
    if (!ok) return false;
  }
  return true;
}

const PeerConfig* Config::FindPeer(const std::string& name) const {
  for (const auto& p : peers)
    if (p.name == name) return &p;
  return nullptr;
}

bool Config::IsPeer(const std::string& name) const {
  return FindPeer(name) || (!address_template.empty() && ValidName(name) && name != worker);
}

std::string Config::PeerAddress(const std::string& name) const {
  if (const PeerConfig* p = FindPeer(name)) return p->address;
  if (!IsPeer(name)) return "";
  return absl::StrReplaceAll(address_template, {{"{name}", name}});
}

bool Config::IsOperator(const std::string& name) const {
  return std::find(operators.begin(), operators.end(), name) != operators.end();
}

namespace {

absl::Status ParseTop(const std::string& src, const toml::table& root, Config& c) {
  Section s(src, root, "");
  RETURN_IF_ERROR(s.Keys({"worker", "listen", "data_dir", "log_level", "plaintext", "tls", "storage", "fsm",
                          "migration", "objstore", "metrics", "fleet", "peers", "operators"}));
  RETURN_IF_ERROR(s.String("worker", &c.worker));
  RETURN_IF_ERROR(s.String("listen", &c.listen));
  RETURN_IF_ERROR(s.String("data_dir", &c.data_dir));
  RETURN_IF_ERROR(s.String("log_level", &c.log_level));
  RETURN_IF_ERROR(s.Bool("plaintext", &c.plaintext));
  if (!ValidName(c.worker))
    return Bad(src, root.get("worker"),
               "'worker' must be set to a name of 1-63 characters [a-z0-9-], not starting with '-'");
  if (!ValidAddress(c.listen)) return s.Fail("listen", "must be host:port");
  if (c.data_dir.empty() || c.data_dir[0] != '/') return s.Fail("data_dir", "must be an absolute path");
  return absl::OkStatus();
}

absl::Status ParseTls(const std::string& src, const toml::table& root, Config& c) {
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "tls"));
  if (t) {
    Section s(src, *t, "tls.");
    RETURN_IF_ERROR(s.Keys({"ca", "cert", "key"}));
    RETURN_IF_ERROR(s.String("ca", &c.tls.ca));
    RETURN_IF_ERROR(s.String("cert", &c.tls.cert));
    RETURN_IF_ERROR(s.String("key", &c.tls.key));
  }
  if (!c.plaintext && (c.tls.ca.empty() || c.tls.cert.empty() || c.tls.key.empty()))
    return Bad(src, t, "[tls] needs ca, cert and key (or plaintext = true, for local development only)");
  return absl::OkStatus();
}

absl::Status ParseStorage(const std::string& src, const toml::table& root, Config& c) {
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "storage"));
  if (!t) return absl::OkStatus();
  StorageConfig& st = c.storage;
  Section s(src, *t, "storage.");
  RETURN_IF_ERROR(s.Keys({"volume_group", "thin_pool", "key_dir", "pbkdf", "pbkdf_iterations"}));
  RETURN_IF_ERROR(s.String("volume_group", &st.volume_group));
  RETURN_IF_ERROR(s.String("thin_pool", &st.thin_pool));
  st.key_dir = c.data_dir + "/keys";
  RETURN_IF_ERROR(s.String("key_dir", &st.key_dir));
  RETURN_IF_ERROR(s.String("pbkdf", &st.pbkdf));
  if (!st.pbkdf.empty() && st.pbkdf != "pbkdf2" && st.pbkdf != "argon2id" && st.pbkdf != "argon2i")
    return s.Fail("pbkdf", "must be pbkdf2, argon2i or argon2id");
  RETURN_IF_ERROR(s.Int("pbkdf_iterations", 1000, 100000000, &st.pbkdf_iterations));
  if (st.volume_group.empty() || st.thin_pool.empty()) return Bad(src, t, "[storage] needs volume_group and thin_pool");
  st.configured = true;
  return absl::OkStatus();
}

absl::Status ParseFsm(const std::string& src, const toml::table& root, Config& c) {
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "fsm"));
  if (!t) return absl::OkStatus();
  Section s(src, *t, "fsm.");
  RETURN_IF_ERROR(s.Keys({"max_concurrent"}));
  return s.Int("max_concurrent", 1, 64, &c.max_concurrent);
}

absl::Status ParseMetrics(const std::string& src, const toml::table& root, Config& c) {
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "metrics"));
  if (!t) return absl::OkStatus();
  Section s(src, *t, "metrics.");
  RETURN_IF_ERROR(s.Keys({"listen"}));
  RETURN_IF_ERROR(s.String("listen", &c.metrics_listen));
  if (!c.metrics_listen.empty() && !ValidAddress(c.metrics_listen)) return s.Fail("listen", "must be host:port");
  return absl::OkStatus();
}

absl::Status ParseFleet(const std::string& src, const toml::table& root, Config& c) {
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "fleet"));
  if (!t) return absl::OkStatus();
  Section s(src, *t, "fleet.");
  RETURN_IF_ERROR(s.Keys({"address_template"}));
  RETURN_IF_ERROR(s.String("address_template", &c.address_template));
  if (!absl::StrContains(c.address_template, "{name}") ||
      !ValidAddress(absl::StrReplaceAll(c.address_template, {{"{name}", "w"}})))
    return s.Fail("address_template", "must be host:port with {name} in it, e.g. \"{name}.workers.example:7443\"");
  return absl::OkStatus();
}

absl::Status ParseMigration(const std::string& src, const toml::table& root, Config& c) {
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "migration"));
  if (!t) return absl::OkStatus();
  migration::Options& m = c.migration;
  Section s(src, *t, "migration.");
  RETURN_IF_ERROR(s.Keys({"iscsi_portal", "initiator_name", "consumer_start", "consumer_stop", "hook_timeout_seconds",
                          "region_kib", "hydration_threshold", "hydration_batch", "hydration_max_bytes_per_second",
                          "stall_seconds", "replacement_timeout_seconds", "retire", "retire_after",
                          "pool_reserve_mib", "planning_rate_mib"}));
  RETURN_IF_ERROR(s.String("iscsi_portal", &m.iscsi_portal));
  RETURN_IF_ERROR(s.String("initiator_name", &m.initiator_name));
  RETURN_IF_ERROR(s.String("consumer_start", &m.consumer_start));
  RETURN_IF_ERROR(s.String("consumer_stop", &m.consumer_stop));
  RETURN_IF_ERROR(s.String("retire", &m.retire));
  if (!m.iscsi_portal.empty() && !ValidAddress(m.iscsi_portal)) return s.Fail("iscsi_portal", "must be host:port");
  if (!m.consumer_start.empty() && m.consumer_start[0] != '/') return s.Fail("consumer_start", "must be an absolute path");
  if (!m.consumer_stop.empty() && m.consumer_stop[0] != '/') return s.Fail("consumer_stop", "must be an absolute path");
  if (m.retire != "keep" && m.retire != "delete") return s.Fail("retire", "must be \"keep\" or \"delete\"");
  std::string after;
  RETURN_IF_ERROR(s.String("retire_after", &after));
  if (after == "never") {
    m.retire_after_seconds = 0;
  } else if (!after.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(after, &d) || d < absl::Seconds(1))
      return s.Fail("retire_after", "must be a duration of 1s or more (\"24h\", \"90m\", \"30s\") or \"never\"");
    m.retire_after_seconds = absl::ToInt64Seconds(d);
  }
  RETURN_IF_ERROR(s.Int("hook_timeout_seconds", 1, 3600, &m.hook_timeout_seconds));
  RETURN_IF_ERROR(s.Int("region_kib", 4, 1048576, &m.region_kib));
  if (m.region_kib & (m.region_kib - 1)) return s.Fail("region_kib", "must be a power of two");
  RETURN_IF_ERROR(s.Int("hydration_threshold", 1, 1 << 20, &m.hydration_threshold));
  RETURN_IF_ERROR(s.Int("hydration_batch", 1, 1 << 20, &m.hydration_batch));
  RETURN_IF_ERROR(s.Int("hydration_max_bytes_per_second", 0, int64_t{1} << 40, &m.hydration_max_bytes_per_second));
  RETURN_IF_ERROR(s.Int("stall_seconds", 5, 86400, &m.stall_seconds));
  RETURN_IF_ERROR(s.Int("replacement_timeout_seconds", 5, 86400, &m.replacement_timeout_seconds));
  RETURN_IF_ERROR(s.Int("planning_rate_mib", 1, int64_t{1} << 20, &m.planning_rate_mib));
  return s.Int("pool_reserve_mib", 0, int64_t{1} << 30, &m.pool_reserve_mib);
}

absl::Status ParseObjstore(const std::string& src, const toml::table& root, Config& c) {
  ObjstoreConfig& o = c.objstore;
  o.dir = c.data_dir + "/objects";
  ASSIGN_OR_RETURN(const toml::table* t, SubTable(src, root, "objstore"));
  if (!t) return absl::OkStatus();
  Section s(src, *t, "objstore.");
  RETURN_IF_ERROR(s.Keys({"kind", "dir", "endpoint", "bucket", "region", "access_key", "secret_key", "addressing",
                          "object_mib", "parallel", "attempts", "multipart_mib", "part_mib"}));
  std::string addressing = "path";
  for (auto [k, out] : {std::pair{"kind", &o.kind}, {"dir", &o.dir}, {"endpoint", &o.endpoint}, {"bucket", &o.bucket},
                        {"region", &o.region}, {"access_key", &o.access_key}, {"secret_key", &o.secret_key},
                        {"addressing", &addressing}}) {
    RETURN_IF_ERROR(s.String(k, out));
  }
  RETURN_IF_ERROR(s.Int("object_mib", 1, 1024, &o.object_mib));
  RETURN_IF_ERROR(s.Int("parallel", 1, 64, &o.parallel));
  RETURN_IF_ERROR(s.Int("attempts", 1, 100, &o.attempts));
  RETURN_IF_ERROR(s.Int("multipart_mib", 5, 5 * 1024, &o.multipart_mib));
  RETURN_IF_ERROR(s.Int("part_mib", 5, 5 * 1024, &o.part_mib));
  if (o.kind != "dir" && o.kind != "s3") return s.Fail("kind", "must be \"dir\" or \"s3\"");
  if (addressing != "path" && addressing != "virtual-host")
    return s.Fail("addressing", "must be \"path\" or \"virtual-host\"");
  o.virtual_host = addressing == "virtual-host";
  if (o.kind == "dir" && (o.dir.empty() || o.dir[0] != '/')) return s.Fail("dir", "must be an absolute path");
  if (o.kind == "s3" && (o.endpoint.find("://") == std::string::npos || o.bucket.empty()))
    return Bad(src, t, "[objstore] kind \"s3\" needs endpoint = \"http(s)://host[:port]\" and bucket");
  return absl::OkStatus();
}

absl::Status ParsePeers(const std::string& src, const toml::table& root, Config& c) {
  const toml::node* n = root.get("peers");
  if (!n) return absl::OkStatus();
  const toml::array* arr = n->as_array();
  if (!arr) return Bad(src, n, "'peers' must be an array of tables ([[peers]])");
  for (const toml::node& e : *arr) {
    const toml::table* t = e.as_table();
    if (!t) return Bad(src, &e, "each [[peers]] entry must be a table");
    Section s(src, *t, "peers.");
    RETURN_IF_ERROR(s.Keys({"name", "address"}));
    PeerConfig p;
    RETURN_IF_ERROR(s.String("name", &p.name));
    RETURN_IF_ERROR(s.String("address", &p.address));
    if (!ValidName(p.name)) return Bad(src, &e, absl::StrCat("peer name '", p.name, "' is not a valid worker name"));
    if (!ValidAddress(p.address)) return Bad(src, &e, absl::StrCat("peer ", p.name, ": address must be host:port"));
    if (p.name == c.worker) return Bad(src, &e, absl::StrCat("peer ", p.name, " is this worker itself"));
    if (c.FindPeer(p.name)) return Bad(src, &e, absl::StrCat("peer ", p.name, " is listed twice"));
    c.peers.push_back(std::move(p));
  }
  return absl::OkStatus();
}

// After the peers: a worker's certificate must never carry operator rights.
absl::Status ParseOperators(const std::string& src, const toml::table& root, Config& c) {
  const toml::node* n = root.get("operators");
  if (!n) {
    if (c.worker == "operator" || c.FindPeer("operator"))
      return Bad(src, root.get("worker"), "a worker named 'operator' needs 'operators' naming who operates it");
    return absl::OkStatus();
  }
  const toml::array* arr = n->as_array();
  if (!arr) return Bad(src, n, "'operators' must be an array of certificate common names");
  c.operators.clear();
  for (const toml::node& e : *arr) {
    std::optional<std::string> name = e.value<std::string>();
    if (!name || !ValidName(*name))
      return Bad(src, &e, "each of 'operators' must be a certificate common name of 1-63 characters [a-z0-9-]");
    if (*name == c.worker || c.FindPeer(*name))
      return Bad(src, &e, absl::StrCat("'", *name, "' is a worker; operators need certificates of their own"));
    c.operators.push_back(*name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& src) {
  toml::table root;
  try {
    root = toml::parse(text, src);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ":", e.source().begin.line, ":", e.source().begin.column, ": ", std::string(e.description())));
  }
  Config c;
  for (auto* parse : {ParseTop, ParseTls, ParseStorage, ParseFsm, ParseMigration, ParseObjstore, ParseMetrics,
                      ParseFleet, ParsePeers, ParseOperators}) {
    RETURN_IF_ERROR(parse(src, root, c));
  }
  return c;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Annotate(text.status(), "config");
  return ParseConfig(*text, path);
}

}  // namespace volmigrate::workerd
