#include <cstdio>
#include <cstdlib>

#include "common/files.h"
#include "common/test_util.h"

namespace volmigrate {

namespace {

std::string ReadOrAbort(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    std::fprintf(stderr, "missing %s\n", path.c_str());
    std::abort();
  }
  return *text;
}

}  // namespace

std::string TestData(const std::string& name) { return ReadOrAbort(std::string(VOLMIGRATE_TESTDATA) + "/" + name); }

std::string SourceFile(const std::string& path) { return ReadOrAbort(std::string(VOLMIGRATE_SOURCE) + "/" + path); }

std::string NewTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/volmigrate-testXXXXXX";
  if (!mkdtemp(t.data())) std::abort();
  return t;
}

}  // namespace volmigrate
