#include "migration/machines.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status.h"
#include "migration/internal.h"
#include "spdlog/spdlog.h"

namespace volmigrate::migration {
namespace {

RetiredCopy Describe(Env* env, const volumes::LvRow& lv) {
  RetiredCopy c{.name = lv.name, .bytes = lv.allocated_bytes()};
  c.migration_id = std::string(absl::StripSuffix(lv.name, internal::RetiredLv("")));
  auto r = env->store->Get(c.migration_id);
  if (!r.ok() || !r->terminal()) return c;
  MigrationState st;
  if (st.ParseFromString(r->data())) c.volume = st.view().volume_id();
  c.retired_unix_ms = r->updated_ms();
  if (env->opts.retire_after_seconds > 0)
    c.expires_unix_ms = c.retired_unix_ms + env->opts.retire_after_seconds * 1000;
  return c;
}

// Key first, then the LV: a cut between leaves an LV without a key, which
// the next look deletes; both deletes succeed on what is already gone.
absl::Status Remove(Env* env, const std::string& name) {
  RETURN_IF_ERROR(env->host->DeleteKey(name));
  return env->host->DeleteLv(name);
}

}  // namespace

absl::Status NoRetiredCopy(const std::string& name, const std::string& worker) {
  return absl::NotFoundError(absl::StrCat("no retired copy '", name, "' on worker ", worker));
}

absl::StatusOr<std::vector<RetiredCopy>> ListRetired(Env* env) {
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> lvs, env->host->ListLvs(volumes::kRetiredTag));
  std::vector<RetiredCopy> out;
  for (const volumes::LvRow& lv : lvs) out.push_back(Describe(env, lv));
  std::sort(out.begin(), out.end(), [](const RetiredCopy& a, const RetiredCopy& b) {
    return std::tie(a.retired_unix_ms, a.name) < std::tie(b.retired_unix_ms, b.name);
  });
  return out;
}

absl::Status PurgeRetired(Env* env, const std::string& name) {
  if (!absl::EndsWith(name, internal::RetiredLv(""))) return NoRetiredCopy(name, env->worker);
  ASSIGN_OR_RETURN(std::vector<volumes::LvRow> lvs, env->host->ListLvs(volumes::kRetiredTag));
  const bool here = std::any_of(lvs.begin(), lvs.end(), [&](const volumes::LvRow& lv) { return lv.name == name; });
  if (!here) return NoRetiredCopy(name, env->worker);
  return Remove(env, name);
}

absl::StatusOr<std::vector<RetiredCopy>> ExpireRetired(Env* env) {
  ASSIGN_OR_RETURN(std::vector<RetiredCopy> all, ListRetired(env));
  const int64_t now = env->now_ms();
  std::vector<RetiredCopy> purged;
  for (const RetiredCopy& c : all) {
    if (c.expires_unix_ms == 0 || c.expires_unix_ms > now) continue;
    RETURN_IF_ERROR(Remove(env, c.name));  // listed just now: no second lvs to find it
    spdlog::info("{} retired copy {} expired ({} s after its migration ended): deleted", LogTag(c.volume, c.migration_id),
                 c.name, env->opts.retire_after_seconds);
    purged.push_back(c);
  }
  return purged;
}

}  // namespace volmigrate::migration
