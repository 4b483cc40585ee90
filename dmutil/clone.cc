#include "dmutil/clone.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace volmigrate::dm {
namespace {

bool IsPowerOfTwo(uint64_t v) { return v && !(v & (v - 1)); }

absl::Status Bad(const std::string& status, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("dm-clone status '", status, "': ", why));
}

}  // namespace

absl::StatusOr<Target> CloneTarget(const CloneSpec& s) {
  if (s.metadata_dev.empty() || s.destination_dev.empty() || s.source_dev.empty())
    return absl::InvalidArgumentError("dm-clone needs metadata, destination and source devices");
  if (!IsPowerOfTwo(s.region_sectors) || s.region_sectors < 8 || s.region_sectors > 2097152)
    return absl::InvalidArgumentError(
        absl::StrCat("region size ", s.region_sectors, " sectors: must be a power of two from 8 to 2097152"));
  if (s.length_sectors == 0) return absl::InvalidArgumentError("dm-clone length is zero");
  uint64_t regions = (s.length_sectors + s.region_sectors - 1) / s.region_sectors;
  if (regions > (uint64_t{1} << 31))
    return absl::InvalidArgumentError(absl::StrCat(regions, " regions: dm-clone allows at most 2^31; use bigger regions"));
  std::vector<std::string> features;
  if (!s.hydration) features.push_back("no_hydration");
  if (!s.discard_passdown) features.push_back("no_discard_passdown");
  std::vector<std::string> core;
  if (s.hydration_threshold) absl::StrAppend(&core.emplace_back(), "hydration_threshold ", s.hydration_threshold);
  if (s.hydration_batch_size) absl::StrAppend(&core.emplace_back(), "hydration_batch_size ", s.hydration_batch_size);
  std::string params = absl::StrCat(s.metadata_dev, " ", s.destination_dev, " ", s.source_dev, " ", s.region_sectors);
  if (!features.empty()) absl::StrAppend(&params, " ", features.size(), " ", absl::StrJoin(features, " "));
  if (!core.empty()) {
    if (features.empty()) absl::StrAppend(&params, " 0");
    absl::StrAppend(&params, " ", core.size() * 2, " ", absl::StrJoin(core, " "));
  }
  return Target{0, s.length_sectors, "clone", params};
}

absl::StatusOr<CloneStatus> ParseCloneStatus(const std::string& status) {
  CloneStatus st;
  std::vector<std::string> f = absl::StrSplit(status, ' ', absl::SkipWhitespace());
  if (f.size() == 1 && f[0] == "Fail") {
    st.failed = true;
    return st;
  }
  if (f.size() == 1 && f[0] == "Error") {
    st.error = true;
    return st;
  }
  size_t i = 0;
  auto num = [&](uint64_t* out) -> bool { return i < f.size() && absl::SimpleAtoi(f[i++], out); };
  auto pair = [&](uint64_t* a, uint64_t* b) -> bool {
    if (i >= f.size()) return false;
    std::vector<std::string> p = absl::StrSplit(f[i++], '/');
    return p.size() == 2 && absl::SimpleAtoi(p[0], a) && absl::SimpleAtoi(p[1], b);
  };
  if (!num(&st.metadata_block_sectors)) return Bad(status, "metadata block size");
  if (!pair(&st.metadata_used, &st.metadata_total)) return Bad(status, "metadata usage");
  if (!num(&st.region_sectors)) return Bad(status, "region size");
  if (!pair(&st.hydrated, &st.total_regions)) return Bad(status, "hydrated regions");
  if (!num(&st.hydrating)) return Bad(status, "regions hydrating");
  uint64_t nf = 0;
  if (!num(&nf) || i + nf > f.size()) return Bad(status, "features");
  for (uint64_t k = 0; k < nf; ++k) st.features.push_back(f[i++]);
  uint64_t nc = 0;
  if (!num(&nc) || nc % 2 || i + nc > f.size()) return Bad(status, "core args");
  for (uint64_t k = 0; k < nc; k += 2) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(f[i + 1], &v)) return Bad(status, absl::StrCat("core arg ", f[i]));
    st.core_args[f[i]] = v;
    i += 2;
  }
  if (i >= f.size() || (f[i] != "rw" && f[i] != "ro" && f[i] != "Fail")) return Bad(status, "metadata mode");
  st.read_only = f[i] == "ro";
  st.failed = f[i++] == "Fail";
  if (i != f.size()) return Bad(status, "trailing fields");
  if (st.hydrated > st.total_regions) return Bad(status, "more regions hydrated than exist");
  return st;
}

absl::Status CheckCloneSizes(uint64_t source_bytes, uint64_t destination_bytes) {
  if (source_bytes == destination_bytes) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("source plaintext is ", source_bytes, " bytes but destination plaintext is ", destination_bytes,
                   " bytes: the LUKS2 data offsets differ (the destination must be formatted with the source's layout)"));
}

std::string EnableHydrationMessage() { return "enable_hydration"; }
std::string DisableHydrationMessage() { return "disable_hydration"; }
std::string HydrationThresholdMessage(uint32_t regions) { return absl::StrCat("hydration_threshold ", regions); }
std::string HydrationBatchSizeMessage(uint32_t regions) { return absl::StrCat("hydration_batch_size ", regions); }

}  // namespace volmigrate::dm
