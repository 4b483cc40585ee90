// The destination side of a migration: clone the source's ciphertext (the
// imported LV, LUKS2 header and all) into a thin LV here, open LUKS2 on the
// clone with the source's key, boot the consumer, trim, hydrate, cut over.
#include "absl/strings/str_cat.h"
#include "admission/admission.h"
#include "common/log.h"
#include "common/status.h"
#include "migration/allocation.h"
#include "migration/internal.h"
#include "migration/machines.h"
#include "migration/progress.h"
#include "spdlog/spdlog.h"
#include "volumes/lvm.h"

namespace volmigrate::migration {
namespace {

using internal::Go;
using internal::Parse;
using internal::Stay;

constexpr absl::Duration kPoll = absl::Seconds(1);
constexpr absl::Duration kFastPoll = absl::Milliseconds(200);  // waiting for the source's fence
constexpr absl::Duration kDiskWait = absl::Seconds(60);

// What this migration writes into the thin pool here: the blocks the source's
// pool holds for the volume (its LUKS2 header among them), the clone's
// metadata; and the reserve kept free beside it.
absl::Status CheckRoom(Env* env, const MigrationState& st, uint64_t data_bytes, uint64_t free) {
  const uint64_t meta = internal::MetadataBytes(st.device_bytes(), env->opts.region_kib);
  const uint64_t reserve = env->opts.pool_reserve_mib << 20;
  const uint64_t need = data_bytes + meta;
  if (free >= need + reserve) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "worker ", env->worker, " has ", free, " bytes free in its thin pool; volume ", st.view().volume_id(),
      " needs ", need, " (", data_bytes, " the source holds, LUKS2 header included, and ", meta,
      " of clone metadata) and ", reserve, " more stay free (migration.pool_reserve_mib)"));
}

iscsi::LoginSpec LoginSpecOf(Env* env, const MigrationState& st) {
  return {.portal = st.portal(),
          .iqn = st.target_iqn(),
          .chap_user = st.chap_user(),
          .chap_secret = st.chap_secret(),
          .replacement_timeout_seconds = env->opts.replacement_timeout_seconds};
}

// The clone device <volume>-clone and the volume's LUKS2 mapping <volume> on
// it, as far as they are not there, with the iSCSI session under them; true
// when the LUKS2 mapping had to be made (first time, or after a reboot: the
// clone's metadata then resumes hydration where it stopped).
//
// Made before the source fences, with hydration off: until the consumer
// starts, the only reads are of the LUKS2 header (fixed for the volume's
// life) and udev's probes, which dm-clone passes to the source without
// copying or keeping anything, and nothing writes. The session is found in
// sysfs once made, so a check costs no process.
absl::StatusOr<bool> EnsureStack(Env* env, const std::string& id, const MigrationState& st) {
  host::Host& h = *env->host;
  const std::string& vol = st.view().volume_id();
  const std::string clone = host::CloneName(vol);
  ASSIGN_OR_RETURN(bool have_clone, h.MappingExists(clone));
  ASSIGN_OR_RETURN(bool have_top, h.MappingExists(vol));
  if (have_clone && have_top) return false;
  RETURN_IF_ERROR(h.Login(LoginSpecOf(env, st)));
  if (!have_clone) {
    ASSIGN_OR_RETURN(std::string disk, h.WaitDevice(st.target_iqn(), kDiskWait));
    // The kernel takes a larger source silently; a smaller one is refused.
    ASSIGN_OR_RETURN(uint64_t src, h.DeviceBytes(disk));
    if (src != st.device_bytes())
      return absl::FailedPreconditionError(absl::StrCat("the source's exported disk ", disk, " is ", src,
                                                        " bytes; the offer said ", st.device_bytes()));
    ASSIGN_OR_RETURN(dm::Target t, dm::CloneTarget({.metadata_dev = h.LvPath(internal::MetadataLv(id)),
                                                    .destination_dev = h.LvPath(vol),
                                                    .source_dev = disk,
                                                    .length_sectors = st.device_bytes() / 512,
                                                    .region_sectors = uint64_t{env->opts.region_kib} * 2,
                                                    .hydration = false,
                                                    .hydration_threshold = env->opts.hydration_threshold,
                                                    .hydration_batch_size = env->opts.hydration_batch}));
    RETURN_IF_ERROR(h.CreateMapping(clone, {t}));
    spdlog::info("{} clone device {} built over {}", LogTag(vol, id), host::LiveDevice(clone), disk);
  }
  if (!have_top) {
    // Discards pass through, so that trimmed regions count as copied and go
    // back to the thin pool.
    ASSIGN_OR_RETURN(std::string key, h.GetKey(vol));
    RETURN_IF_ERROR(h.OpenCrypt(host::LiveDevice(clone), vol, key, {.allow_discards = true}));
    ASSIGN_OR_RETURN(uint64_t plain, h.DeviceBytes(host::LiveDevice(vol)));
    if (plain != st.plaintext_bytes())
      return absl::FailedPreconditionError(absl::StrCat("the volume opened here shows ", plain,
                                                        " bytes of plaintext; the source's has ", st.plaintext_bytes()));
  }
  return !have_top;
}

// The kernel's in-memory view by default. With `committed`, dm-clone first
// commits its metadata (a status without NOFLUSH does), so what it reports is
// what a power loss right after would find on disk.
absl::StatusOr<dm::CloneStatus> Status(Env* env, const std::string& vol, bool committed = false) {
  const std::string clone = host::CloneName(vol);
  ASSIGN_OR_RETURN(std::vector<dm::Target> t, env->host->MappingStatus(clone, /*noflush=*/!committed));
  if (t.size() != 1 || t[0].type != "clone")
    return absl::InternalError(absl::StrCat(host::LiveDevice(clone), " is not a clone device"));
  return dm::ParseCloneStatus(t[0].params);
}

// After a reboot the consumer is gone with the device: start it again.
absl::Status EnsureBooted(Env* env, const std::string& id, const MigrationState& st) {
  ASSIGN_OR_RETURN(bool rebuilt, EnsureStack(env, id, st));
  if (rebuilt) {
    const std::string& vol = st.view().volume_id();
    ASSIGN_OR_RETURN(dm::CloneStatus now, Status(env, vol));
    const uint64_t region = now.region_sectors * 512;
    spdlog::warn("{} clone device was gone (reboot?): rebuilt with {} of {} bytes already hydrated (from its "
                 "metadata); restarting the consumer",
                 LogTag(vol, id), now.hydrated * region, now.total_regions * region);
    RETURN_IF_ERROR(env->host->RunHook(env->opts.consumer_start, vol, host::LiveDevice(vol)));
  }
  return absl::OkStatus();
}


// The source's disk and its SCSI state into the sample. The kernel brings a
// disk it set "transport-offline" back itself when the session logs in again;
// one its error handler set "offline" stays so, and every read of a region
// not yet copied fails (the consumer's with it), until it is set running.
absl::Status CheckSourceDisk(Env* env, const std::string& id, const MigrationState& st, Sample& s) {
  auto disk = env->host->SourceDisk(st.target_iqn());
  if (absl::IsNotFound(disk.status())) return absl::OkStatus();
  RETURN_IF_ERROR(disk.status());
  s.disk = disk->name;
  s.disk_state = disk->state;
  if (s.session_state != "LOGGED_IN" || s.disk_state != "offline") return absl::OkStatus();
  ASSIGN_OR_RETURN(bool revived, env->host->ReviveDisk(st.target_iqn()));
  if (revived) {
    spdlog::warn("{} the source's disk {} was offline with its session logged in: set running again",
                 LogTag(st.view().volume_id(), id), s.disk);
    s.disk_state = "running";
  }
  return absl::OkStatus();
}

// Everything up to the consumer's start, done before the source fences it:
// the volume's LV and the clone's metadata, the iSCSI session, the clone and
// the LUKS2 mapping on it (the key is the source's, stored at accept).
absl::StatusOr<fsm::Next> Accepted(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  host::Host& h = *env->host;
  const std::string& vol = st.view().volume_id();
  RETURN_IF_ERROR(h.CreateLv(vol, st.device_bytes(), volumes::kVolumeTag));
  // A larger LV would show a larger plaintext once opened on it after a reboot.
  ASSIGN_OR_RETURN(uint64_t lv, h.DeviceBytes(h.LvPath(vol)));
  if (lv != st.device_bytes())
    return absl::FailedPreconditionError(absl::StrCat("the LV made here for ", vol, " is ", lv,
                                                      " bytes and the source's ", st.device_bytes(),
                                                      " (do the volume groups' extent sizes differ?)"));
  const std::string meta = internal::MetadataLv(c.id);
  const uint64_t meta_bytes = internal::MetadataBytes(st.device_bytes(), env->opts.region_kib);
  RETURN_IF_ERROR(h.CreateLv(meta, meta_bytes, volumes::kScratchTag));
  if (!st.metadata_zeroed()) {
    // All zeros: dm-clone formats it fresh. Never again once a clone used it.
    RETURN_IF_ERROR(h.ZeroDevice(h.LvPath(meta), meta_bytes));
    st.set_metadata_zeroed(true);
  }
  RETURN_IF_ERROR(h.PrepareLogin(LoginSpecOf(env, st)));
  // Out of the blackout: the source exported before it offered.
  RETURN_IF_ERROR(EnsureStack(env, c.id, st).status());
  return Go("STAGED", st);
}

// Waits for the source to fence its consumer (it then shows WAITING).
absl::StatusOr<fsm::Next> Staged(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  ASSIGN_OR_RETURN(v1::Migration src, env->peers->GetMigration(st.view().source_worker(), c.id));
  if (src.terminal()) {
    st.set_rollback_reason(absl::StrCat("source ended in ", src.state(), ": ", src.error()));
    return Go("ROLLBACK", st);
  }
  if (src.state() != "WAITING") return Stay(c, st, kFastPoll);
  if (!st.has_source_allocation() && !st.no_allocation()) {
    auto map = env->peers->GetAllocation(st.view().source_worker(), c.id, env->worker);
    // An older source: no such call, or it fenced before it had one.
    if (absl::IsUnimplemented(map.status()) || absl::IsFailedPrecondition(map.status())) {
      spdlog::warn("{} source {} serves no allocation map ({}): every region is copied",
                   LogTag(st.view().volume_id(), c.id), st.view().source_worker(), map.status().ToString());
      st.set_no_allocation(true);
    } else {
      RETURN_IF_ERROR(map.status());
      RETURN_IF_ERROR(DeviceExtents(*map, st.luks().data_offset_bytes() / 512, st.plaintext_bytes() / 512).status());
      *st.mutable_source_allocation() = *std::move(map);
    }
  }
  st.set_source_ready_unix_ms(env->now_ms());
  st.mutable_view()->set_source_fence_seconds(src.source_fence_seconds());
  return Go("ATTACHING", st);
}

// The stack was made in ACCEPTED (again here after a reboot since). A session
// that broke while waiting for the fence is waited for, not booted on.
absl::StatusOr<fsm::Next> Attaching(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  RETURN_IF_ERROR(EnsureStack(env, c.id, st).status());
  ASSIGN_OR_RETURN(std::string session, env->host->SessionState(st.target_iqn()));
  if (session != "LOGGED_IN")
    return absl::UnavailableError(absl::StrCat("the iSCSI session to the source is ",
                                               session.empty() ? "gone" : session, ": not booting on it"));
  return Go("CLONED", st);
}

// Marks every region where the source holds no data hydrated (a discard on
// the clone), then has dm-clone commit its metadata. Only here, before the
// consumer starts and with hydration off: a region marked while a copy of it
// was in flight could have that copy land over a write the consumer made.
// Again after a crash, it finds those regions marked and changes nothing.
absl::Status SkipFreeRegions(Env* env, const std::string& id, MigrationState& st) {
  const std::string& vol = st.view().volume_id();
  uint64_t skipped = 0;
  if (st.has_source_allocation()) {
    ASSIGN_OR_RETURN(std::vector<Extent> mapped, DeviceExtents(st.source_allocation(), st.luks().data_offset_bytes() / 512,
                                                               st.plaintext_bytes() / 512));
    std::vector<Extent> free = FreeRegions(mapped, uint64_t{env->opts.region_kib} * 2, st.device_bytes() / 512);
    RETURN_IF_ERROR(env->host->Discard(host::LiveDevice(host::CloneName(vol)), free));
    ASSIGN_OR_RETURN(dm::CloneStatus now, Status(env, vol, /*committed=*/true));
    skipped = now.hydrated * now.region_sectors * 512;
    spdlog::info("{} the source holds data in {} bytes ({} extents): {} bytes marked copied without reading",
                 LogTag(vol, id), SectorsOf(mapped) * 512, mapped.size(), skipped);
  }
  st.set_map_skipped_bytes(skipped);
  st.mutable_view()->mutable_progress()->set_discarded_bytes(skipped);
  st.clear_source_allocation();  // can be large, and every poll rewrites the record
  st.set_allocation_applied(true);
  return absl::OkStatus();
}

// The last state an abort can roll back: BOOTING, which refuses cancel, is
// committed before the consumer is started, so no write the consumer makes
// here can be thrown away by a rollback.
absl::StatusOr<fsm::Next> Cloned(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  RETURN_IF_ERROR(EnsureStack(env, c.id, st).status());
  if (!st.allocation_applied()) RETURN_IF_ERROR(SkipFreeRegions(env, c.id, st));
  st.mutable_view()->set_consumer_may_run(true);
  return Go("BOOTING", st);
}

absl::StatusOr<fsm::Next> Booting(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  RETURN_IF_ERROR(EnsureStack(env, c.id, st).status());
  RETURN_IF_ERROR(env->host->RunHook(env->opts.consumer_start, vol, host::LiveDevice(vol)));
  st.set_booted(true);
  st.set_booted_unix_ms(env->now_ms());
  // The source's part (fence to closed), ours (its WAITING seen to booted), and
  // one poll interval: an upper bound on the gap between the two.
  double here = static_cast<double>(env->now_ms() - st.source_ready_unix_ms()) / 1000.0;
  st.mutable_view()->set_blackout_seconds(st.view().source_fence_seconds() + here +
                                          absl::ToDoubleSeconds(kFastPoll));
  spdlog::info("{} consumer booted on {}: blackout {:.2f} s (source {:.2f} s, here {:.2f} s)", LogTag(vol, c.id),
               host::LiveDevice(vol), st.view().blackout_seconds(), st.view().source_fence_seconds(), here);
  return Go("BOOTED", st);
}

absl::StatusOr<fsm::Next> Booted(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  RETURN_IF_ERROR(EnsureBooted(env, c.id, st));
  if (!st.trim_started()) {
    // Recorded first, so a replay after a crash still counts what fstrim skipped.
    ASSIGN_OR_RETURN(dm::CloneStatus before, Status(env, vol));
    st.set_trim_hydrated_before(before.hydrated);
    st.set_trim_started(true);
    return Stay(c, st, absl::ZeroDuration());
  }
  auto trimmed = env->host->Trim(host::LiveDevice(vol));
  if (!trimmed.ok() && trimmed.status().code() != absl::StatusCode::kNotFound) return trimmed.status();
  ASSIGN_OR_RETURN(dm::CloneStatus after, Status(env, vol));
  uint64_t before = std::min(after.hydrated, st.trim_hydrated_before());
  uint64_t skipped = (after.hydrated - before) * after.region_sectors * 512;
  st.mutable_view()->mutable_progress()->set_discarded_bytes(st.map_skipped_bytes() + skipped);
  spdlog::info("{} fstrim: {}; {} more bytes marked hydrated without copying", LogTag(vol, c.id),
               trimmed.ok() ? absl::StrCat(*trimmed, " bytes trimmed") : "filesystem not mounted here", skipped);
  return Go("HYDRATING", st);
}

// The hydration depth the record asks for, told to the kernel when its own
// differs (after a reboot the clone comes back with the configured one).
absl::Status ApplyDepth(Env* env, const std::string& vol, const dm::CloneStatus& now, bool deep) {
  const uint32_t factor = deep ? kDeepFactor : 1;
  const uint32_t threshold = env->opts.hydration_threshold * factor, batch = env->opts.hydration_batch * factor;
  auto has = [&](const char* arg, uint32_t want) {
    auto it = now.core_args.find(arg);
    return it != now.core_args.end() && it->second == want;
  };
  if (!has("hydration_threshold", threshold))
    RETURN_IF_ERROR(env->host->MessageMapping(host::CloneName(vol), dm::HydrationThresholdMessage(threshold)).status());
  if (!has("hydration_batch_size", batch))
    RETURN_IF_ERROR(env->host->MessageMapping(host::CloneName(vol), dm::HydrationBatchSizeMessage(batch)).status());
  return absl::OkStatus();
}

// The pool's free space into the sample; pauses hydration below the reserve.
absl::Status SamplePool(Env* env, const std::string& tag, MigrationState& st, Sample& s) {
  ASSIGN_OR_RETURN(dm::PoolSpace pool, env->host->PoolSpace());
  s.pool_free_bytes = pool.free_bytes;
  s.pool_full = pool.out_of_data_space;
  if (!UpdatePoolLow(st, s, env->opts.pool_reserve_mib << 20)) return absl::OkStatus();
  if (st.pool_low())
    spdlog::warn("{} thin pool here has {} bytes free{}: hydration paused", tag, pool.free_bytes,
                 pool.out_of_data_space ? " (out of data space)" : "");
  else
    spdlog::info("{} thin pool here has {} bytes free again: hydration resumes", tag, pool.free_bytes);
  return absl::OkStatus();
}

// Whether the consumer keeps the clone busy, which decides the hydration depth.
// The depth only speeds the copy up: a failed read of the clone's I/O counters
// keeps the last decision rather than holding the migration.
void SampleDepth(Env* env, const std::string& vol, const std::string& tag, MigrationState& st, Sample& s) {
  auto busy = env->host->BusyMillis(host::LiveDevice(host::CloneName(vol)));
  if (!busy.ok()) {
    spdlog::warn("{} reading the clone's I/O time: {}; hydration depth unchanged", tag, busy.status().ToString());
    return;
  }
  s.busy_ms = *busy;
  if (UpdateDepth(st, s))
    spdlog::info("{} the consumer {} the clone busy: hydration {} regions at a time", tag,
                 st.hydration_deep() ? "keeps" : "no longer keeps",
                 st.hydration_deep() ? "starts more" : "back to the configured");
}

// Turns the clone's background copy off or on to match `pause`.
absl::Status SwitchHydration(Env* env, const std::string& vol, const dm::CloneStatus& now, bool pause) {
  bool off = std::find(now.features.begin(), now.features.end(), "no_hydration") != now.features.end();
  if (pause && !off) return env->host->MessageMapping(host::CloneName(vol), dm::DisableHydrationMessage()).status();
  if (!pause && off) return env->host->MessageMapping(host::CloneName(vol), dm::EnableHydrationMessage()).status();
  return absl::OkStatus();
}

absl::StatusOr<fsm::Next> Hydrating(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  const std::string& vol = st.view().volume_id();
  const std::string tag = LogTag(vol, c.id);
  RETURN_IF_ERROR(EnsureBooted(env, c.id, st));
  Sample s;
  ASSIGN_OR_RETURN(s.status, Status(env, vol));
  s.now_ms = env->now_ms();
  if (s.status.Hydrated()) {
    // CUT_OVER lays a linear map over the destination: only once the
    // metadata on disk says every region is there.
    ASSIGN_OR_RETURN(dm::CloneStatus committed, Status(env, vol, /*committed=*/true));
    if (committed.Hydrated()) {
      UpdateProgress(st, s, env->opts.stall_seconds);
      st.mutable_view()->set_hydration_seconds(static_cast<double>(s.now_ms - st.booted_unix_ms()) / 1000.0);
      return Go("CUT_OVER", st);
    }
  }
  ASSIGN_OR_RETURN(s.session_state, env->host->SessionState(st.target_iqn()));
  RETURN_IF_ERROR(CheckSourceDisk(env, c.id, st, s));
  // Kernel messages from here on are this hydration's; read only when stalled.
  if (!st.has_kernel_log_from()) {
    ASSIGN_OR_RETURN(uint64_t next, env->host->KernelLogNext());
    st.set_kernel_log_from(next);
  }
  if (LooksStalled(st, s, env->opts.stall_seconds)) {
    auto err = env->host->HydrationError(host::CloneName(vol), st.target_iqn(), st.kernel_log_from());
    if (err.ok()) s.kernel_error = *err;
    else spdlog::warn("{} reading the kernel log: {}", tag, err.status().ToString());
  }
  RETURN_IF_ERROR(SamplePool(env, tag, st, s));
  // Under a rate cap (kept by pausing and resuming) a deep start would copy
  // far past it before the next pause: the configured depth only, even for a
  // record that went deep before a restart with a cap.
  const bool capped = env->opts.hydration_max_bytes_per_second != 0;
  if (!capped) SampleDepth(env, vol, tag, st, s);
  RETURN_IF_ERROR(ApplyDepth(env, vol, s.status, st.hydration_deep() && !capped));
  Throttle t = DecideThrottle(st, s, env->opts.hydration_max_bytes_per_second);
  RETURN_IF_ERROR(SwitchHydration(env, vol, s.status, t == Throttle::kPause || st.pool_low()));
  st.set_hydration_paused(t == Throttle::kPause);
  UpdateProgress(st, s, env->opts.stall_seconds);
  return Stay(c, st, kPoll);
}

absl::StatusOr<fsm::Next> CutOver(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  host::Host& h = *env->host;
  const std::string& vol = st.view().volume_id();
  const std::string clone = host::CloneName(vol);
  ASSIGN_OR_RETURN(bool live, h.MappingExists(vol));
  auto meta = h.GetLv(internal::MetadataLv(c.id));
  if (!meta.ok() && !absl::IsNotFound(meta.status())) return meta.status();
  if (!live && !meta.ok()) {
    // Rebooted after the swap (the clone's metadata is gone only after it):
    // the LV alone holds the volume, opened as on the worker that made it.
    RETURN_IF_ERROR(h.OpenVolume(vol));
    RETURN_IF_ERROR(h.RunHook(env->opts.consumer_start, vol, host::LiveDevice(vol)));
  } else {
    // Rebooted before the swap finished: the clone comes back from its
    // metadata, which alone says what reached the destination.
    ASSIGN_OR_RETURN(bool restarted, EnsureStack(env, c.id, st));
    ASSIGN_OR_RETURN(std::vector<dm::Target> table, h.MappingTable(clone));
    if (table.size() == 1 && table[0].type == "clone") {
      ASSIGN_OR_RETURN(dm::CloneStatus committed, Status(env, vol, /*committed=*/true));
      if (restarted)
        spdlog::warn("{} restarted in CUT_OVER: clone rebuilt from its metadata, {} of {} regions hydrated",
                     LogTag(vol, c.id), committed.hydrated, committed.total_regions);
      if (!committed.Hydrated()) {
        spdlog::warn("{} the clone's metadata shows {} of {} regions hydrated: hydrating again", LogTag(vol, c.id),
                     committed.hydrated, committed.total_regions);
        if (restarted) RETURN_IF_ERROR(h.RunHook(env->opts.consumer_start, vol, host::LiveDevice(vol)));
        return Go("HYDRATING", st);
      }
    }
    // Under the LUKS2 mapping, which keeps it open: the consumer's I/O waits
    // through the suspend.
    RETURN_IF_ERROR(h.SwapToLinear(clone, h.LvPath(vol), st.device_bytes() / 512));
    if (restarted) RETURN_IF_ERROR(h.RunHook(env->opts.consumer_start, vol, host::LiveDevice(vol)));
  }
  RETURN_IF_ERROR(h.Logout(st.target_iqn(), st.portal()));
  RETURN_IF_ERROR(h.DeleteLv(internal::MetadataLv(c.id)));
  spdlog::info("{} cut over to a linear map onto the LV; source logged out", LogTag(vol, c.id));
  return Go("NOTIFYING", st);
}

absl::StatusOr<fsm::Next> Notifying(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  v1::ReportProgressRequest r;
  r.set_migration_id(c.id);
  r.set_destination_worker(env->worker);
  r.set_state("DONE");
  *r.mutable_progress() = st.view().progress();
  r.set_done(true);
  RETURN_IF_ERROR(env->peers->Report(st.view().source_worker(), r));
  return Go("DONE", st);
}

absl::StatusOr<fsm::Next> Rollback(Env* env, const fsm::StepContext& c) {
  ASSIGN_OR_RETURN(MigrationState st, Parse(c));
  host::Host& h = *env->host;
  const std::string& vol = st.view().volume_id();
  // Only reached before BOOTING: the consumer never started here.
  RETURN_IF_ERROR(h.CloseCrypt(vol));
  RETURN_IF_ERROR(h.RemoveMapping(host::CloneName(vol)));
  RETURN_IF_ERROR(h.Logout(st.target_iqn(), st.portal()));
  RETURN_IF_ERROR(h.DeleteLv(internal::MetadataLv(c.id)));
  RETURN_IF_ERROR(h.DeleteLv(vol));
  RETURN_IF_ERROR(h.DeleteKey(vol));
  spdlog::info("{} rolled back: nothing of it left here", LogTag(vol, c.id));
  return internal::RolledBack(st);
}

// A record of the older plaintext clone waits, untouched, for the workerd that
// accepted it: this one's steps would build a second clone over its metadata
// LV, or roll back what they do not know. Retried, so never rolled back here.
template <typename F>
auto SameLayout(F fn) {
  return [fn](Env* env, const fsm::StepContext& c) -> absl::StatusOr<fsm::Next> {
    ASSIGN_OR_RETURN(MigrationState st, Parse(c));
    if (!st.ciphertext_clone())
      return absl::UnavailableError(
          "accepted by a workerd that cloned the plaintext; its steps touch nothing here: finish it with that "
          "version (or its last steps by hand)");
    return fn(env, c);
  };
}

}  // namespace

fsm::MachineDef DestinationMachine(Env* env) {
  fsm::MachineDef d;
  d.kind = kInKind;
  d.initial_state = "ACCEPTED";
  auto bind = [env](auto fn) { return fsm::Bind(env, SameLayout(fn)); };
  auto guard = [env](auto fn) { return internal::Guard(env, SameLayout(fn)); };
  d.steps = {{"ACCEPTED", guard(Accepted)}, {"STAGED", guard(Staged)},      {"ATTACHING", guard(Attaching)},
             {"CLONED", guard(Cloned)},     {"BOOTING", guard(Booting)},    {"BOOTED", guard(Booted)},
             {"HYDRATING", guard(Hydrating)}, {"CUT_OVER", guard(CutOver)}, {"NOTIFYING", guard(Notifying)},
             {"ROLLBACK", bind(Rollback)}};
  d.terminal_states = {"DONE", "ABORTED", "FAILED"};
  d.cancel_to = {{"ACCEPTED", "ROLLBACK"}, {"STAGED", "ROLLBACK"}, {"ATTACHING", "ROLLBACK"}, {"CLONED", "ROLLBACK"}};
  // Drawn in machines.h. From BOOTING on, the consumer may run (committed in
  // CLONED's transition), so Guard retries instead of rolling back.
  d.edges = {{"ACCEPTED", {"STAGED", "ROLLBACK"}},
             {"STAGED", {"ATTACHING", "ROLLBACK"}},
             {"ATTACHING", {"CLONED", "ROLLBACK"}},
             {"CLONED", {"BOOTING", "ROLLBACK"}},
             {"BOOTING", {"BOOTED"}},
             {"BOOTED", {"HYDRATING"}},
             {"HYDRATING", {"CUT_OVER"}},
             {"CUT_OVER", {"NOTIFYING", "HYDRATING"}},
             {"NOTIFYING", {"DONE"}},
             {"ROLLBACK", {"ABORTED"}}};
  return d;
}

absl::StatusOr<std::string> AcceptOffer(Env* env, fsm::Runner* runner, const v1::OfferMigrationRequest& req) {
  const std::string& id = req.migration_id();
  if (auto have = env->store->Get(id); have.ok()) {
    MigrationState st;
    if (have->kind() == kInKind && st.ParseFromString(have->data()) &&
        st.view().source_worker() == req.source_worker() && st.view().volume_id() == req.volume_id())
      return have->state();  // the source retried an offer we took
    return absl::AlreadyExistsError(absl::StrCat("migration id ", id, " is in use on worker ", env->worker));
  } else if (have.status().code() != absl::StatusCode::kNotFound) {
    return have.status();
  }
  const std::string& vol = req.volume_id();
  // Held from before the check that no such volume exists until the machine
  // that creates it holds it: a concurrent offer or create of the same name
  // is refused, so a rollback never removes a volume it did not make.
  ASSIGN_OR_RETURN(fsm::Lease lease, admission::Hold({env->store, env->host}, admission::Op::kArrive, vol, id));
  if (auto lv = env->host->GetLv(vol); lv.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("volume ", vol, " already exists on worker ", env->worker));
  } else if (lv.status().code() != absl::StatusCode::kNotFound) {
    return lv.status();
  }

  MigrationState st;
  st.mutable_view()->set_volume_id(vol);
  st.mutable_view()->set_source_worker(req.source_worker());
  st.mutable_view()->set_destination_worker(env->worker);
  st.mutable_view()->mutable_progress()->set_total_bytes(req.size_bytes());
  st.set_target_iqn(req.target().iqn());
  st.set_portal(req.target().portal());
  st.set_chap_user(req.target().chap_user());
  st.set_chap_secret(req.target().chap_secret());
  st.set_initiator_iqn(req.initiator_iqn());
  *st.mutable_luks() = req.luks();
  st.set_device_bytes(req.device_bytes());
  st.set_plaintext_bytes(req.size_bytes());
  st.set_offer_unix_ms(env->now_ms());
  st.set_ciphertext_clone(true);

  ASSIGN_OR_RETURN(dm::PoolSpace pool, env->host->PoolSpace());
  RETURN_IF_ERROR(CheckRoom(env, st, req.allocated_bytes(), pool.free_bytes));
  // The volume keeps its key: the clone copies the ciphertext. (No volume of
  // this name is here, and the lease keeps another from arriving.)
  RETURN_IF_ERROR(env->host->PutKey(vol, req.volume_key()));
  if (absl::Status s = runner->Submit(kInKind, id, st.SerializeAsString(), {vol}); !s.ok()) {
    // No machine would ever delete it. (A power cut between the two still
    // leaves it: a key file nothing reads, replaced by the next arrival.)
    if (absl::Status d = env->host->DeleteKey(vol); !d.ok())
      spdlog::warn("{} removing the source's key after a refused offer: {}", LogTag(vol, id), d.ToString());
    return s;
  }
  spdlog::info("{} accepted from {} ({} bytes, data offset {})", LogTag(vol, id), req.source_worker(),
               req.size_bytes(), req.luks().data_offset_bytes());
  return std::string("ACCEPTED");
}

absl::StatusOr<std::string> CancelIncoming(Env* env, fsm::Runner* runner, const std::string& id,
                                           const std::string& source_worker) {
  ASSIGN_OR_RETURN(fsm::Record r, env->store->Get(id));
  MigrationState st;
  if (r.kind() != kInKind || !st.ParseFromString(r.data()) || st.view().source_worker() != source_worker)
    return absl::NotFoundError(absl::StrCat("no incoming migration '", id, "' from ", source_worker));
  if (st.view().consumer_may_run())
    return absl::FailedPreconditionError(
        absl::StrCat(id, ": the consumer booted on ", env->worker, "; the migration only goes forward"));
  if (r.terminal() || r.state() == "ROLLBACK") return r.state();
  RETURN_IF_ERROR(runner->Cancel(id));
  return std::string("ROLLBACK");
}

}  // namespace volmigrate::migration
