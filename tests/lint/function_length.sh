#!/usr/bin/env bash
# No function in the daemon's modules is longer than LIMIT lines (signature to
# closing brace), so each reads as one job. Usage: function_length.sh REPO [LIMIT]
# A function is what clang-format leaves at column 0: its signature's first
# line there, its body closed by a lone "}" there. Tests and the lsvd
# benchmark program are not counted.
set -euo pipefail
cd "$1"
limit=${2:-60}
modules=(workerd host admission migration sealing fsm migratectl common dmutil iscsi luks volumes lsvd objstore rpc metrics)
mapfile -t files < <(find "${modules[@]}" -name '*.cc' -not -name '*_test.cc' -not -name 'bench.cc' | sort)
awk -v limit="$limit" '
  FNR == 1 { start = 0 }
  /^[A-Za-z]/ && !/^(namespace|using|template|typedef|extern)[[:space:]]/ && !/;[[:space:]]*(\/\/.*)?$/ && start == 0 {
    start = FNR; sig = $0
  }
  /^}$/ {
    if (start && FNR - start + 1 > limit) { printf "%s:%d: %d lines: %s\n", FILENAME, start, FNR - start + 1, sig; bad++ }
    start = 0
  }
  /^};/ { start = 0 }
  END {
    if (bad) { printf "%d function(s) longer than %d lines\n", bad, limit; exit 1 }
    printf "%d files: no function longer than %d lines\n", NR ? ARGC - 1 : 0, limit
  }' "${files[@]}"
