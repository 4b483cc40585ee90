// libdevmapper keeps process-wide state and is not thread-safe, and
// libcryptsetup drives it underneath: every call into either library, from any
// module, holds this one lock. (Concurrent migrations on one destination
// crashed workerd with SIGSEGV without it.)
#pragma once

#include <mutex>

namespace volmigrate {

inline std::recursive_mutex& DeviceMapperMutex() {
  static std::recursive_mutex mu;
  return mu;
}

}  // namespace volmigrate
