#!/usr/bin/env bash
# The main job on the embedded default: builds volmigrate and the guest assets,
# boots two local VMs with workerd each, and drives them with migratectl
# (tests/vm/demo.sh): an encrypted volume with a running consumer is drained from
# one to the other, live, and its checksums compared.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh vm
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j"$(nproc)" --target workerd migratectl >/dev/null
VM_BUILD=$(cd "$build" && pwd) exec bash tests/vm/demo.sh
