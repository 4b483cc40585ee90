#!/usr/bin/env bash
# The migration benchmark (tests/vm/bench_migration.sh): figures from one run
# on two local VMs. Not part of the tests; takes a while (4 GiB copied over
# iSCSI under emulation for the kill-copy-boot baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh vm
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j"$(nproc)" --target workerd migratectl >/dev/null
VM_BUILD=$(cd "$build" && pwd) exec bash tests/vm/bench_migration.sh
