// The only file that includes <libdevmapper.h>.
#include "dmutil/dm.h"

#include "dmutil/lock.h"

#include <libdevmapper.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace volmigrate::dm {
namespace {

struct TaskFree {
  void operator()(dm_task* t) const { dm_task_destroy(t); }
};
using Task = std::unique_ptr<dm_task, TaskFree>;

void LogLine(int level, const char* file, int line, int, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (level <= 3) {  // _LOG_ERR
    spdlog::warn("libdevmapper: {} ({}:{})", buf, file ? file : "?", line);
  } else {
    spdlog::trace("libdevmapper: {}", buf);
  }
}

absl::StatusOr<Task> NewTask(int type, const std::string& name) {
  static std::once_flag once;
  std::call_once(once, [] { dm_log_with_errno_init(LogLine); });
  Task t(dm_task_create(type));
  if (!t) return absl::ResourceExhaustedError("dm_task_create failed");
  if (!name.empty() && !dm_task_set_name(t.get(), name.c_str()))
    return absl::InvalidArgumentError(absl::StrCat("bad device-mapper name '", name, "'"));
  return t;
}

// Runs the task; node changes are synced with udev when it runs, made by libdm when not.
absl::Status Run(dm_task* t, const std::string& what, bool touches_nodes) {
  uint32_t cookie = 0;
  bool udev = touches_nodes && dm_udev_get_sync_support();
  if (udev && !dm_task_set_cookie(t, &cookie, 0)) return absl::InternalError(absl::StrCat(what, ": udev cookie"));
  int ok = dm_task_run(t);
  int err = dm_task_get_errno(t);
  if (udev) dm_udev_wait(cookie);
  if (touches_nodes && !udev) dm_task_update_nodes();
  if (!ok) return ErrnoError(err, what);
  return absl::OkStatus();
}

absl::Status AddTargets(dm_task* t, const std::vector<Target>& table) {
  for (const Target& tg : table) {
    if (!dm_task_add_target(t, tg.start, tg.length, tg.type.c_str(), tg.params.c_str()))
      return absl::InvalidArgumentError(absl::StrCat("bad target ", tg.type, " ", tg.params));
  }
  return absl::OkStatus();
}

std::vector<Target> Targets(dm_task* t) {
  std::vector<Target> out;
  void* next = nullptr;
  do {
    uint64_t start = 0, length = 0;
    char *type = nullptr, *params = nullptr;
    next = dm_get_next_target(t, next, &start, &length, &type, &params);
    if (type) out.push_back({start, length, type, params ? params : ""});
  } while (next);
  return out;
}

class LibDm final : public DeviceMapper {
 public:
  absl::Status Create(const std::string& name, const std::vector<Target>& table, bool readonly) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(bool exists, Exists(name));
    if (exists) {
      ASSIGN_OR_RETURN(std::vector<Target> have, Table(name));
      if (Normalized(have) == Normalized(table)) return absl::OkStatus();
      return absl::AlreadyExistsError(absl::StrCat("device-mapper device ", name, " exists with another table"));
    }
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_CREATE, name));
    RETURN_IF_ERROR(AddTargets(t.get(), table));
    if (readonly) dm_task_set_ro(t.get());
    return Run(t.get(), absl::StrCat("creating device-mapper device ", name), true);
  }

  absl::Status Reload(const std::string& name, const std::vector<Target>& table) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_RELOAD, name));
    RETURN_IF_ERROR(AddTargets(t.get(), table));
    return Run(t.get(), absl::StrCat("loading a table into ", name), false);
  }

  absl::Status Suspend(const std::string& name) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_SUSPEND, name));
    return Run(t.get(), absl::StrCat("suspending ", name), false);
  }

  absl::Status Resume(const std::string& name) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_RESUME, name));
    return Run(t.get(), absl::StrCat("resuming ", name), true);
  }

  absl::Status Remove(const std::string& name) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(bool exists, Exists(name));
    if (!exists) return absl::OkStatus();
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_REMOVE, name));
    // A brief open by blkid or a scan should not fail the removal.
    dm_task_retry_remove(t.get());
    return Run(t.get(), absl::StrCat("removing ", name), true);
  }

  absl::StatusOr<bool> Exists(const std::string& name) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_INFO, name));
    RETURN_IF_ERROR(Run(t.get(), absl::StrCat("looking up ", name), false));
    dm_info info{};
    if (!dm_task_get_info(t.get(), &info)) return absl::InternalError(absl::StrCat("info of ", name));
    return info.exists != 0;
  }

  absl::StatusOr<std::vector<Target>> Table(const std::string& name) override {
    std::lock_guard lock(DeviceMapperMutex());
    return Query(DM_DEVICE_TABLE, name, false);
  }

  absl::StatusOr<std::vector<Target>> Status(const std::string& name, bool noflush) override {
    std::lock_guard lock(DeviceMapperMutex());
    return Query(DM_DEVICE_STATUS, name, noflush);
  }

  absl::StatusOr<std::string> Message(const std::string& name, const std::string& message) override {
    std::lock_guard lock(DeviceMapperMutex());
    ASSIGN_OR_RETURN(Task t, NewTask(DM_DEVICE_TARGET_MSG, name));
    if (!dm_task_set_sector(t.get(), 0) || !dm_task_set_message(t.get(), message.c_str()))
      return absl::InternalError("setting dm message");
    RETURN_IF_ERROR(Run(t.get(), absl::StrCat("message '", message, "' to ", name), false));
    const char* resp = dm_task_get_message_response(t.get());
    return std::string(resp ? resp : "");
  }

 private:
  absl::StatusOr<std::vector<Target>> Query(int type, const std::string& name, bool noflush) {
    ASSIGN_OR_RETURN(Task t, NewTask(type, name));
    if (noflush) dm_task_no_flush(t.get());
    RETURN_IF_ERROR(Run(t.get(), absl::StrCat(type == DM_DEVICE_TABLE ? "table of " : "status of ", name), false));
    dm_info info{};
    if (!dm_task_get_info(t.get(), &info) || !info.exists)
      return absl::NotFoundError(absl::StrCat("no device-mapper device ", name));
    return Targets(t.get());
  }

  // The kernel prints device paths as major:minor; compare tables that way.
  static std::vector<Target> Normalized(std::vector<Target> table) {
    for (Target& t : table) {
      std::string out;
      for (const auto& word : absl::StrSplit(t.params, ' ')) {
        std::string w(word);
        struct stat st {};
        if (!w.empty() && w[0] == '/' && stat(w.c_str(), &st) == 0 && S_ISBLK(st.st_mode))
          w = absl::StrCat(major(st.st_rdev), ":", minor(st.st_rdev));
        absl::StrAppend(&out, out.empty() ? "" : " ", w);
      }
      t.params = out;
    }
    return table;
  }
};

}  // namespace

std::unique_ptr<DeviceMapper> NewLibDm() { return std::make_unique<LibDm>(); }


absl::Status SwapToLinear(DeviceMapper& dm, const std::string& name, const std::string& dev, uint64_t sectors) {
  ASSIGN_OR_RETURN(std::vector<Target> live, dm.Table(name));
  Target linear{0, sectors, "linear", absl::StrCat(dev, " 0")};
  if (live.size() == 1 && live[0].type == "linear") return absl::OkStatus();  // done before a restart
  RETURN_IF_ERROR(dm.Reload(name, {linear}));
  RETURN_IF_ERROR(dm.Suspend(name));
  return dm.Resume(name);
}

}  // namespace volmigrate::dm
