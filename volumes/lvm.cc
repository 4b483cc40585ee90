#include "volumes/lvm.h"

#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace volmigrate::volumes {

const char kLvsFields[] = "lv_name,lv_size,pool_lv,data_percent,metadata_percent,lv_attr,lv_tags,thin_id";

namespace {

using json = nlohmann::json;

absl::StatusOr<json> ReportRows(const std::string& text, const char* kind) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("report") || !j["report"].is_array() || j["report"].empty() ||
      !j["report"][0].contains(kind) || !j["report"][0][kind].is_array())
    return absl::InvalidArgumentError(absl::StrCat("not an lvm JSON report with '", kind, "' rows"));
  return j["report"][0][kind];
}

std::string Str(const json& row, const char* key) {
  return row.contains(key) && row[key].is_string() ? row[key].get<std::string>() : "";
}

absl::Status Num(const json& row, const char* key, uint64_t* out) {
  std::string s = Str(row, key);
  if (!absl::SimpleAtoi(s, out)) return absl::InvalidArgumentError(absl::StrCat("lvm report: ", key, " '", s, "'"));
  return absl::OkStatus();
}

double Percent(const json& row, const char* key) {
  double d = 0;
  return absl::SimpleAtod(Str(row, key), &d) ? d : 0;
}

// Device-mapper's name for an LV: each '-' in either name doubled, then joined by '-'.
std::string DmName(const std::string& vg, const std::string& lv) {
  auto esc = [](const std::string& n) {
    std::string o;
    for (char c : n) o += c == '-' ? std::string("--") : std::string(1, c);
    return o;
  };
  return esc(vg) + "-" + esc(lv);
}

uint64_t RoundUp(uint64_t v, uint64_t unit) { return unit ? (v + unit - 1) / unit * unit : v; }

}  // namespace

absl::StatusOr<std::vector<LvRow>> ParseLvsJson(const std::string& text) {
  ASSIGN_OR_RETURN(json rows, ReportRows(text, "lv"));
  std::vector<LvRow> out;
  for (const json& r : rows) {
    LvRow lv;
    lv.name = Str(r, "lv_name");
    RETURN_IF_ERROR(Num(r, "lv_size", &lv.size_bytes));
    lv.pool = Str(r, "pool_lv");
    lv.data_percent = Percent(r, "data_percent");
    lv.metadata_percent = Percent(r, "metadata_percent");
    lv.attr = Str(r, "lv_attr");
    for (auto t : absl::StrSplit(Str(r, "lv_tags"), ',', absl::SkipEmpty())) lv.tags.emplace_back(t);
    if (!Str(r, "thin_id").empty()) RETURN_IF_ERROR(Num(r, "thin_id", &lv.thin_id));
    out.push_back(std::move(lv));
  }
  return out;
}

absl::StatusOr<VgInfo> ParseVgsJson(const std::string& text) {
  ASSIGN_OR_RETURN(json rows, ReportRows(text, "vg"));
  if (rows.size() != 1) return absl::InvalidArgumentError("vgs report: expected one volume group");
  VgInfo v;
  RETURN_IF_ERROR(Num(rows[0], "vg_extent_size", &v.extent_bytes));
  RETURN_IF_ERROR(Num(rows[0], "vg_free", &v.free_bytes));
  return v;
}

absl::StatusOr<std::vector<LvRow>> Lvm::Lvs() {
  ASSIGN_OR_RETURN(ExecResult r, RunChecked(*ex_, {.argv = {"lvs", "--reportformat", "json", "--units", "b",
                                                            "--nosuffix", "-o", kLvsFields, o_.volume_group}},
                                            absl::StatusCode::kUnavailable));
  return ParseLvsJson(r.out);
}

absl::StatusOr<VgInfo> Lvm::Vg() {
  ASSIGN_OR_RETURN(ExecResult r, RunChecked(*ex_, {.argv = {"vgs", "--reportformat", "json", "--units", "b",
                                                            "--nosuffix", "-o", "vg_extent_size,vg_free",
                                                            o_.volume_group}},
                                            absl::StatusCode::kUnavailable));
  return ParseVgsJson(r.out);
}

// Read once: a volume group's extent size is set when it is made (changing it
// under a running workerd needs a restart), and each vgs costs a process.
absl::StatusOr<uint64_t> Lvm::ExtentBytes() {
  if (uint64_t e = extent_bytes_.load()) return e;
  ASSIGN_OR_RETURN(VgInfo vg, Vg());
  extent_bytes_.store(vg.extent_bytes);
  return vg.extent_bytes;
}

absl::StatusOr<std::vector<LvRow>> Lvm::List(const std::string& tag) {
  ASSIGN_OR_RETURN(std::vector<LvRow> all, Lvs());
  std::vector<LvRow> out;
  for (LvRow& lv : all) {
    if (lv.pool == o_.thin_pool && std::find(lv.tags.begin(), lv.tags.end(), tag) != lv.tags.end())
      out.push_back(std::move(lv));
  }
  return out;
}

namespace {

absl::StatusOr<LvRow> Find(std::vector<LvRow> rows, const std::string& vg, const std::string& name) {
  for (LvRow& lv : rows)
    if (lv.name == name) return std::move(lv);
  return absl::NotFoundError(absl::StrCat("no logical volume ", vg, "/", name));
}

absl::StatusOr<PoolUsage> PoolOf(const std::vector<LvRow>& rows, const std::string& vg, const std::string& pool) {
  ASSIGN_OR_RETURN(LvRow p, Find(rows, vg, pool));
  if (p.attr.empty() || p.attr[0] != 't')
    return absl::FailedPreconditionError(absl::StrCat(vg, "/", pool, " is not a thin pool"));
  return PoolUsage{p.size_bytes, p.data_percent, p.metadata_percent};
}

}  // namespace

absl::StatusOr<LvRow> Lvm::Get(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<LvRow> all, Lvs());
  return Find(std::move(all), o_.volume_group, name);
}

absl::StatusOr<PoolUsage> Lvm::Pool() {
  ASSIGN_OR_RETURN(std::vector<LvRow> all, Lvs());
  return PoolOf(all, o_.volume_group, o_.thin_pool);
}

absl::Status Lvm::Create(const std::string& name, uint64_t size_bytes, const std::string& tag) {
  ASSIGN_OR_RETURN(uint64_t extent, ExtentBytes());
  uint64_t want = RoundUp(size_bytes, extent);
  // One report answers both questions: does the LV exist, and how full is the pool.
  ASSIGN_OR_RETURN(std::vector<LvRow> all, Lvs());
  if (auto have = Find(all, o_.volume_group, name); have.ok()) {
    if (have->size_bytes == want && have->pool == o_.thin_pool) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("logical volume ", name, " exists with ", have->size_bytes,
                                                 " bytes in pool '", have->pool, "', not ", want, " bytes in '",
                                                 o_.thin_pool, "'"));
  } else if (have.status().code() != absl::StatusCode::kNotFound) {
    return have.status();
  }
  ASSIGN_OR_RETURN(PoolUsage pool, PoolOf(all, o_.volume_group, o_.thin_pool));
  if (pool.data_percent >= o_.refuse_above_percent || pool.metadata_percent >= o_.refuse_above_percent)
    return absl::ResourceExhaustedError(absl::StrCat("thin pool ", o_.volume_group, "/", o_.thin_pool, " is ",
                                                     pool.data_percent, "% full (metadata ", pool.metadata_percent,
                                                     "%): refusing to create ", name));
  return RunChecked(*ex_,
                    {.argv = {"lvcreate", "-q", "-y", "-V", absl::StrCat(want, "b"), "-T",
                              absl::StrCat(o_.volume_group, "/", o_.thin_pool), "-n", name, "--addtag", tag}})
      .status();
}

absl::Status Lvm::Delete(const std::string& name) {
  auto have = Get(name);
  if (!have.ok()) return have.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : have.status();
  return RunChecked(*ex_, {.argv = {"lvremove", "-q", "-y", absl::StrCat(o_.volume_group, "/", name)}}).status();
}

absl::Status Lvm::Resize(const std::string& name, uint64_t size_bytes) {
  ASSIGN_OR_RETURN(LvRow have, Get(name));
  ASSIGN_OR_RETURN(uint64_t extent, ExtentBytes());
  uint64_t want = RoundUp(size_bytes, extent);
  if (want == have.size_bytes) return absl::OkStatus();
  if (want < have.size_bytes)
    return absl::FailedPreconditionError(absl::StrCat("volume ", name, " is ", have.size_bytes,
                                                      " bytes; shrinking to ", want, " is not supported"));
  return RunChecked(*ex_, {.argv = {"lvextend", "-q", "-L", absl::StrCat(want, "b"),
                                    absl::StrCat(o_.volume_group, "/", name)}})
      .status();
}

absl::Status Lvm::Retire(const std::string& name, const std::string& new_name) {
  ASSIGN_OR_RETURN(std::vector<LvRow> all, Lvs());
  bool have_old = Find(all, o_.volume_group, name).ok();
  auto have_new = Find(all, o_.volume_group, new_name);
  if (!have_old && !have_new.ok()) return absl::NotFoundError(absl::StrCat("no logical volume ", o_.volume_group, "/", name));
  if (have_old && have_new.ok())
    return absl::AlreadyExistsError(absl::StrCat("cannot retire ", name, ": ", new_name, " exists already"));
  if (have_old) {
    RETURN_IF_ERROR(RunChecked(*ex_, {.argv = {"lvrename", "-q", o_.volume_group, name, new_name}}).status());
  } else if (std::find(have_new->tags.begin(), have_new->tags.end(), kRetiredTag) != have_new->tags.end() &&
             std::find(have_new->tags.begin(), have_new->tags.end(), kVolumeTag) == have_new->tags.end()) {
    return absl::OkStatus();
  }
  return RunChecked(*ex_, {.argv = {"lvchange", "-q", "--deltag", kVolumeTag, "--addtag", kRetiredTag,
                                    absl::StrCat(o_.volume_group, "/", new_name)}})
      .status();
}

}  // namespace volmigrate::volumes

namespace volmigrate::volumes {

std::string SealedSnapshotName(const std::string& volume, uint64_t point) { return absl::StrCat(volume, "_p", point); }

absl::StatusOr<std::vector<std::string>> Lvm::SealedSnapshots(const std::string& volume) {
  ASSIGN_OR_RETURN(std::vector<LvRow> rows, List(kSealedTag));
  std::vector<std::string> out;
  for (const LvRow& r : rows)
    if (r.name.rfind(volume + "_p", 0) == 0) out.push_back(r.name);
  return out;
}

absl::Status Lvm::Snapshot(const std::string& origin, const std::string& name) {
  const std::string lv = absl::StrCat(o_.volume_group, "/", name);
  auto have = Get(name);
  if (!have.ok() && !absl::IsNotFound(have.status())) return have.status();
  if (!have.ok()) {
    // -kn: no activation-skip flag, so the snapshot can be read; -pr: nobody writes it.
    RETURN_IF_ERROR(RunChecked(*ex_, {.argv = {"lvcreate", "-q", "-y", "-s", "-kn", "-pr", "-n", name, "--addtag",
                                               kSealedTag, absl::StrCat(o_.volume_group, "/", origin)}})
                        .status());
    ASSIGN_OR_RETURN(have, Get(name));
  }
  // A snapshot copies its origin's tags: it must not list as a volume.
  if (std::find(have->tags.begin(), have->tags.end(), kVolumeTag) != have->tags.end()) {
    RETURN_IF_ERROR(RunChecked(*ex_, {.argv = {"lvchange", "-q", "--deltag", kVolumeTag, lv}}).status());
  }
  if (!have->active()) RETURN_IF_ERROR(RunChecked(*ex_, {.argv = {"lvchange", "-q", "-ay", "-K", lv}}).status());
  return absl::OkStatus();
}

std::string Lvm::PoolDmName() const { return DmName(o_.volume_group, o_.thin_pool) + "-tpool"; }

absl::StatusOr<std::string> Lvm::PoolMappings(std::optional<uint64_t> dev_id) {
  const std::string pool = PoolDmName();
  auto message = [&](const char* m) -> absl::Status {
    if (dm_ != nullptr) return dm_->Message(pool, m).status();
    return RunChecked(*ex_, {.argv = {"dmsetup", "message", pool, "0", m}}).status();
  };
  // Two callers at once would release each other's snapshot mid-dump.
  static std::mutex mu;
  std::lock_guard lock(mu);
  // One metadata snapshot per pool: one left by a crash is released first.
  if (!message("reserve_metadata_snap").ok()) {
    RETURN_IF_ERROR(message("release_metadata_snap"));
    RETURN_IF_ERROR(message("reserve_metadata_snap"));
  }
  std::vector<std::string> argv = {"thin_dump", "--metadata-snap"};
  if (dev_id) argv.insert(argv.end(), {"--dev-id", absl::StrCat(*dev_id)});
  argv.push_back("/dev/mapper/" + DmName(o_.volume_group, o_.thin_pool + "_tmeta"));
  auto dump = RunChecked(*ex_, {.argv = std::move(argv)});
  absl::Status released = message("release_metadata_snap");
  if (!dump.ok()) return dump.status();
  RETURN_IF_ERROR(released);
  return std::move(dump->out);
}

absl::StatusOr<ThinMap> Lvm::Mappings(uint64_t thin_id) {
  ASSIGN_OR_RETURN(std::string xml, PoolMappings(thin_id));
  ASSIGN_OR_RETURN(ThinDump dump, ParseThinDump(xml));
  ThinMap m{.block_sectors = dump.block_sectors};
  if (auto it = dump.devices.find(thin_id); it != dump.devices.end()) m.runs = std::move(it->second);
  return m;
}

absl::Status NoVolume(const std::string& volume, const std::string& worker) {
  return absl::NotFoundError(absl::StrCat("no volume '", volume, "' on worker ", worker));
}

}  // namespace volmigrate::volumes
