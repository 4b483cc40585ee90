// plumb: drives the volume plumbing modules (volumes, luks, dmutil, iscsi) with
// their real implementations, one operation per call, for the VM tests.
// Prints results as JSON where there is something to print; errors as one line
// with the status code, exit 1.
#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "dmutil/clone.h"
#include "dmutil/dm.h"
#include "iscsi/initiator.h"
#include "iscsi/target.h"
#include "luks/luks.h"
#include "nlohmann/json.hpp"
#include "volumes/lvm.h"

using namespace volmigrate;
using json = nlohmann::json;

namespace {

int Done(const absl::Status& s) {
  if (s.ok()) return 0;
  std::fprintf(stderr, "plumb: %s\n", s.ToString().c_str());
  return 1;
}

std::string Key(const std::string& file) {
  auto k = ReadFile(file);
  if (!k.ok()) {
    std::fprintf(stderr, "plumb: %s\n", k.status().ToString().c_str());
    std::exit(1);
  }
  return *k;
}

}  // namespace

int main(int argc, char** argv) {
  (void)InitLogging(std::getenv("PLUMB_LOG") ? std::getenv("PLUMB_LOG") : "warn");
  CLI::App app{"plumb: one volume-plumbing operation per call (VM tests)"};
  app.require_subcommand(1);
  SystemExecutor ex;
  std::string vg = "vg0", pool = "pool", name, dev, key, iqn, user, secret, initiator, portal, meta, dst, src;
  uint64_t size = 0, offset = 0, region = 128;
  uint32_t threshold = 0, batch = 0;
  bool ro = false, discards = false, hydration = false;
  double timeout = 30;
  int rc = 0;
  auto lvm = [&] { return volumes::Lvm(&ex, {.volume_group = vg, .thin_pool = pool}); };

  auto* c = app.add_subcommand("lv-create", "thin volume");
  c->add_option("name", name)->required();
  c->add_option("size", size)->required();
  c->callback([&] { rc = Done(lvm().Create(name, size)); });
  c = app.add_subcommand("lv-delete", "thin volume");
  c->add_option("name", name)->required();
  c->callback([&] { rc = Done(lvm().Delete(name)); });
  c = app.add_subcommand("lv-resize", "grow a thin volume");
  c->add_option("name", name)->required();
  c->add_option("size", size)->required();
  c->callback([&] { rc = Done(lvm().Resize(name, size)); });
  c = app.add_subcommand("lv-list", "volumes and the pool's usage");
  c->callback([&] {
    auto l = lvm();
    auto vols = l.List();
    auto p = l.Pool();
    if (!vols.ok() || !p.ok()) {
      rc = Done(!vols.ok() ? vols.status() : p.status());
      return;
    }
    json j = {{"pool", {{"size_bytes", p->size_bytes}, {"data_percent", p->data_percent}, {"metadata_percent", p->metadata_percent}}},
              {"volumes", json::array()}};
    for (const auto& v : *vols) j["volumes"].push_back({{"name", v.name}, {"size_bytes", v.size_bytes}});
    std::cout << j.dump() << "\n";
  });

  c = app.add_subcommand("luks-format", "LUKS2 with a data offset (bytes; 0: default)");
  c->add_option("dev", dev)->required();
  c->add_option("keyfile", key)->required();
  c->add_option("--offset", offset);
  c->callback([&] {
    luks::Layout l;
    l.data_offset = offset;
    rc = Done(luks::Format(dev, l, Key(key), {"pbkdf2", 1000}));
  });
  c = app.add_subcommand("luks-header", "print the header metadata");
  c->add_option("dev", dev)->required();
  c->callback([&] {
    auto h = luks::ReadHeader(dev);
    if (!h.ok()) {
      rc = Done(h.status());
      return;
    }
    std::cout << json{{"uuid", h->layout.uuid}, {"cipher", h->layout.cipher}, {"key_size_bits", h->layout.key_size_bits},
                      {"sector_size", h->layout.sector_size}, {"data_offset", h->layout.data_offset},
                      {"device_bytes", h->device_bytes}, {"plaintext_bytes", h->plaintext_bytes}}
                     .dump()
              << "\n";
  });
  c = app.add_subcommand("luks-open", "open as /dev/mapper/NAME");
  c->add_option("dev", dev)->required();
  c->add_option("name", name)->required();
  c->add_option("keyfile", key)->required();
  c->add_flag("--readonly", ro);
  c->add_flag("--discards", discards);
  c->callback([&] { rc = Done(luks::Open(dev, name, Key(key), {.readonly = ro, .allow_discards = discards})); });
  c = app.add_subcommand("luks-close", "close /dev/mapper/NAME");
  c->add_option("name", name)->required();
  c->callback([&] { rc = Done(luks::Close(name)); });

  c = app.add_subcommand("export", "export a device over tgt");
  c->add_option("iqn", iqn)->required();
  c->add_option("dev", dev)->required();
  c->add_option("user", user)->required();
  c->add_option("secret", secret)->required();
  c->add_option("initiator", initiator)->required();
  c->callback([&] {
    rc = Done(iscsi::Tgt(&ex).Export({.iqn = iqn, .device = dev, .chap_user = user, .chap_secret = secret,
                                      .initiator_iqn = initiator}));
  });
  c = app.add_subcommand("unexport", "remove a tgt export");
  c->add_option("iqn", iqn)->required();
  c->add_option("user", user)->required();
  c->callback([&] { rc = Done(iscsi::Tgt(&ex).Remove(iqn, user)); });
  c = app.add_subcommand("exports", "list tgt targets");
  c->callback([&] {
    auto all = iscsi::Tgt(&ex).List();
    if (!all.ok()) {
      rc = Done(all.status());
      return;
    }
    json j = json::array();
    for (const auto& t : *all) {
      json luns = json::array();
      for (const auto& l : t.luns) luns.push_back({{"lun", l.lun}, {"path", l.backing_path}, {"readonly", l.readonly}});
      json nexus = json::array();
      for (const auto& n : t.nexuses) nexus.push_back(n.initiator);
      j.push_back({{"tid", t.tid}, {"iqn", t.iqn}, {"luns", luns}, {"acl", t.acl}, {"initiators", nexus}});
    }
    std::cout << j.dump() << "\n";
  });
  c = app.add_subcommand("login", "log in and print the disk");
  c->add_option("portal", portal)->required();
  c->add_option("iqn", iqn)->required();
  c->add_option("user", user)->required();
  c->add_option("secret", secret)->required();
  c->add_option("--timeout", timeout);
  c->callback([&] {
    iscsi::Initiator ini(&ex);
    if ((rc = Done(ini.Login({portal, iqn, user, secret, 120})))) return;
    auto d = ini.WaitDevice(iqn, absl::Seconds(timeout));
    if (!d.ok()) {
      rc = Done(d.status());
      return;
    }
    std::cout << *d << "\n";
  });
  c = app.add_subcommand("logout", "log out, drop the node record");
  c->add_option("portal", portal)->required();
  c->add_option("iqn", iqn)->required();
  c->callback([&] { rc = Done(iscsi::Initiator(&ex).Logout(iqn, portal)); });
  c = app.add_subcommand("sessions", "iSCSI sessions");
  c->callback([&] {
    auto s = iscsi::Initiator(&ex).Sessions();
    if (!s.ok()) {
      rc = Done(s.status());
      return;
    }
    json j = json::array();
    for (const auto& si : *s) j.push_back({{"iqn", si.iqn}, {"state", si.state}, {"disks", si.disks}});
    std::cout << j.dump() << "\n";
  });

  c = app.add_subcommand("disk", "the disk of the session to IQN and its SCSI state");
  c->add_option("iqn", iqn)->required();
  c->callback([&] {
    auto d = iscsi::Initiator(&ex).FindDisk(iqn);
    if (!d.ok()) {
      rc = Done(d.status());
      return;
    }
    std::cout << json{{"name", d->name}, {"state", d->state}}.dump() << "\n";
  });
  c = app.add_subcommand("disk-revive", "set the disk of the session to IQN running if it is offline");
  c->add_option("iqn", iqn)->required();
  c->callback([&] {
    auto r = iscsi::Initiator(&ex).Revive(iqn);
    if (!r.ok()) {
      rc = Done(r.status());
      return;
    }
    std::cout << (*r ? "revived" : "not offline") << "\n";
  });

  c = app.add_subcommand("clone-create", "dm-clone NAME over META DST SRC after checking sizes");
  c->add_option("name", name)->required();
  c->add_option("meta", meta)->required();
  c->add_option("dst", dst)->required();
  c->add_option("src", src)->required();
  c->add_option("--region", region);
  c->add_option("--threshold", threshold);
  c->add_option("--batch", batch);
  c->add_flag("--hydration", hydration);
  c->callback([&] {
    auto sb = DeviceBytes(src), db = DeviceBytes(dst);
    if (!sb.ok() || !db.ok()) {
      rc = Done(!sb.ok() ? sb.status() : db.status());
      return;
    }
    if ((rc = Done(dm::CheckCloneSizes(*sb, *db)))) return;
    auto t = dm::CloneTarget({.metadata_dev = meta, .destination_dev = dst, .source_dev = src,
                              .length_sectors = *db / 512, .region_sectors = region, .hydration = hydration,
                              .hydration_threshold = threshold, .hydration_batch_size = batch});
    if (!t.ok()) {
      rc = Done(t.status());
      return;
    }
    rc = Done(dm::NewLibDm()->Create(name, {*t}, false));
  });
  c = app.add_subcommand("clone-status", "parsed dm-clone status");
  c->add_option("name", name)->required();
  c->callback([&] {
    auto st = dm::NewLibDm()->Status(name, true);
    if (!st.ok() || st->size() != 1) {
      rc = Done(st.ok() ? absl::FailedPreconditionError("not one target") : st.status());
      return;
    }
    auto cs = dm::ParseCloneStatus((*st)[0].params);
    if (!cs.ok()) {
      rc = Done(cs.status());
      return;
    }
    std::cout << json{{"raw", (*st)[0].params}, {"hydrated", cs->hydrated}, {"total", cs->total_regions},
                      {"hydrating", cs->hydrating}, {"region_sectors", cs->region_sectors}, {"features", cs->features},
                      {"core_args", cs->core_args}, {"read_only", cs->read_only}, {"failed", cs->failed},
                      {"done", cs->Hydrated()}}
                     .dump()
              << "\n";
  });
  c = app.add_subcommand("dm-message", "send a message to a dm device");
  c->add_option("name", name)->required();
  c->add_option("message", src)->required();
  c->callback([&] { rc = Done(dm::NewLibDm()->Message(name, src).status()); });
  c = app.add_subcommand("swap-linear", "replace NAME's table with a linear map onto DST");
  c->add_option("name", name)->required();
  c->add_option("dst", dst)->required();
  c->callback([&] {
    auto db = DeviceBytes(dst);
    if (!db.ok()) {
      rc = Done(db.status());
      return;
    }
    auto dmx = dm::NewLibDm();
    rc = Done(dm::SwapToLinear(*dmx, name, dst, *db / 512));
  });
  c = app.add_subcommand("dm-remove", "remove a dm device");
  c->add_option("name", name)->required();
  c->callback([&] { rc = Done(dm::NewLibDm()->Remove(name)); });
  c = app.add_subcommand("dm-table", "print a dm device's table");
  c->add_option("name", name)->required();
  c->callback([&] {
    auto t = dm::NewLibDm()->Table(name);
    if (!t.ok()) {
      rc = Done(t.status());
      return;
    }
    for (const auto& tg : *t) std::cout << tg.start << " " << tg.length << " " << tg.type << " " << tg.params << "\n";
  });

  CLI11_PARSE(app, argc, argv);
  return rc;
}
