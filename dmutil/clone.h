// dm-clone, from drivers/md/dm-clone-target.c: the table, the status line, the
// messages, and the size check the kernel does not do. Pure functions.
//
// Table:  clone <metadata dev> <destination dev> <source dev> <region sectors>
//               [<#features> no_hydration | no_discard_passdown]
//               [<#core args> hydration_threshold N hydration_batch_size N]
// Status: <md block sectors> <used>/<total md blocks> <region sectors>
//         <hydrated>/<total regions> <hydrating> <#features> <features...>
//         <#core args> <core args...> rw|ro|Fail  -- or just "Fail" / "Error"
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dmutil/dm.h"

namespace volmigrate::dm {

struct CloneSpec {
  std::string metadata_dev, destination_dev, source_dev;
  uint64_t length_sectors = 0;       // the plaintext size both sides must have
  uint64_t region_sectors = 128;     // 64 KiB: small regions make hydration crawl
  bool hydration = false;            // start with it off; enable once booted and trimmed
  bool discard_passdown = true;
  uint32_t hydration_threshold = 0;  // 0: leave the kernel's default (1 region)
  uint32_t hydration_batch_size = 0;
};

absl::StatusOr<Target> CloneTarget(const CloneSpec& spec);

struct CloneStatus {
  bool failed = false;  // "Fail": metadata in fail mode
  bool error = false;   // "Error": the status could not be produced
  uint64_t metadata_block_sectors = 0;
  uint64_t metadata_used = 0, metadata_total = 0;
  uint64_t region_sectors = 0;
  uint64_t hydrated = 0, total_regions = 0;
  uint64_t hydrating = 0;
  std::vector<std::string> features;
  std::map<std::string, uint64_t> core_args;
  bool read_only = false;  // metadata mode "ro"

  bool Hydrated() const { return !failed && !error && total_regions > 0 && hydrated == total_regions; }
};

absl::StatusOr<CloneStatus> ParseCloneStatus(const std::string& status_params);

// The kernel checks only that source and destination are not smaller than the
// table and accepts a larger source silently: the header-size bug. Sizes in bytes.
absl::Status CheckCloneSizes(uint64_t source_bytes, uint64_t destination_bytes);

std::string EnableHydrationMessage();
std::string DisableHydrationMessage();
std::string HydrationThresholdMessage(uint32_t regions);
std::string HydrationBatchSizeMessage(uint32_t regions);

}  // namespace volmigrate::dm
