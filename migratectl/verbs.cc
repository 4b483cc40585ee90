#include "migratectl/verbs.h"

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"

namespace volmigrate::cli {
namespace {

// A verb's options live as long as its callback, which holds them.
template <typename Args>
std::shared_ptr<Args> Own() {
  return std::make_shared<Args>();
}

std::string Started(bool detach, const std::string& what, const std::string& id) {
  return detach ? absl::StrCat("started ", what, " ", id, "\n") : std::string();
}

void AddHealth(CLI::App& app, Client& c, int* rc) {
  app.add_subcommand("health", "Show the worker's identity, uptime, peers and whether it is serving (exit 1 if not)")
      ->callback([&c, rc] {
        v1::HealthResponse h;
        *rc = c.Unary(&v1::Operator::Stub::Health, v1::HealthRequest{}, HealthText, &h);
        if (*rc == kOk && h.status() == v1::NOT_SERVING) *rc = kServerError;
      });
}

void AddVolumes(CLI::App& app, Client& c, int* rc) {
  app.add_subcommand("volumes", "List the worker's volumes")->callback([&c, rc] {
    *rc = c.Unary(&v1::Operator::Stub::ListVolumes, v1::ListVolumesRequest{}, VolumesTable);
  });
}

void AddVolumeShow(CLI::App& vol, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = vol.add_subcommand("show", "Show one volume");
  cmd->add_option("id", *id, "volume id")->required();
  cmd->callback([id, &c, rc] {
    v1::GetVolumeRequest r;
    r.set_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::GetVolume, r, [](const v1::Volume& v) {
      v1::ListVolumesResponse l;
      *l.add_volumes() = v;
      return VolumesTable(l);
    });
  });
}

void AddVolumeCreate(CLI::App& vol, Client& c, int* rc) {
  struct Args {
    std::string id, size;
  };
  auto a = Own<Args>();
  auto* cmd = vol.add_subcommand("create", "Create an encrypted thin volume");
  cmd->add_option("id", a->id, "volume id: 1-63 characters [a-z0-9-]")->required();
  cmd->add_option("--size", a->size, "size, e.g. 256M, 10G")->required();
  cmd->callback([a, &c, rc] {
    auto bytes = ParseSize(a->size);
    if (!bytes.ok()) {
      std::fprintf(stderr, "migratectl: %s\n", std::string(bytes.status().message()).c_str());
      *rc = kUsage;
      return;
    }
    v1::CreateVolumeRequest r;
    r.set_id(a->id);
    r.set_size_bytes(*bytes);
    *rc = c.Unary(&v1::Operator::Stub::CreateVolume, r, [](const v1::Volume& v) {
      return absl::StrCat("created volume ", v.id(), " (", FormatBytes(v.size_bytes()), ")\n");
    });
  });
}

void AddVolumeDelete(CLI::App& vol, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = vol.add_subcommand("delete", "Delete a volume that is not in use or migrating");
  cmd->add_option("id", *id, "volume id")->required();
  cmd->callback([id, &c, rc] {
    v1::DeleteVolumeRequest r;
    r.set_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::DeleteVolume, r,
                  [&](const v1::DeleteVolumeResponse&) { return absl::StrCat("deleted volume ", *id, "\n"); });
  });
}

void AddVolumeAttach(CLI::App& vol, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = vol.add_subcommand("attach", "Open a volume and start its consumer (again: nothing changes)");
  cmd->add_option("id", *id, "volume id")->required();
  cmd->callback([id, &c, rc] {
    v1::AttachVolumeRequest r;
    r.set_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::AttachVolume, r, [](const v1::Volume& v) {
      return absl::StrCat("attached volume ", v.id(), ": open, consumer started\n");
    });
  });
}

void AddVolumeDetach(CLI::App& vol, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = vol.add_subcommand("detach", "Stop a volume's consumer and close it (again: nothing changes)");
  cmd->add_option("id", *id, "volume id")->required();
  cmd->callback([id, &c, rc] {
    v1::DetachVolumeRequest r;
    r.set_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::DetachVolume, r, [](const v1::Volume& v) {
      return absl::StrCat("detached volume ", v.id(), ": consumer stopped, closed\n");
    });
  });
}

void AddMigrate(CLI::App& app, Client& c, int* rc) {
  struct Args {
    std::string volume, to;
    bool detach = false;
  };
  auto a = Own<Args>();
  auto* cmd = app.add_subcommand("migrate", "Move one volume to another worker, then follow its progress");
  cmd->add_option("volume", a->volume, "volume id")->required();
  cmd->add_option("--to", a->to, "destination worker (a configured peer)")->required();
  cmd->add_flag("--detach", a->detach, "start it and return without watching");
  cmd->callback([a, &c, rc] {
    v1::StartMigrationRequest r;
    r.set_volume_id(a->volume);
    r.set_destination_worker(a->to);
    v1::Migration m;
    *rc = c.Unary(
        &v1::Operator::Stub::StartMigration, r,
        [&](const v1::Migration& mm) { return Started(a->detach, "migration", mm.id()); }, &m);
    if (*rc == kOk && !a->detach) *rc = c.Watch(m.id());
  });
}

void AddDrain(CLI::App& app, Client& c, int* rc) {
  struct Args {
    std::string worker;
    std::vector<std::string> to;
    uint32_t concurrency = 0;
    bool detach = false;
    bool plan = false;
    bool abort = false;
  };
  auto a = Own<Args>();
  auto* cmd = app.add_subcommand("drain", "Move every volume off the worker at --server");
  cmd->add_option("worker", a->worker, "the worker to drain (must be the one at --server; default: that one)");
  cmd->add_option("--to", a->to, "destination worker(s); default: peers with the most free thin-pool space");
  cmd->add_option("--concurrency", a->concurrency, "migrations at once (default: the worker's)");
  cmd->add_flag("--detach", a->detach, "start it and return without watching");
  cmd->add_flag("--plan", a->plan,
                "print where each volume would go, its bytes and ETA (from each link's recent migrations), and change "
                "nothing");
  cmd->add_flag("--abort", a->abort,
                "abort the running drain: its migrations before their destination's boot roll back, the rest "
                "finish; `drain` again resumes with the volumes still here")
      ->excludes("--plan");
  cmd->callback([a, &c, rc] {
    if (a->abort) {
      *rc = c.Unary(&v1::Operator::Stub::AbortDrain, v1::AbortDrainRequest{}, [](const v1::Drain& dd) {
        const int back = dd.rolling_back_ids_size();
        return absl::StrCat("drain ", dd.id(), " aborted: ", back, " migration(s) roll back (before their "
                            "destination's boot), ", dd.migration_ids_size() - static_cast<int>(dd.ended()) - back,
                            " finish; run `migratectl drain` again to resume with the volumes still here\n");
      });
      return;
    }
    v1::DrainWorkerRequest r;
    r.set_worker(a->worker);
    for (const auto& d : a->to) r.add_destinations(d);
    r.set_max_concurrent(a->concurrency);
    r.set_plan(a->plan);
    v1::Drain d;
    *rc = c.Unary(
        &v1::Operator::Stub::DrainWorker, r,
        [](const v1::Drain& dd) {
          if (dd.state() == "PLANNED" || (dd.id().empty() && dd.migration_ids_size() == 0)) return DrainPlanTable(dd);
          if (dd.migration_ids_size() == 0)
            return absl::StrCat("worker ", dd.worker(), " holds no volumes: nothing to drain\n");
          std::string out = dd.plan_size() ? DrainPlanTable(dd) : "";
          return absl::StrCat(out, "draining ", dd.worker(), ": ", dd.migration_ids_size(), " migration(s)\n");
        },
        &d);
    if (*rc == kOk && !a->detach && !a->plan)
      *rc = c.WatchMany({d.migration_ids().begin(), d.migration_ids().end()}, d.id());
  });
}

void AddRebalance(CLI::App& app, Client& c, int* rc) {
  struct Args {
    std::vector<std::string> to;
    uint32_t concurrency = 0;
    double tolerance = 0, ceiling = 0;
    bool detach = false;
    bool plan = false, apply = false;
  };
  auto a = Own<Args>();
  auto* cmd = app.add_subcommand(
      "rebalance", "Move some volumes off the worker at --server until its thin pool's use is near the fleet's mean");
  cmd->add_option("--to", a->to, "destination worker(s), also the fleet the mean is taken over; default: all peers");
  cmd->add_option("--concurrency", a->concurrency, "migrations at once (default 2)");
  cmd->add_option("--tolerance", a->tolerance,
                  "percent above the fleet's mean pool use (allocated / size) this worker may stay (default 10)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--ceiling", a->ceiling,
                  "instead: move until this worker's pool use is under this percent, putting no destination over it")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_flag("--detach", a->detach, "with --apply: start it and return without watching");
  // One of the two, said out loud: a rebalance moves volumes nobody named.
  auto* mode = cmd->add_option_group("mode", "one of");
  mode->add_flag("--plan", a->plan,
                 "print the moves (volume, destination, bytes, ETA) and each pool's use now and after, and change "
                 "nothing; the same volumes, pools and history give the same plan");
  mode->add_flag("--apply", a->apply, "plan, then run the moves as migrations (watched like a drain)");
  mode->require_option(1);
  cmd->callback([a, &c, rc] {
    v1::RebalanceRequest r;
    for (const auto& d : a->to) r.add_destinations(d);
    r.set_max_concurrent(a->concurrency);
    r.set_tolerance_percent(a->tolerance);
    r.set_ceiling_percent(a->ceiling);
    r.set_plan(a->plan);
    v1::Drain d;
    *rc = c.Unary(
        &v1::Operator::Stub::Rebalance, r,
        [](const v1::Drain& dd) {
          if (dd.plan_size() == 0 && dd.migration_ids_size() == 0)
            return absl::StrCat(PoolUseTable(dd), "nothing to move: the pools are as even as moves of ", dd.worker(),
                                "'s volumes can make them\n");
          std::string out = absl::StrCat(DrainPlanTable(dd), PoolUseTable(dd));
          if (dd.migration_ids_size() == 0) return out;
          return absl::StrCat(out, "rebalancing ", dd.worker(), " (", dd.id(), "): ", dd.migration_ids_size(),
                              " migration(s)\n");
        },
        &d);
    if (*rc == kOk && !a->detach && !a->plan)
      *rc = c.WatchMany({d.migration_ids().begin(), d.migration_ids().end()}, d.id());
  });
}

void AddMigrations(CLI::App& app, Client& c, int* rc) {
  auto all = Own<bool>();
  auto* cmd = app.add_subcommand("migrations", "List migrations on the worker");
  cmd->add_flag("-a,--all", *all, "include finished migrations");
  cmd->callback([all, &c, rc] {
    v1::ListMigrationsRequest r;
    r.set_include_finished(*all);
    *rc = c.Unary(&v1::Operator::Stub::ListMigrations, r, MigrationsTable);
  });
}

void AddStatus(CLI::App& app, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = app.add_subcommand("status", "Show one migration with its history");
  cmd->add_option("migration", *id, "migration id")->required();
  cmd->callback([id, &c, rc] {
    v1::GetMigrationRequest r;
    r.set_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::GetMigration, r, MigrationDetails);
  });
}

void AddWatch(CLI::App& app, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = app.add_subcommand("watch", "Follow a migration until it ends (exit 0 only if it ends DONE)");
  cmd->add_option("migration", *id, "migration id")->required();
  cmd->callback([id, &c, rc] { *rc = c.Watch(*id); });
}

void AddAbort(CLI::App& app, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = app.add_subcommand("abort", "Abort a migration; refused once the destination has booted the workload");
  cmd->add_option("migration", *id, "migration id")->required();
  cmd->callback([id, &c, rc] {
    v1::AbortMigrationRequest r;
    r.set_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::AbortMigration, r, [](const v1::Migration& m) {
      return absl::StrCat("abort of ", m.id(), " requested (state ", m.state(), ")\n");
    });
  });
}

// `retired` lists; `retired purge NAME` deletes one before its expiry.
void AddRetired(CLI::App& app, Client& c, int* rc) {
  auto* cmd = app.add_subcommand("retired", "List source copies kept after migrating away, with when each expires");
  auto name = Own<std::string>();
  auto* purge = cmd->add_subcommand("purge", "Delete one retired copy now (its data and key)");
  purge->add_option("name", *name, "the copy's name, as `retired` lists it")->required();
  purge->callback([name, &c, rc] {
    v1::PurgeRetiredRequest r;
    r.set_name(*name);
    *rc = c.Unary(&v1::Operator::Stub::PurgeRetired, r,
                  [&](const v1::PurgeRetiredResponse&) { return absl::StrCat("purged ", *name, "\n"); });
  });
  cmd->callback([cmd, purge, &c, rc] {
    if (cmd->got_subcommand(purge)) return;
    *rc = c.Unary(&v1::Operator::Stub::ListRetired, v1::ListRetiredRequest{}, RetiredTable);
  });
}

// Starts a seal, ship or restore, then follows it unless detached.
template <typename Req>
int StartTransfer(Client& c, grpc::Status (v1::Operator::Stub::*call)(grpc::ClientContext*, const Req&, v1::Transfer*),
                  const Req& req, bool detach) {
  v1::Transfer t;
  int rc = c.Unary(
      call, req, [&](const v1::Transfer& tt) { return Started(detach, tt.kind(), tt.id()); }, &t);
  return rc == kOk && !detach ? c.WatchTransfer(t.id()) : rc;
}

struct VolumeArgs {
  std::string volume;
  bool detach = false;
};

void AddSeal(CLI::App& app, Client& c, int* rc) {
  auto a = Own<VolumeArgs>();
  auto* cmd = app.add_subcommand("seal", "Detach a volume (consumer stopped, closed) and freeze it in a thin snapshot");
  cmd->add_option("volume", a->volume, "volume id")->required();
  cmd->add_flag("--detach", a->detach, "start it and return without watching");
  cmd->callback([a, &c, rc] {
    v1::SealVolumeRequest r;
    r.set_volume_id(a->volume);
    *rc = StartTransfer(c, &v1::Operator::Stub::SealVolume, r, a->detach);
  });
}

void AddShip(CLI::App& app, Client& c, int* rc) {
  auto a = Own<VolumeArgs>();
  auto* cmd = app.add_subcommand(
      "ship", "Seal a volume and ship it to object storage (changes since the last point only); it stays sealed");
  cmd->add_option("volume", a->volume, "volume id")->required();
  cmd->add_flag("--detach", a->detach, "start it and return without watching");
  cmd->callback([a, &c, rc] {
    v1::ShipVolumeRequest r;
    r.set_volume_id(a->volume);
    *rc = StartTransfer(c, &v1::Operator::Stub::ShipVolume, r, a->detach);
  });
}

void AddUnseal(CLI::App& app, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = app.add_subcommand("unseal", "Open a sealed or restored volume and start its consumer");
  cmd->add_option("volume", *id, "volume id")->required();
  cmd->callback([id, &c, rc] {
    v1::UnsealVolumeRequest r;
    r.set_volume_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::UnsealVolume, r, [](const v1::Volume& v) {
      return absl::StrCat("unsealed ", v.id(), ": open, consumer started\n");
    });
  });
}

void AddRestore(CLI::App& app, Client& c, int* rc) {
  struct Args {
    std::string volume, as, key_from;
    uint64_t as_of = 0;
    bool detach = false;
  };
  auto a = Own<Args>();
  auto* cmd = app.add_subcommand("restore", "Build a new volume on this worker from a volume's log");
  cmd->add_option("volume", a->volume, "whose log to restore from")->required();
  cmd->add_option("--as", a->as, "the new volume's id (must not exist)")->required();
  cmd->add_option("--object", a->as_of, "restore as of this checkpoint object (see `snapshots`); default: the latest");
  cmd->add_option("--key-from", a->key_from, "the peer worker holding the volume's key (default: this worker)");
  cmd->add_flag("--detach", a->detach, "start it and return without watching");
  cmd->callback([a, &c, rc] {
    v1::RestoreVolumeRequest r;
    r.set_volume_id(a->volume);
    r.set_new_volume_id(a->as);
    r.set_as_of_object(a->as_of);
    r.set_key_from(a->key_from);
    *rc = StartTransfer(c, &v1::Operator::Stub::RestoreVolume, r, a->detach);
  });
}

void AddSnapshots(CLI::App& app, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = app.add_subcommand("snapshots", "List the points in a volume's log (what restore can go back to)");
  cmd->add_option("volume", *id, "volume id")->required();
  cmd->callback([id, &c, rc] {
    v1::ListSnapshotsRequest r;
    r.set_volume_id(*id);
    *rc = c.Unary(&v1::Operator::Stub::ListSnapshots, r, SnapshotsTable);
  });
}

void AddTransfer(CLI::App& app, Client& c, int* rc) {
  auto id = Own<std::string>();
  auto* cmd = app.add_subcommand("transfer", "Follow a seal, ship or restore until it ends");
  cmd->add_option("id", *id, "transfer id")->required();
  cmd->callback([id, &c, rc] { *rc = c.WatchTransfer(*id); });
}

}  // namespace

void AddVerbs(CLI::App& app, Client& c, int* rc) {
  AddHealth(app, c, rc);
  AddVolumes(app, c, rc);
  auto* vol = app.add_subcommand("volume", "Create, show, attach, detach or delete one volume");
  vol->require_subcommand(1);
  AddVolumeShow(*vol, c, rc);
  AddVolumeCreate(*vol, c, rc);
  AddVolumeAttach(*vol, c, rc);
  AddVolumeDetach(*vol, c, rc);
  AddVolumeDelete(*vol, c, rc);
  AddMigrate(app, c, rc);
  AddDrain(app, c, rc);
  AddRebalance(app, c, rc);
  AddMigrations(app, c, rc);
  AddStatus(app, c, rc);
  AddWatch(app, c, rc);
  AddAbort(app, c, rc);
  AddRetired(app, c, rc);
  // Sealed volumes and their log in object storage.
  AddSeal(app, c, rc);
  AddShip(app, c, rc);
  AddUnseal(app, c, rc);
  AddRestore(app, c, rc);
  AddSnapshots(app, c, rc);
  AddTransfer(app, c, rc);
}

}  // namespace volmigrate::cli
