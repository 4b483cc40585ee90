// A drain planned before anything moves: which volume goes where, how many
// bytes (what the source's pool holds for it), and how long each should take
// at the rate its link showed in past migrations. Deterministic: the same
// volumes, room and history give the same plan, so a scheduler can compare a
// plan with the next one and retry.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fsm/store.h"
#include "migration/machines.h"
#include "volumes/lvm.h"

namespace volmigrate::migration {

struct PlannedMove {
  volumes::LvRow lv;
  std::string destination;
  uint64_t bytes = 0;     // to copy: what the source's pool holds for the volume
  double rate = 0;        // bytes per second expected on the link
  bool measured = false;  // the rate comes from a past migration to `destination`
  double eta_seconds = 0;
};

struct DrainPlan {
  std::vector<PlannedMove> moves;  // in the order they start: biggest first
  double eta_seconds = 0;          // the whole drain, at most max_concurrent at once
};

// Plans a drain of every volume of this worker not already migrating, to
// `destinations` (each told by its Health answer how much room it has);
// changes nothing. A volume no destination has room for, or one any single
// migrate would refuse (held, sealed), refuses the whole plan.
absl::StatusOr<DrainPlan> PlanDrain(Env* env, const std::vector<std::string>& destinations, uint32_t max_concurrent);

struct PoolUse {
  std::string worker;
  uint64_t size = 0;
  uint64_t used = 0;     // now
  uint64_t planned = 0;  // after the planned moves
};

struct RebalancePlan {
  DrainPlan drain;              // the moves, run as a drain of those volumes
  std::vector<PoolUse> pools;   // this worker first, then each destination that answered
  std::vector<std::string> kept;  // volumes that may not move now, "NAME: why"; they count where they are
};

// Plans moves of this worker's volumes to `destinations` until its pool use
// meets `target`; changes nothing. Biggest volume first, each to the
// destination least used after taking it, where it fits (as a drain counts
// room), and only when that destination stays within the target itself (so
// no move overshoots into the other side); a volume that would not is
// passed over for smaller ones; so is one that may not migrate now (sealed,
// held), unlike in a drain, named in `kept`. Deterministic, as PlanDrain. Pool use here
// counts a moved volume as gone: with [migration] retire = "keep" its copy
// stays until retire_after.
absl::StatusOr<RebalancePlan> PlanRebalance(Env* env, const std::vector<std::string>& destinations,
                                            uint32_t max_concurrent, const RebalanceTarget& target);

// The rate each destination's link showed: the median over the newest
// kLinkRateSamples migrations from here to it that ended DONE, among
// `records` (the state store's). Bytes per second. A median, not the latest:
// one copy slowed or sped by what else its ends ran (measured in the demo:
// 7.1 to 11.9 MB/s on the same link) moves a plan less.
inline constexpr size_t kLinkRateSamples = 5;
absl::StatusOr<std::map<std::string, double>> LinkRates(const std::vector<fsm::Record>& records);

// The rate to expect to `destination`: its link's from `rates`, else
// [migration] planning_rate_mib (`measured` false).
struct ExpectedRate {
  double bytes_per_second = 0;
  bool measured = false;
};
ExpectedRate RateTo(const Env& env, const std::map<std::string, double>& rates, const std::string& destination);

// What a finished migration copied per second of hydration: the bytes copied
// (not marked copied from the map or by fstrim) over its hydration_seconds,
// as the destination timed them; for a migration that does not tell them,
// the last rate it showed; 0 when neither tells.
double HydrationRate(const v1::Migration& m);

// How long `durations` take run in order with at most `slots` at once, each
// starting as soon as one ends.
double Makespan(const std::vector<double>& durations, uint32_t slots);

}  // namespace volmigrate::migration
