#include "migratectl/format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "rpc/status.h"

namespace volmigrate::cli {
namespace {

std::string VolumeStateName(v1::VolumeState s) {
  std::string n = v1::VolumeState_Name(s);
  constexpr char kPrefix[] = "VOLUME_STATE_";
  if (n.rfind(kPrefix, 0) == 0) n = n.substr(sizeof kPrefix - 1);
  return n.empty() ? "UNKNOWN" : n;
}

std::string Percent(const v1::MigrationProgress& p) {
  if (p.total_bytes() == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(p.hydrated_bytes()) / p.total_bytes());
}

std::string UnixTime(int64_t t) {
  if (t <= 0) return "-";
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, kUnits[u]);
}

std::string FormatDuration(double seconds) {
  if (!(seconds > 0) || std::isinf(seconds)) return "-";
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string FormatRate(double bps) {
  if (!(bps > 0)) return "-";
  return absl::StrCat(FormatBytes(static_cast<uint64_t>(bps)), "/s");
}

std::string RenderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < w.size(); ++i) {
      std::string c = i < cells.size() ? cells[i] : "";
      if (i + 1 < w.size()) c.resize(w[i] + 2, ' ');
      out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string VolumesTable(const v1::ListVolumesResponse& r) {
  if (r.volumes_size() == 0) return "no volumes\n";
  std::vector<std::vector<std::string>> rows;
  for (const v1::Volume& v : r.volumes()) {
    rows.push_back({v.id(), FormatBytes(v.size_bytes()), VolumeStateName(v.state()), v.worker(),
                    v.migration_id().empty() ? "-" : v.migration_id()});
  }
  std::string out = RenderTable({"VOLUME", "SIZE", "STATE", "WORKER", "MIGRATION"}, rows);
  for (const v1::Volume& v : r.volumes())
    if (!v.problem().empty()) absl::StrAppend(&out, v.id(), ": ", v.problem(), "\n");
  return out;
}

std::string MigrationsTable(const v1::ListMigrationsResponse& r) {
  if (r.migrations_size() == 0) return "no migrations\n";
  std::vector<std::vector<std::string>> rows;
  for (const v1::Migration& m : r.migrations()) {
    rows.push_back({m.id(), m.volume_id(), absl::StrCat(m.source_worker(), " -> ", m.destination_worker()), m.state(),
                    Percent(m.progress()), FormatRate(m.progress().rate_bytes_per_second()),
                    FormatDuration(m.progress().eta_seconds())});
  }
  return RenderTable({"MIGRATION", "VOLUME", "ROUTE", "STATE", "DONE", "RATE", "ETA"}, rows);
}

std::string MigrationDetails(const v1::Migration& m) {
  const v1::MigrationProgress& p = m.progress();
  std::string out;
  absl::StrAppend(&out, "migration:   ", m.id(), "\n", "volume:      ", m.volume_id(), "\n", "route:       ",
                  m.source_worker(), " -> ", m.destination_worker(), "\n", "state:       ", m.state(),
                  m.terminal() ? " (ended)" : "", "\n");
  if (!m.error().empty()) absl::StrAppend(&out, "error:       ", m.error(), "\n");
  absl::StrAppend(&out, "progress:    ", Percent(p), " (", FormatBytes(p.hydrated_bytes()), " of ",
                  FormatBytes(p.total_bytes()), ", ", FormatBytes(p.discarded_bytes()), " skipped by discard)\n");
  absl::StrAppend(&out, "rate:        ", FormatRate(p.rate_bytes_per_second()), ", ETA ",
                  FormatDuration(p.eta_seconds()), "\n");
  if (p.stalled()) absl::StrAppend(&out, "STALLED:     ", p.stall_reason(), "\n");
  absl::StrAppend(&out, "blackout:    ", m.blackout_seconds() > 0 ? absl::StrFormat("%.2fs", m.blackout_seconds()) : "-",
                  "\n", "hydration:   ",
                  m.hydration_seconds() > 0 ? absl::StrFormat("%.1fs", m.hydration_seconds()) : "-", "\n");
  absl::StrAppend(&out, "started:     ", UnixTime(m.started_unix()), "\n", "updated:     ", UnixTime(m.updated_unix()),
                  "\n");
  if (m.history_size() > 0) {
    out += "history:\n";
    std::vector<std::vector<std::string>> rows;
    for (const v1::Transition& t : m.history()) {
      rows.push_back({UnixTime(t.at_unix_ms() / 1000), t.from().empty() ? "-" : t.from(), t.to(),
                      t.error().empty() ? "" : t.error()});
    }
    std::string table = RenderTable({"  AT", "FROM", "TO", "ERROR"}, rows);
    out += table;
  }
  return out;
}

std::string HealthText(const v1::HealthResponse& h) {
  std::vector<std::string> peers;
  for (const auto& p : h.peers()) peers.push_back(absl::StrCat(p.name(), " (", p.address(), ")"));
  std::string problems;
  for (const std::string& p : h.problems()) absl::StrAppend(&problems, "problem: ", p, "\n");
  return absl::StrCat("worker ", h.worker(), h.status() == v1::NOT_SERVING ? " is NOT serving" : " is serving",
                      ": version ", h.version(), ", up ",
                      FormatDuration(static_cast<double>(h.uptime_seconds())), ", ", h.active_machines(),
                      " active machine(s), peers: ", peers.empty() ? "none" : absl::StrJoin(peers, ", "), "\n",
                      h.initiator_iqn().empty() ? ""
                                                : absl::StrCat("storage: ", FormatBytes(h.pool_free_bytes()),
                                                               " free in the thin pool; iSCSI initiator ",
                                                               h.initiator_iqn(), "\n"),
                      problems);
}

std::string ProgressLine(const v1::Migration& m, int width) {
  const v1::MigrationProgress& p = m.progress();
  double frac = p.total_bytes() ? static_cast<double>(p.hydrated_bytes()) / p.total_bytes() : 0.0;
  frac = std::clamp(frac, 0.0, 1.0);
  int filled = static_cast<int>(frac * width + 0.5);
  std::string bar = absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "]");
  std::string out = absl::StrFormat("%s %5.1f%%  %s/%s  %s  ETA %s  %s", bar, frac * 100, FormatBytes(p.hydrated_bytes()),
                                    FormatBytes(p.total_bytes()), FormatRate(p.rate_bytes_per_second()),
                                    FormatDuration(p.eta_seconds()), m.state());
  if (p.discarded_bytes() > 0) absl::StrAppend(&out, "  ", FormatBytes(p.discarded_bytes()), " skipped by discard");
  if (m.blackout_seconds() > 0) absl::StrAppend(&out, absl::StrFormat("  blackout %.1fs", m.blackout_seconds()));
  if (p.stalled()) absl::StrAppend(&out, "  STALLED: ", p.stall_reason());
  return out;
}

std::string TransferLine(const v1::Transfer& t, int width) {
  double frac = t.total_bytes() ? static_cast<double>(t.done_bytes()) / t.total_bytes() : (t.terminal() ? 1.0 : 0.0);
  frac = std::clamp(frac, 0.0, 1.0);
  int filled = static_cast<int>(frac * width + 0.5);
  std::string bar = absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "]");
  std::string out = absl::StrFormat("%s %5.1f%%  %s/%s  %u/%u objects  %s  %s", bar, frac * 100,
                                    FormatBytes(t.done_bytes()), FormatBytes(t.total_bytes()), t.objects_done(),
                                    t.objects_total(), FormatRate(t.rate_bytes_per_second()), t.state());
  if (!t.error().empty()) absl::StrAppend(&out, "  (", t.error(), ")");
  return out;
}

std::string TransferSummary(const v1::Transfer& t) {
  if (t.kind() == "seal") return absl::StrCat("sealed ", t.volume_id(), ": detached, snapshot taken\n");
  if (t.kind() == "ship") {
    return absl::StrCat("shipped ", t.volume_id(), " point ", t.point(), " (checkpoint object ", t.checkpoint_object(),
                        ", ", t.incremental() ? "changes since the last point" : "whole volume", "): ",
                        FormatBytes(t.total_bytes()), " in ", t.objects_total(), " objects for ",
                        FormatBytes(t.allocated_bytes()), " allocated, to ", t.store(), "\n");
  }
  return absl::StrCat("restored ", t.new_volume_id(), " from ", t.volume_id(), " point ", t.point(), " (object ",
                      t.checkpoint_object(), "): ", FormatBytes(t.done_bytes()), " written, checksums verified\n");
}

std::string SnapshotsTable(const v1::ListSnapshotsResponse& r) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Snapshot& s : r.snapshots()) {
    rows.push_back({absl::StrCat(s.point()), absl::StrCat(s.checkpoint_object()),
                    absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(s.created_unix()), absl::UTCTimeZone()),
                    FormatBytes(s.shipped_bytes()), FormatBytes(s.live_bytes()), FormatBytes(s.volume_bytes())});
  }
  std::string out = rows.empty() ? std::string("no shipped points\n")
                                 : RenderTable({"POINT", "OBJECT", "SHIPPED AT (UTC)", "SHIPPED", "LIVE", "DEVICE"}, rows);
  absl::StrAppend(&out, r.objects(), " readable object(s) in ", r.store(),
                  r.volume_uuid().empty() ? "" : absl::StrCat(", volume ", r.volume_uuid()), "\n");
  if (!r.stopped().empty()) absl::StrAppend(&out, "reading stopped: ", r.stopped(), "\n");
  return out;
}

std::string RetiredTable(const v1::ListRetiredResponse& r) {
  if (r.copies_size() == 0) return "no retired copies\n";
  std::vector<std::vector<std::string>> rows;
  for (const v1::RetiredCopy& c : r.copies()) {
    rows.push_back({c.name(), c.volume_id().empty() ? "?" : c.volume_id(), FormatBytes(c.bytes()),
                    c.retired_unix() ? UnixTime(c.retired_unix()) : "?",
                    c.expires_unix() ? UnixTime(c.expires_unix()) : "never"});
  }
  return RenderTable({"NAME", "VOLUME", "HELD", "RETIRED", "EXPIRES"}, rows);
}

std::string DrainPlanTable(const v1::Drain& d) {
  if (d.plan_size() == 0) return absl::StrCat("worker ", d.worker(), " holds no volumes to move\n");
  std::vector<std::vector<std::string>> rows;
  for (const v1::PlannedMove& m : d.plan()) {
    rows.push_back({m.volume_id(), m.destination_worker(), FormatBytes(m.bytes()),
                    absl::StrCat(FormatBytes(static_cast<uint64_t>(m.rate_bytes_per_second())), "/s",
                                 m.rate_measured() ? "" : " (assumed)"),
                    FormatDuration(m.eta_seconds())});
  }
  return absl::StrCat(RenderTable({"VOLUME", "TO", "BYTES", "RATE", "ETA"}, rows), "plan for ", d.worker(), ": ",
                      d.plan_size(), " volume(s), about ", FormatDuration(d.eta_seconds()), " in all\n");
}

std::string DrainLine(const v1::Drain& d) {
  std::string out = absl::StrCat("drain ", d.id(), ": ", d.ended(), " of ", d.migration_ids_size(), " ended");
  if (d.state() == "RUNNING") return absl::StrCat(out, ", about ", FormatDuration(d.remaining_seconds()), " left");
  return absl::StrCat(out, " (", d.state(), ")");
}

std::string PoolUseTable(const v1::Drain& d) {
  auto use = [](uint64_t used, uint64_t size) {
    const double percent = size ? 100.0 * static_cast<double>(used) / static_cast<double>(size) : 0.0;
    return absl::StrFormat("%s (%.1f%%)", FormatBytes(used), percent);
  };
  std::vector<std::vector<std::string>> rows;
  for (const v1::PoolUse& p : d.pools())
    rows.push_back({p.worker(), FormatBytes(p.size_bytes()), use(p.used_bytes(), p.size_bytes()),
                    use(p.planned_used_bytes(), p.size_bytes())});
  std::string out = RenderTable({"POOL", "SIZE", "USED", "PLANNED"}, rows);
  for (const std::string& k : d.kept()) absl::StrAppend(&out, "kept on ", d.worker(), ": ", k, "\n");
  return out;
}

std::string ToJson(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(msg, &out, o).ok()) return "{}";
  return out;
}

std::string ErrorLine(const grpc::Status& s) { return absl::StrCat(GrpcCodeName(s.error_code()), ": ", s.error_message()); }

std::string ErrorJson(const grpc::Status& s) {
  nlohmann::json j = {{"error", {{"code", GrpcCodeName(s.error_code())}, {"message", s.error_message()}}}};
  return j.dump();
}

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return kOk;
    case grpc::NOT_FOUND: return kNotFound;
    case grpc::INVALID_ARGUMENT:
    case grpc::FAILED_PRECONDITION:
    case grpc::ALREADY_EXISTS:
    case grpc::OUT_OF_RANGE:
    case grpc::RESOURCE_EXHAUSTED:
    case grpc::ABORTED: return kRefused;
    case grpc::UNAVAILABLE:
    case grpc::DEADLINE_EXCEEDED: return kUnreachable;
    case grpc::UNAUTHENTICATED:
    case grpc::PERMISSION_DENIED: return kAuth;
    case grpc::UNIMPLEMENTED: return kUnimplemented;
    default: return kServerError;
  }
}

const char kExitCodeHelp[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  server error (INTERNAL, DATA_LOSS, ...), or health: the worker is not serving\n"
    "  2  bad command line\n"
    "  3  not found (volume, migration, worker)\n"
    "  4  refused: invalid input or wrong state (nothing was changed)\n"
    "  5  workerd unreachable or timed out\n"
    "  6  TLS identity refused (UNAUTHENTICATED, PERMISSION_DENIED)\n"
    "  7  not implemented by this workerd\n"
    "  8  the watched migration (or seal, ship, restore) ended FAILED or ABORTED\n"
    "Environment: VOLMIGRATE_SERVER, VOLMIGRATE_CA, VOLMIGRATE_CERT, VOLMIGRATE_KEY set the defaults of\n"
    "--server, --ca, --cert and --key.";

}  // namespace volmigrate::cli

namespace volmigrate::cli {

absl::StatusOr<uint64_t> ParseSize(const std::string& s) {
  size_t pos = 0;
  while (pos < s.size() && (isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.')) ++pos;
  std::string num = s.substr(0, pos), unit = s.substr(pos);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();
  double mult = 1;
  if (unit.empty()) {
  } else if (unit == "K" || unit == "k") {
    mult = 1024.0;
  } else if (unit == "M" || unit == "m") {
    mult = 1024.0 * 1024;
  } else if (unit == "G" || unit == "g") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "T" || unit == "t") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("size '", s, "': unknown unit (use K, M, G, T or bytes)"));
  }
  char* end = nullptr;
  double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (num.empty() || end != num.c_str() + num.size() || v <= 0 || v * mult > 1.8e19)
    return absl::InvalidArgumentError(absl::StrCat("size '", s, "' is not a positive size like 256M or 10G"));
  return static_cast<uint64_t>(v * mult);
}

}  // namespace volmigrate::cli
