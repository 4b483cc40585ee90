#!/usr/bin/env bash
# The main job on the embedded default, until live migration lands: builds
# volmigrate, makes a test CA, starts two workerds that know each other as peers
# over mutual TLS, and drives them with migratectl as an operator would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
build=${VOLMIGRATE_BUILD:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j"$(nproc)" --target workerd migratectl >/dev/null

T=$(mktemp -d /tmp/volmigrate-demo.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
W="$build/workerd/workerd" C="$build/migratectl/migratectl"
deploy/tls/make-certs.sh ca "$T/pki"
for n in w1 w2 operator; do deploy/tls/make-certs.sh issue "$T/pki" "$n"; done
conf() {
  printf 'worker = "%s"\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/%s"\n[tls]\nca = "%s/pki/ca.crt"\ncert = "%s/pki/%s.crt"\nkey = "%s/pki/%s.key"\n[[peers]]\nname = "%s"\naddress = "127.0.0.1:%s"\n' \
    "$1" "$2" "$T" "$1" "$T" "$T" "$1" "$T" "$1" "$3" "$4" > "$T/$1.toml"
}
conf w1 17441 w2 17442
conf w2 17442 w1 17441
"$W" -c "$T/w1.toml" 2> "$T/w1.log" & pids+=($!)
"$W" -c "$T/w2.toml" 2> "$T/w2.log" & pids+=($!)
export VOLMIGRATE_CA=$T/pki/ca.crt VOLMIGRATE_CERT=$T/pki/operator.crt VOLMIGRATE_KEY=$T/pki/operator.key
for i in $(seq 100); do "$C" -s 127.0.0.1:17442 --timeout 1 health >/dev/null 2>&1 && break; sleep 0.1; done
run() { echo "\$ migratectl $*"; "$C" "$@" || echo "(exit $?)"; echo; }
echo "== workerd w1 checks its config, TLS files and peer =="
"$W" -c "$T/w1.toml" --check
echo
run -s 127.0.0.1:17441 health
run -s 127.0.0.1:17442 health
run -s 127.0.0.1:17441 volumes
run -s 127.0.0.1:17441 --json volumes
run -s 127.0.0.1:17441 migrate vol-1 --to w9
run -s 127.0.0.1:17441 drain w1
echo "== w1's log =="
cat "$T/w1.log"
