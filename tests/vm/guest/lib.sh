# shellcheck shell=bash
# Sourced before every command the host runs in a guest (lib.sh's vm_run),
# which runs under set -e.

# fails CMD...: set -e ignores a "! CMD" anywhere but last; this does not.
fails() { if "$@"; then echo "expected to fail: $*" >&2; return 1; fi; }

# wait_until [--every S] SECONDS CMD: evaluates CMD (one string, or words)
# every S seconds (0.5: most checks start a process that costs the guest's one
# CPU under TCG; 0.1 for a cheap local look) until it succeeds; fails naming
# CMD if SECONDS pass first.
wait_until() {
  local every=0.5
  if [ "$1" = --every ]; then every=$2; shift 2; fi
  local deadline=$((SECONDS + $1))
  shift
  until eval "$*"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "wait_until: not so by the deadline: $*" >&2
      return 1
    fi
    sleep "$every"
  done
}

# Fields of migratectl --json output on stdin: jf NAME prints the first string
# field NAME, jn NAME the first number (64-bit ones are strings).
jf() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d\" -f4; }
jn() { grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2 | tr -d \"; }

# jv KEY [N]: the Nth value (string or number) of KEY in compact JSON on stdin.
jv() { grep -o "\"$1\":\"\?[^,}\"]*" | sed -n "${2:-1}p" | cut -d: -f2 | tr -d \"; }

# held_bytes LV: the bytes vg0's thin pool holds for LV (its size x data%).
held_bytes() { lvs --noheadings --units b --nosuffix -o lv_size,data_percent "vg0/$1" | awk '{printf "%d", $1 * $2 / 100}'; }
