// migratectl: the operator's command line for volmigrate.
#include <grpcpp/client_context.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "migratectl/format.h"
#include "rpc/channel.h"
#include "rpc/tls.h"
#include "volmigrate/v1/volmigrate.grpc.pb.h"

using namespace volmigrate;
using namespace volmigrate::cli;

namespace {

std::string Env(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

struct Options {
  std::string server = Env("VOLMIGRATE_SERVER", "localhost:7443");
  std::string server_name;
  rpc::TlsFiles tls{Env("VOLMIGRATE_CA", "/etc/volmigrate/tls/ca.crt"),
                    Env("VOLMIGRATE_CERT", "/etc/volmigrate/tls/client.crt"),
                    Env("VOLMIGRATE_KEY", "/etc/volmigrate/tls/client.key")};
  bool plaintext = false;
  bool json = false;
  double timeout = 120;  // volume creation and drains do kernel work and ask peers before answering
};

class Cli {
 public:
  explicit Cli(const Options& o) : o_(o) {}

  // Connects lazily, so --help and usage errors never touch the network.
  int Connect() {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (o_.plaintext) {
      creds = grpc::InsecureChannelCredentials();
    } else {
      auto c = rpc::ClientCredentials(o_.tls);
      if (!c.ok()) {
        std::fprintf(stderr, "migratectl: %s (set --ca/--cert/--key or VOLMIGRATE_CA/_CERT/_KEY)\n",
                     std::string(c.status().message()).c_str());
        return kUsage;
      }
      creds = *c;
    }
    stub_ = v1::Operator::NewStub(rpc::Dial(o_.server, creds, o_.server_name));
    return kOk;
  }

  // Runs one unary call and prints its answer (table or JSON) or its error.
  template <typename Req, typename Resp>
  int Unary(grpc::Status (v1::Operator::Stub::*call)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
            const std::function<std::string(const Resp&)>& human, Resp* out = nullptr) {
    if (int rc = Connect(); rc != kOk) return rc;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    Resp resp;
    grpc::Status s = ((*stub_).*call)(&ctx, req, &resp);
    if (!s.ok()) return Error(s);
    if (o_.json) {
      std::cout << ToJson(resp) << "\n";
    } else if (human) {
      std::cout << human(resp);
    }
    if (out) *out = resp;
    return kOk;
  }

  // Follows one migration until it ends: a live progress line on a terminal,
  // a line per change otherwise, a JSON object per change with --json.
  int Watch(const std::string& id) {
    if (!stub_ && Connect() != kOk) return kUsage;
    grpc::ClientContext ctx;
    v1::WatchMigrationRequest req;
    req.set_id(id);
    v1::Migration m;
    return Follow(stub_->WatchMigration(&ctx, req), &m, "migration",
                  [](const v1::Migration& mm) { return ProgressLine(mm, 30); });
  }

  // The same for a seal, ship or restore; a summary line when it is done.
  int WatchTransfer(const std::string& id) {
    if (!stub_ && Connect() != kOk) return kUsage;
    grpc::ClientContext ctx;
    v1::GetTransferRequest req;
    req.set_id(id);
    v1::Transfer t;
    int rc = Follow(stub_->WatchTransfer(&ctx, req), &t, "transfer",
                    [](const v1::Transfer& tt) { return TransferLine(tt, 30); });
    if (rc == kOk && !o_.json) std::cout << TransferSummary(t);
    return rc;
  }

  template <typename Msg, typename Line>
  int Follow(std::unique_ptr<grpc::ClientReader<Msg>> reader, Msg* m, const char* what, Line line) {
    bool tty = isatty(STDOUT_FILENO) && !o_.json;
    bool any = false;
    while (reader->Read(m)) {
      any = true;
      if (o_.json) {
        std::cout << ToJson(*m) << std::endl;
      } else if (tty) {
        std::cout << "\r" << m->id() << " " << line(*m) << "\033[K" << std::flush;
      } else {
        std::cout << m->id() << " " << line(*m) << std::endl;
      }
    }
    if (tty && any) std::cout << "\n";
    grpc::Status s = reader->Finish();
    if (!s.ok()) return Error(s);
    if (m->state() != "DONE") {
      if (!o_.json) std::fprintf(stderr, "migratectl: %s %s ended %s%s%s\n", what, m->id().c_str(), m->state().c_str(),
                                 m->error().empty() ? "" : ": ", m->error().c_str());
      return kMigrationFailed;
    }
    return kOk;
  }

  // Follows several migrations by polling: one progress line each, then a total.
  int WatchMany(const std::vector<std::string>& ids) {
    if (ids.empty()) return kOk;
    bool tty = isatty(STDOUT_FILENO) && !o_.json;
    std::map<std::string, v1::Migration> last;
    int drawn = 0;
    for (;;) {
      bool all_done = true;
      uint64_t done = 0, total = 0;
      std::vector<std::string> lines;
      for (const std::string& id : ids) {
        grpc::ClientContext ctx;
        SetDeadline(ctx);
        v1::GetMigrationRequest req;
        req.set_id(id);
        v1::Migration m;
        if (grpc::Status s = stub_->GetMigration(&ctx, req, &m); !s.ok()) return Error(s);
        m.clear_history();
        all_done &= m.terminal();
        done += m.progress().hydrated_bytes();
        total += m.progress().total_bytes();
        bool changed = last[id].SerializeAsString() != m.SerializeAsString();
        if (o_.json && changed) std::cout << ToJson(m) << std::endl;
        if (!tty && !o_.json && changed) std::cout << id << " " << ProgressLine(m, 30) << std::endl;
        lines.push_back(absl::StrCat(id, " ", ProgressLine(m, 30)));
        last[id] = m;
      }
      if (tty) {
        if (drawn) std::cout << "\033[" << drawn << "A";
        for (const auto& l : lines) std::cout << "\r" << l << "\033[K\n";
        std::cout << "\rtotal " << FormatBytes(done) << " of " << FormatBytes(total) << "\033[K\n" << std::flush;
        drawn = static_cast<int>(lines.size()) + 1;
      }
      if (all_done) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // a poll interval, not a wait for a condition
    }
    for (const auto& [id, m] : last)
      if (m.state() != "DONE") return kMigrationFailed;
    return kOk;
  }

  int Error(const grpc::Status& s) {
    if (o_.json) {
      std::cout << ErrorJson(s) << "\n";
    }
    std::string hint;
    if (s.error_code() == grpc::UNAVAILABLE || s.error_code() == grpc::DEADLINE_EXCEEDED)
      hint = absl::StrCat(" (workerd at ", o_.server, ")");
    std::fprintf(stderr, "migratectl: %s%s\n", ErrorLine(s).c_str(), hint.c_str());
    return ExitCodeFor(s.error_code());
  }

 private:
  void SetDeadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o_.timeout * 1000)));
  }

  const Options& o_;
  std::unique_ptr<v1::Operator::Stub> stub_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"migratectl: move encrypted local volumes between workers (volmigrate operator CLI)"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
  app.footer(kExitCodeHelp);
  app.set_version_flag("--version", "migratectl 0.1.0");
  Options o;
  app.add_option("-s,--server", o.server, "workerd address host:port")->capture_default_str();
  app.add_option("--server-name", o.server_name, "name to verify in the server certificate (default: the host)");
  app.add_option("--ca", o.tls.ca, "CA certificate (PEM)")->capture_default_str();
  app.add_option("--cert", o.tls.cert, "client certificate (PEM)")->capture_default_str();
  app.add_option("--key", o.tls.key, "client private key (PEM)")->capture_default_str();
  app.add_flag("--plaintext", o.plaintext, "no TLS (only for a workerd configured with plaintext = true)");
  app.add_flag("--json", o.json, "print JSON (one object per line for streams) instead of tables");
  app.add_option("--timeout", o.timeout, "seconds to wait for each call")->capture_default_str()->check(CLI::PositiveNumber);

  Cli cli(o);
  int rc = kOk;
  std::string id, worker, size;
  bool detach = false, all = false;
  std::vector<std::string> dests;
  uint32_t concurrency = 0;

  app.add_subcommand("health", "Show the worker's identity, uptime, peers and whether it is serving (exit 1 if not)")->callback([&] {
    v1::HealthResponse h;
    rc = cli.Unary(&v1::Operator::Stub::Health, v1::HealthRequest{},
                   std::function<std::string(const v1::HealthResponse&)>(HealthText), &h);
    if (rc == kOk && h.status() == v1::NOT_SERVING) rc = kServerError;
  });
  app.add_subcommand("volumes", "List the worker's volumes")->callback([&] {
    rc = cli.Unary(&v1::Operator::Stub::ListVolumes, v1::ListVolumesRequest{},
                   std::function<std::string(const v1::ListVolumesResponse&)>(VolumesTable));
  });

  auto* vol = app.add_subcommand("volume", "Create, show or delete one volume");
  vol->require_subcommand(1);
  auto* vshow = vol->add_subcommand("show", "Show one volume");
  vshow->add_option("id", id, "volume id")->required();
  vshow->callback([&] {
    v1::GetVolumeRequest r;
    r.set_id(id);
    rc = cli.Unary(&v1::Operator::Stub::GetVolume, r, std::function<std::string(const v1::Volume&)>([](const v1::Volume& v) {
                     v1::ListVolumesResponse l;
                     *l.add_volumes() = v;
                     return VolumesTable(l);
                   }));
  });
  auto* vcreate = vol->add_subcommand("create", "Create an encrypted thin volume");
  vcreate->add_option("id", id, "volume id: 1-63 characters [a-z0-9-]")->required();
  vcreate->add_option("--size", size, "size, e.g. 256M, 10G")->required();
  vcreate->callback([&] {
    auto bytes = ParseSize(size);
    if (!bytes.ok()) {
      std::fprintf(stderr, "migratectl: %s\n", std::string(bytes.status().message()).c_str());
      rc = kUsage;
      return;
    }
    v1::CreateVolumeRequest r;
    r.set_id(id);
    r.set_size_bytes(*bytes);
    rc = cli.Unary(&v1::Operator::Stub::CreateVolume, r, std::function<std::string(const v1::Volume&)>([](const v1::Volume& v) {
                     return absl::StrCat("created volume ", v.id(), " (", FormatBytes(v.size_bytes()), ")\n");
                   }));
  });
  auto* vdelete = vol->add_subcommand("delete", "Delete a volume that is not in use or migrating");
  vdelete->add_option("id", id, "volume id")->required();
  vdelete->callback([&] {
    v1::DeleteVolumeRequest r;
    r.set_id(id);
    rc = cli.Unary(&v1::Operator::Stub::DeleteVolume, r,
                   std::function<std::string(const v1::DeleteVolumeResponse&)>(
                       [&](const v1::DeleteVolumeResponse&) { return absl::StrCat("deleted volume ", id, "\n"); }));
  });

  auto* migrate = app.add_subcommand("migrate", "Move one volume to another worker, then follow its progress");
  migrate->add_option("volume", id, "volume id")->required();
  migrate->add_option("--to", worker, "destination worker (a configured peer)")->required();
  migrate->add_flag("--detach", detach, "start it and return without watching");
  migrate->callback([&] {
    v1::StartMigrationRequest r;
    r.set_volume_id(id);
    r.set_destination_worker(worker);
    v1::Migration m;
    rc = cli.Unary(&v1::Operator::Stub::StartMigration, r,
                   std::function<std::string(const v1::Migration&)>([&](const v1::Migration& mm) {
                     return detach ? absl::StrCat("started migration ", mm.id(), "\n") : std::string();
                   }),
                   &m);
    if (rc == kOk && !detach) rc = cli.Watch(m.id());
  });

  auto* drain = app.add_subcommand("drain", "Move every volume off the worker at --server");
  drain->add_option("worker", worker, "the worker to drain (must be the one at --server; default: that one)");
  drain->add_option("--to", dests, "destination worker(s); default: peers with the most free thin-pool space");
  drain->add_option("--concurrency", concurrency, "migrations at once (default: the worker's)");
  drain->add_flag("--detach", detach, "start it and return without watching");
  drain->callback([&] {
    v1::DrainWorkerRequest r;
    r.set_worker(worker);
    for (const auto& d : dests) r.add_destinations(d);
    r.set_max_concurrent(concurrency);
    v1::Drain d;
    rc = cli.Unary(&v1::Operator::Stub::DrainWorker, r,
                   std::function<std::string(const v1::Drain&)>([](const v1::Drain& dd) {
                     if (dd.migration_ids_size() == 0) return absl::StrCat("worker ", dd.worker(), " holds no volumes: nothing to drain\n");
                     return absl::StrCat("draining ", dd.worker(), ": ", dd.migration_ids_size(), " migration(s)\n");
                   }),
                   &d);
    if (rc == kOk && !detach) rc = cli.WatchMany({d.migration_ids().begin(), d.migration_ids().end()});
  });

  auto* migrations = app.add_subcommand("migrations", "List migrations on the worker");
  migrations->add_flag("-a,--all", all, "include finished migrations");
  migrations->callback([&] {
    v1::ListMigrationsRequest r;
    r.set_include_finished(all);
    rc = cli.Unary(&v1::Operator::Stub::ListMigrations, r,
                   std::function<std::string(const v1::ListMigrationsResponse&)>(MigrationsTable));
  });
  auto* status = app.add_subcommand("status", "Show one migration with its history");
  status->add_option("migration", id, "migration id")->required();
  status->callback([&] {
    v1::GetMigrationRequest r;
    r.set_id(id);
    rc = cli.Unary(&v1::Operator::Stub::GetMigration, r, std::function<std::string(const v1::Migration&)>(MigrationDetails));
  });
  auto* watch = app.add_subcommand("watch", "Follow a migration until it ends (exit 0 only if it ends DONE)");
  watch->add_option("migration", id, "migration id")->required();
  watch->callback([&] { rc = cli.Watch(id); });
  auto* abort = app.add_subcommand("abort", "Abort a migration; refused once the destination has booted the workload");
  abort->add_option("migration", id, "migration id")->required();
  abort->callback([&] {
    v1::AbortMigrationRequest r;
    r.set_id(id);
    rc = cli.Unary(&v1::Operator::Stub::AbortMigration, r,
                   std::function<std::string(const v1::Migration&)>([](const v1::Migration& m) {
                     return absl::StrCat("abort of ", m.id(), " requested (state ", m.state(), ")\n");
                   }));
  });

  // Sealed volumes and their log in object storage.
  std::string as;
  uint64_t as_of = 0;
  std::string key_from;
  auto start_transfer = [&](auto call, const auto& req) {
    v1::Transfer t;
    rc = cli.Unary(call, req, std::function<std::string(const v1::Transfer&)>([&](const v1::Transfer& tt) {
                     return detach ? absl::StrCat("started ", tt.kind(), " ", tt.id(), "\n") : std::string();
                   }),
                   &t);
    if (rc == kOk && !detach) rc = cli.WatchTransfer(t.id());
  };
  auto* seal = app.add_subcommand("seal", "Detach a volume (consumer stopped, closed) and freeze it in a thin snapshot");
  seal->add_option("volume", id, "volume id")->required();
  seal->add_flag("--detach", detach, "start it and return without watching");
  seal->callback([&] {
    v1::SealVolumeRequest r;
    r.set_volume_id(id);
    start_transfer(&v1::Operator::Stub::SealVolume, r);
  });
  auto* ship = app.add_subcommand(
      "ship", "Seal a volume and ship it to object storage (changes since the last point only); it stays sealed");
  ship->add_option("volume", id, "volume id")->required();
  ship->add_flag("--detach", detach, "start it and return without watching");
  ship->callback([&] {
    v1::ShipVolumeRequest r;
    r.set_volume_id(id);
    start_transfer(&v1::Operator::Stub::ShipVolume, r);
  });
  auto* unseal = app.add_subcommand("unseal", "Open a sealed or restored volume and start its consumer");
  unseal->add_option("volume", id, "volume id")->required();
  unseal->callback([&] {
    v1::UnsealVolumeRequest r;
    r.set_volume_id(id);
    rc = cli.Unary(&v1::Operator::Stub::UnsealVolume, r, std::function<std::string(const v1::Volume&)>([](const v1::Volume& v) {
                     return absl::StrCat("unsealed ", v.id(), ": open, consumer started\n");
                   }));
  });
  auto* restore = app.add_subcommand("restore", "Build a new volume on this worker from a volume's log");
  restore->add_option("volume", id, "whose log to restore from")->required();
  restore->add_option("--as", as, "the new volume's id (must not exist)")->required();
  restore->add_option("--object", as_of, "restore as of this checkpoint object (see `snapshots`); default: the latest");
  restore->add_option("--key-from", key_from, "the peer worker holding the volume's key (default: this worker)");
  restore->add_flag("--detach", detach, "start it and return without watching");
  restore->callback([&] {
    v1::RestoreVolumeRequest r;
    r.set_volume_id(id);
    r.set_new_volume_id(as);
    r.set_as_of_object(as_of);
    r.set_key_from(key_from);
    start_transfer(&v1::Operator::Stub::RestoreVolume, r);
  });
  auto* snaps = app.add_subcommand("snapshots", "List the points in a volume's log (what restore can go back to)");
  snaps->add_option("volume", id, "volume id")->required();
  snaps->callback([&] {
    v1::ListSnapshotsRequest r;
    r.set_volume_id(id);
    rc = cli.Unary(&v1::Operator::Stub::ListSnapshots, r,
                   std::function<std::string(const v1::ListSnapshotsResponse&)>(SnapshotsTable));
  });
  auto* transfer = app.add_subcommand("transfer", "Follow a seal, ship or restore until it ends");
  transfer->add_option("id", id, "transfer id")->required();
  transfer->callback([&] { rc = cli.WatchTransfer(id); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return rc;
}
