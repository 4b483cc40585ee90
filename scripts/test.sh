#!/usr/bin/env bash
# Installs what the tests need (Debian 12 packages), builds with warnings as
# errors, and runs every test: host tests, then the VM tests; then the host
# tests again in a build under AddressSanitizer and UBSan (memory errors in a
# thread or at teardown fail the suite, not only when they happen to crash).
#   scripts/test.sh                     everything above
#   scripts/test.sh [ctest args...]     only the plain build's ctest with these, e.g. -L host, -LE vm, -R fsm
#   VOLMIGRATE_SANITIZE=thread scripts/test.sh   the sanitizer stage under ThreadSanitizer instead
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bash scripts/install-deps.sh vm
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja -DVOLMIGRATE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
if [ $# -gt 0 ]; then exec ctest --output-on-failure --timeout 1800 "$@"; fi
# Host tests side by side; the VM tests one at a time, alone (two guests
# under TCG take both cores: anything beside them starves them).
rc=0
ctest --output-on-failure --timeout 600 -LE vm -j"$(nproc)" || rc=1
ctest --output-on-failure --timeout 1800 -L vm || rc=1
[ $rc = 0 ] || exit 1
cd "$repo"

sanitizer=${VOLMIGRATE_SANITIZE:-address}
echo "== host tests under the $sanitizer sanitizer"
cmake -S . -B "$build-$sanitizer" -G Ninja -DVOLMIGRATE_WERROR=ON -DVOLMIGRATE_SANITIZE="$sanitizer" >/dev/null
cmake --build "$build-$sanitizer" -j"$(nproc)"
cd "$build-$sanitizer"
export TSAN_OPTIONS="suppressions=$repo/tests/tsan.supp ${TSAN_OPTIONS:-}"
ctest --output-on-failure --timeout 600 -L host -j"$(nproc)"
