#include "workerd/config.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

absl::Status CheckKeys(const std::string& src, const toml::table& t, const std::string& where,
                       const std::set<std::string>& allowed) {
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (!allowed.contains(key)) {
      return Bad(src, &v,
                 absl::StrCat("unknown key '", where, key, "' (known: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// Reads an optional string key; a present key of the wrong type is an error.
absl::Status GetString(const std::string& src, const toml::table& t, const char* key, const std::string& where,
                       std::string* out) {
  const toml::node* n = t.get(key);
  if (!n) return absl::OkStatus();
  auto v = n->value<std::string>();
  if (!v || !n->is_string()) return Bad(src, n, absl::StrCat("'", where, key, "' must be a string"));
  *out = *v;
  return absl::OkStatus();
}

// Reads an optional integer key within [lo, hi].
template <typename T>
absl::Status GetInt(const std::string& src, const toml::table& t, const char* key, const std::string& where,
                    int64_t lo, int64_t hi, T* out) {
  const toml::node* v = t.get(key);
  if (!v) return absl::OkStatus();
  auto i = v->value<int64_t>();
  if (!v->is_integer() || *i < lo || *i > hi) return Bad(src, v, absl::StrCat("'", where, key, "' must be ", lo, "..", hi));
  *out = static_cast<T>(*i);
  return absl::OkStatus();
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

bool Config::IsOperator(const std::string& name) const {
  return std::find(operators.begin(), operators.end(), name) != operators.end();
}

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& src) {
  toml::table root;
  try {
    root = toml::parse(text, src);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ":", e.source().begin.line, ":", e.source().begin.column, ": ", std::string(e.description())));
  }
  Config c;
  RETURN_IF_ERROR(CheckKeys(src, root, "",
                            {"worker", "listen", "data_dir", "log_level", "plaintext", "tls", "storage", "fsm",
                             "migration", "objstore", "peers", "operators"}));
  RETURN_IF_ERROR(GetString(src, root, "worker", "", &c.worker));
  RETURN_IF_ERROR(GetString(src, root, "listen", "", &c.listen));
  RETURN_IF_ERROR(GetString(src, root, "data_dir", "", &c.data_dir));
  RETURN_IF_ERROR(GetString(src, root, "log_level", "", &c.log_level));
  if (const toml::node* n = root.get("plaintext")) {
    if (!n->is_boolean()) return Bad(src, n, "'plaintext' must be true or false");
    c.plaintext = *n->value<bool>();
  }
  if (!ValidName(c.worker))
    return Bad(src, root.get("worker"),
               "'worker' must be set to a name of 1-63 characters [a-z0-9-], not starting with '-'");
  if (!ValidAddress(c.listen)) return Bad(src, root.get("listen"), "'listen' must be host:port");
  if (c.data_dir.empty() || c.data_dir[0] != '/') return Bad(src, root.get("data_dir"), "'data_dir' must be an absolute path");

  if (const toml::node* n = root.get("tls")) {
    const toml::table* t = n->as_table();
    if (!t) return Bad(src, n, "[tls] must be a table");
    RETURN_IF_ERROR(CheckKeys(src, *t, "tls.", {"ca", "cert", "key"}));
    RETURN_IF_ERROR(GetString(src, *t, "ca", "tls.", &c.tls.ca));
    RETURN_IF_ERROR(GetString(src, *t, "cert", "tls.", &c.tls.cert));
    RETURN_IF_ERROR(GetString(src, *t, "key", "tls.", &c.tls.key));
  }
  if (!c.plaintext && (c.tls.ca.empty() || c.tls.cert.empty() || c.tls.key.empty()))
    return Bad(src, root.get("tls"),
               "[tls] needs ca, cert and key (or plaintext = true, for local development only)");

  if (const toml::node* n = root.get("storage")) {
    const toml::table* t = n->as_table();
    if (!t) return Bad(src, n, "[storage] must be a table");
    RETURN_IF_ERROR(
        CheckKeys(src, *t, "storage.", {"volume_group", "thin_pool", "key_dir", "pbkdf", "pbkdf_iterations"}));
    RETURN_IF_ERROR(GetString(src, *t, "volume_group", "storage.", &c.storage.volume_group));
    RETURN_IF_ERROR(GetString(src, *t, "thin_pool", "storage.", &c.storage.thin_pool));
    c.storage.key_dir = c.data_dir + "/keys";
    RETURN_IF_ERROR(GetString(src, *t, "key_dir", "storage.", &c.storage.key_dir));
    RETURN_IF_ERROR(GetString(src, *t, "pbkdf", "storage.", &c.storage.pbkdf));
    if (!c.storage.pbkdf.empty() && c.storage.pbkdf != "pbkdf2" && c.storage.pbkdf != "argon2id" &&
        c.storage.pbkdf != "argon2i")
      return Bad(src, t->get("pbkdf"), "'storage.pbkdf' must be pbkdf2, argon2i or argon2id");
    if (const toml::node* it = t->get("pbkdf_iterations")) {
      auto v = it->value<int64_t>();
      if (!it->is_integer() || *v < 1000 || *v > 100000000)
        return Bad(src, it, "'storage.pbkdf_iterations' must be 1000..100000000");
      c.storage.pbkdf_iterations = static_cast<uint32_t>(*v);
    }
    if (c.storage.volume_group.empty() || c.storage.thin_pool.empty())
      return Bad(src, n, "[storage] needs volume_group and thin_pool");
    c.storage.configured = true;
  }

  if (const toml::node* n = root.get("fsm")) {
    const toml::table* t = n->as_table();
    if (!t) return Bad(src, n, "[fsm] must be a table");
    RETURN_IF_ERROR(CheckKeys(src, *t, "fsm.", {"max_concurrent"}));
    if (const toml::node* m = t->get("max_concurrent")) {
      auto v = m->value<int64_t>();
      if (!m->is_integer() || *v < 1 || *v > 64) return Bad(src, m, "'fsm.max_concurrent' must be 1..64");
      c.max_concurrent = static_cast<int>(*v);
    }
  }

  if (const toml::node* n = root.get("migration")) {
    const toml::table* t = n->as_table();
    if (!t) return Bad(src, n, "[migration] must be a table");
    migration::Options& m = c.migration;
    RETURN_IF_ERROR(CheckKeys(src, *t, "migration.",
                              {"iscsi_portal", "initiator_name", "consumer_start", "consumer_stop",
                               "hook_timeout_seconds", "region_kib", "hydration_threshold", "hydration_batch",
                               "hydration_max_bytes_per_second", "stall_seconds", "replacement_timeout_seconds",
                               "retire", "pool_reserve_mib"}));
    RETURN_IF_ERROR(GetString(src, *t, "iscsi_portal", "migration.", &m.iscsi_portal));
    RETURN_IF_ERROR(GetString(src, *t, "initiator_name", "migration.", &m.initiator_name));
    RETURN_IF_ERROR(GetString(src, *t, "consumer_start", "migration.", &m.consumer_start));
    RETURN_IF_ERROR(GetString(src, *t, "consumer_stop", "migration.", &m.consumer_stop));
    RETURN_IF_ERROR(GetString(src, *t, "retire", "migration.", &m.retire));
    if (!m.iscsi_portal.empty() && !ValidAddress(m.iscsi_portal))
      return Bad(src, t->get("iscsi_portal"), "'migration.iscsi_portal' must be host:port");
    for (const char* k : {"consumer_start", "consumer_stop"}) {
      auto v = t->get(k) ? t->get(k)->value<std::string>() : std::nullopt;
      if (v && !v->empty() && (*v)[0] != '/')
        return Bad(src, t->get(k), absl::StrCat("'migration.", k, "' must be an absolute path"));
    }
    if (m.retire != "keep" && m.retire != "delete")
      return Bad(src, t->get("retire"), "'migration.retire' must be \"keep\" or \"delete\"");
    auto integer = [&](const char* k, int64_t lo, int64_t hi, auto* out) {
      return GetInt(src, *t, k, "migration.", lo, hi, out);
    };
    RETURN_IF_ERROR(integer("hook_timeout_seconds", 1, 3600, &m.hook_timeout_seconds));
    RETURN_IF_ERROR(integer("region_kib", 4, 1048576, &m.region_kib));
    if (m.region_kib & (m.region_kib - 1))
      return Bad(src, t->get("region_kib"), "'migration.region_kib' must be a power of two");
    RETURN_IF_ERROR(integer("hydration_threshold", 1, 1 << 20, &m.hydration_threshold));
    RETURN_IF_ERROR(integer("hydration_batch", 1, 1 << 20, &m.hydration_batch));
    RETURN_IF_ERROR(integer("hydration_max_bytes_per_second", 0, int64_t{1} << 40, &m.hydration_max_bytes_per_second));
    RETURN_IF_ERROR(integer("stall_seconds", 5, 86400, &m.stall_seconds));
    RETURN_IF_ERROR(integer("replacement_timeout_seconds", 5, 86400, &m.replacement_timeout_seconds));
    RETURN_IF_ERROR(integer("pool_reserve_mib", 0, int64_t{1} << 30, &m.pool_reserve_mib));
  }

  c.objstore.dir = c.data_dir + "/objects";
  if (const toml::node* n = root.get("objstore")) {
    const toml::table* t = n->as_table();
    if (!t) return Bad(src, n, "[objstore] must be a table");
    ObjstoreConfig& o = c.objstore;
    RETURN_IF_ERROR(CheckKeys(src, *t, "objstore.",
                              {"kind", "dir", "endpoint", "bucket", "region", "access_key", "secret_key", "addressing",
                               "object_mib", "parallel", "attempts", "multipart_mib", "part_mib"}));
    std::string addressing = "path";
    for (auto [k, out] : {std::pair{"kind", &o.kind}, {"dir", &o.dir}, {"endpoint", &o.endpoint},
                          {"bucket", &o.bucket}, {"region", &o.region}, {"access_key", &o.access_key},
                          {"secret_key", &o.secret_key}, {"addressing", &addressing}}) {
      RETURN_IF_ERROR(GetString(src, *t, k, "objstore.", out));
    }
    RETURN_IF_ERROR(GetInt(src, *t, "object_mib", "objstore.", 1, 1024, &o.object_mib));
    RETURN_IF_ERROR(GetInt(src, *t, "parallel", "objstore.", 1, 64, &o.parallel));
    RETURN_IF_ERROR(GetInt(src, *t, "attempts", "objstore.", 1, 100, &o.attempts));
    RETURN_IF_ERROR(GetInt(src, *t, "multipart_mib", "objstore.", 5, 5 * 1024, &o.multipart_mib));
    RETURN_IF_ERROR(GetInt(src, *t, "part_mib", "objstore.", 5, 5 * 1024, &o.part_mib));
    if (o.kind != "dir" && o.kind != "s3") return Bad(src, t->get("kind"), "'objstore.kind' must be \"dir\" or \"s3\"");
    if (addressing != "path" && addressing != "virtual-host")
      return Bad(src, t->get("addressing"), "'objstore.addressing' must be \"path\" or \"virtual-host\"");
    o.virtual_host = addressing == "virtual-host";
    if (o.kind == "dir" && (o.dir.empty() || o.dir[0] != '/'))
      return Bad(src, t->get("dir"), "'objstore.dir' must be an absolute path");
    if (o.kind == "s3" && (o.endpoint.find("://") == std::string::npos || o.bucket.empty()))
      return Bad(src, n, "[objstore] kind \"s3\" needs endpoint = \"http(s)://host[:port]\" and bucket");
  }

  if (const toml::node* n = root.get("peers")) {
    const toml::array* arr = n->as_array();
    if (!arr) return Bad(src, n, "'peers' must be an array of tables ([[peers]])");
    for (const toml::node& e : *arr) {
      const toml::table* t = e.as_table();
      if (!t) return Bad(src, &e, "each [[peers]] entry must be a table");
      RETURN_IF_ERROR(CheckKeys(src, *t, "peers.", {"name", "address"}));
      PeerConfig p;
      RETURN_IF_ERROR(GetString(src, *t, "name", "peers.", &p.name));
      RETURN_IF_ERROR(GetString(src, *t, "address", "peers.", &p.address));
      if (!ValidName(p.name)) return Bad(src, &e, absl::StrCat("peer name '", p.name, "' is not a valid worker name"));
      if (!ValidAddress(p.address)) return Bad(src, &e, absl::StrCat("peer ", p.name, ": address must be host:port"));
      if (p.name == c.worker) return Bad(src, &e, absl::StrCat("peer ", p.name, " is this worker itself"));
      if (c.FindPeer(p.name)) return Bad(src, &e, absl::StrCat("peer ", p.name, " is listed twice"));
      c.peers.push_back(std::move(p));
    }
  }

  if (const toml::node* n = root.get("operators")) {
    const toml::array* arr = n->as_array();
    if (!arr) return Bad(src, n, "'operators' must be an array of certificate common names");
    c.operators.clear();
    for (const toml::node& e : *arr) {
      std::optional<std::string> name = e.value<std::string>();
      if (!name || !ValidName(*name))
        return Bad(src, &e, "each of 'operators' must be a certificate common name of 1-63 characters [a-z0-9-]");
      // A worker's certificate must never carry operator rights.
      if (*name == c.worker || c.FindPeer(*name))
        return Bad(src, &e, absl::StrCat("'", *name, "' is a worker; operators need certificates of their own"));
      c.operators.push_back(*name);
    }
  } else if (c.worker == "operator" || c.FindPeer("operator")) {
    return Bad(src, root.get("worker"), "a worker named 'operator' needs 'operators' naming who operates it");
  }
  return c;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Annotate(text.status(), "config");
  return ParseConfig(*text, path);
}

}  // namespace volmigrate::workerd
