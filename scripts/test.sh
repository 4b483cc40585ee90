#!/usr/bin/env bash
# Installs what the tests need (Debian 12 packages), builds with warnings as
# errors, and runs every test: host tests, then the VM tests.
#   scripts/test.sh [ctest args...]     e.g. -L host, -LE vm, -R fsm
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh vm
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja -DVOLMIGRATE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 1800 "$@"
