#include <cstdlib>

#include "common/fake_executor.h"
#include "common/files.h"

namespace volmigrate {

std::string TestData(const std::string& name) {
  auto text = ReadFile(std::string(VOLMIGRATE_TESTDATA) + "/" + name);
  if (!text.ok()) {
    std::fprintf(stderr, "missing test data %s\n", name.c_str());
    std::abort();
  }
  return *text;
}

}  // namespace volmigrate
