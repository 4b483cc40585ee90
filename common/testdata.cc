#include <cstdio>
#include <cstdlib>

#include "common/files.h"
#include "common/test_util.h"

namespace volmigrate {

std::string TestData(const std::string& name) {
  auto text = ReadFile(std::string(VOLMIGRATE_TESTDATA) + "/" + name);
  if (!text.ok()) {
    std::fprintf(stderr, "missing test data %s\n", name.c_str());
    std::abort();
  }
  return *text;
}

std::string NewTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/volmigrate-testXXXXXX";
  if (!mkdtemp(t.data())) std::abort();
  return t;
}

}  // namespace volmigrate
