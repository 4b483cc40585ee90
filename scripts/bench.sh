#!/usr/bin/env bash
# Benchmarks on two local VMs: figures from one run each, not tests.
#   scripts/bench.sh [migration]   live migration of four volumes: blackout,
#                                  bytes sent and written per byte held,
#                                  hydration against the link's reference
#                                  rates (tests/vm/bench_migration.sh, ~10 min)
#   scripts/bench.sh hydration     dm-clone hydration alone, one kernel or
#                                  consumer setting at a time, against a plain
#                                  copy (tests/vm/bench_hydration.sh, ~25 min)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-migration}
case $what in
  migration|hydration) ;;
  *) echo "usage: scripts/bench.sh [migration|hydration]" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh vm
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j"$(nproc)" --target workerd migratectl >/dev/null
VM_BUILD=$(cd "$build" && pwd) exec bash "tests/vm/bench_$what.sh"
