#!/usr/bin/env bash
# Installs what the tests need (Debian 12 packages) and runs every test, with
# warnings as errors: first a build of everything under AddressSanitizer and
# UBSan and the host tests in it (memory errors in a thread or at teardown fail
# the suite, not only when they happen to crash); then a plain build of what
# runs in the guests (workerd, migratectl, plumb) and the VM tests with it.
# The host tests run once, in the sanitizer build: running them in the plain
# build too cost about four of the suite's 45 minutes.
#   scripts/test.sh                     everything above
#   scripts/test.sh [ctest args...]     a plain build of everything, and its ctest with these, e.g. -L host, -LE vm, -R fsm
#   VOLMIGRATE_SANITIZE=thread scripts/test.sh   the host tests under ThreadSanitizer instead
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bash scripts/install-deps.sh vm
build=${VOLMIGRATE_BUILD:-build}
# Line tables only (-g1): backtraces name files and lines; full debug info made
# the build a quarter slower.
plain=(-G Ninja -DVOLMIGRATE_WERROR=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
if [ $# -gt 0 ]; then
  cmake -S . -B "$build" "${plain[@]}" >/dev/null
  cmake --build "$build" -j"$(nproc)"
  cd "$build" && exec ctest --output-on-failure --timeout 1800 "$@"
fi

sanitizer=${VOLMIGRATE_SANITIZE:-address}
echo "== host tests under the $sanitizer sanitizer"
cmake -S . -B "$build-$sanitizer" -G Ninja -DVOLMIGRATE_WERROR=ON -DVOLMIGRATE_SANITIZE="$sanitizer" >/dev/null
cmake --build "$build-$sanitizer" -j"$(nproc)"
export TSAN_OPTIONS="suppressions=$repo/tests/tsan.supp ${TSAN_OPTIONS:-}"
rc=0
(cd "$build-$sanitizer" && ctest --output-on-failure --timeout 600 -L host -j"$(nproc)") || rc=1

# One at a time, alone: two guests under TCG take both cores, and anything
# beside them starves them.
echo "== VM tests"
cmake -S . -B "$build" "${plain[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target workerd migratectl plumb peer_probe
echo "== Debian packages"
(cd "$build" && ctest --output-on-failure -L package) || rc=1
(cd "$build" && ctest --output-on-failure --timeout 1800 -L vm) || rc=1
exit $rc
