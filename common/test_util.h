// Helpers for unit tests only (library volmigrate_testing).
#pragma once

#include <string>

namespace volmigrate {

// Reads tests/testdata/<name>: output captured from the guests. Aborts if missing.
std::string TestData(const std::string& name);

// Reads a file of the repository, by its path from the top. Aborts if missing.
std::string SourceFile(const std::string& path);

// A new empty directory under $TMPDIR (or /tmp), left for the test runner to clean.
std::string NewTempDir();

}  // namespace volmigrate
