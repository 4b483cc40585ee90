#!/usr/bin/env bash
# The object-log benchmark: ship and restore throughput against each backend's
# raw PUT/GET throughput measured in the same run (a local directory, and
# radosgw on loopback), and bytes shipped per byte allocated. One run; the
# figures are ratios within it. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j"$(nproc)" --target lsvd_bench >/dev/null
bench=$build/lsvd/lsvd_bench
work=$(mktemp -d /tmp/lsvd-bench.XXXXXX)
source tests/s3/radosgw.sh
trap 'rgw_stop; rm -rf "$work"' EXIT
# Each entry is the bench's four arguments, split on purpose.
# shellcheck disable=SC2086
for args in "1024 0.5 8 4" "1024 0.1 8 4"; do
  "$bench" "dir:$work/objects" $args
done
rgw_start "$work/ceph" >/dev/null
export VOLMIGRATE_S3_ENDPOINT=$S3_ENDPOINT VOLMIGRATE_S3_BUCKET=$S3_BUCKET
export AWS_ACCESS_KEY_ID=$S3_ACCESS AWS_SECRET_ACCESS_KEY=$S3_SECRET
# shellcheck disable=SC2086
for args in "512 0.5 8 4" "512 0.5 4 8"; do
  "$bench" s3 $args
done
