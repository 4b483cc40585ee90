// How a worker takes part in migrations, as source and as destination: the
// [migration] table of workerd's configuration.
#pragma once

#include <cstdint>
#include <string>

namespace volmigrate::migration {

struct Options {
  // host:port where destinations reach this worker's tgt; empty: the listen
  // host with port 3260 (refused at migration time if that host is 0.0.0.0).
  std::string iscsi_portal;
  // This worker's iSCSI initiator name; empty: read /etc/iscsi/initiatorname.iscsi.
  std::string initiator_name;
  // The consumer: commands given <volume> <device>. start returns once the
  // workload runs on the device; stop returns once nothing uses it. Empty: none.
  std::string consumer_start;
  std::string consumer_stop;
  int hook_timeout_seconds = 120;
  uint32_t region_kib = 64;            // dm-clone region; 64 KiB+ keeps hydration fast
  uint32_t hydration_threshold = 256;  // regions in flight (kernel default 1 crawls)
  uint32_t hydration_batch = 32;       // regions per kcopyd job; both x kDeepFactor while the consumer is busy, uncapped
  uint64_t hydration_max_bytes_per_second = 0;  // 0: unlimited
  int stall_seconds = 30;              // no hydration progress this long: reported as stalled
  // I/O to the source (hydration, and the consumer's reads of what is not yet
  // copied) waits, not fails, through a network cut or the source's reboot
  // this long. A server's firmware and boot take minutes: 120 s (open-iscsi's
  // default) failed the consumer's I/O whenever a source rebooted mid-hydration.
  int replacement_timeout_seconds = 600;
  // Thin-pool space an incoming migration leaves free: admitted only if its
  // data, header and clone metadata fit with this much to spare; hydration
  // pauses (and says so) while the pool has less, so that the consumer's own
  // writes do not find it full.
  uint64_t pool_reserve_mib = 64;
  std::string retire = "keep";         // source copy after success: "keep" (retagged) or "delete"
  // A kept copy is deleted this long after its migration ended; 0: never.
  int64_t retire_after_seconds = 24 * 3600;
  // The hydration rate a drain plan assumes for a link no migration from
  // here has measured yet (the demo's guests hydrate at about 10 MiB/s).
  uint64_t planning_rate_mib = 10;
};

}  // namespace volmigrate::migration
