#!/usr/bin/env bash
# Builds the object-parser fuzzer with clang (cached in $1) and runs it for
# $2 seconds from a seed corpus of real objects; any crash fails the test.
set -euo pipefail
out=${1:?build dir}; seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
cmake -S "$here" -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$out" >/dev/null
corpus="$out/corpus"; mkdir -p "$corpus"
cd "$out"
LSVD_FUZZ_SEEDS="$corpus" ./lsvd_fuzz -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "$corpus" 2>&1 | tail -15
