#!/usr/bin/env bash
# The operator's view, on the host: two real workerd processes over mutual TLS,
# migratectl against them, and the one-line errors and exit codes for bad config,
# a missing certificate and an unreachable peer.
#   cli_daemon_test.sh WORKERD MIGRATECTL MAKE_CERTS
set -uo pipefail
WORKERD=$1 CTL=$2 CERTS=$3
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
# expect RC DESCRIPTION -- command...: checks the exit code; output in $out
expect() {
  local want=$1 what=$2; shift 3
  out=$("$@" 2>&1); local rc=$?
  if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, wanted $want: $out"; fi
}
# The port a workerd bound, from its log line, waited for with a deadline.
bound_port() {
  local log=$1 deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    p=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$log" | head -1)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.1
  done
  return 1
}
config() {  # config NAME PEER PEER_ADDR
  cat <<TOML
worker = "$1"
listen = "127.0.0.1:0"
data_dir = "$T/$1"
[tls]
ca = "$T/pki/ca.crt"
cert = "$T/pki/$1.crt"
key = "$T/pki/$1.key"
[[peers]]
name = "$2"
address = "$3"
TOML
}

"$CERTS" ca "$T/pki" && "$CERTS" issue "$T/pki" w1 && "$CERTS" issue "$T/pki" w2 && "$CERTS" issue "$T/pki" operator \
  && "$CERTS" issue "$T/pki" client \
  || { echo "FAIL: make-certs"; exit 1; }

config w2 w1 127.0.0.1:1 > "$T/w2.toml"
"$WORKERD" -c "$T/w2.toml" > "$T/w2.log" 2>&1 & pids+=($!)
p2=$(bound_port "$T/w2.log") || { cat "$T/w2.log"; echo "FAIL: w2 did not start"; exit 1; }
config w1 w2 "127.0.0.1:$p2" > "$T/w1.toml"
"$WORKERD" -c "$T/w1.toml" > "$T/w1.log" 2>&1 & w1pid=$!; pids+=("$w1pid")
p1=$(bound_port "$T/w1.log") || { cat "$T/w1.log"; echo "FAIL: w1 did not start"; exit 1; }

export VOLMIGRATE_CA=$T/pki/ca.crt VOLMIGRATE_CERT=$T/pki/operator.crt VOLMIGRATE_KEY=$T/pki/operator.key
S=(--server "127.0.0.1:$p1" --server-name w1)

expect 0 "migratectl --help" -- "$CTL" --help
[[ "$out" == *"Exit status:"* && "$out" == *"drain"* ]] && ok "help lists commands and exit codes" || bad "help text: $out"
expect 0 "migratectl migrate --help" -- "$CTL" migrate --help
expect 2 "unknown subcommand is a usage error" -- "$CTL" frobnicate
expect 0 "health over mTLS" -- "$CTL" "${S[@]}" health
[[ "$out" == "worker w1 is serving"*"w2 (127.0.0.1:$p2)"* ]] && ok "health names worker and peer" || bad "health: $out"
expect 0 "volumes over mTLS" -- "$CTL" "${S[@]}" volumes
[ "$out" = "no volumes" ] && ok "volumes table" || bad "volumes: $out"
expect 0 "volumes --json" -- "$CTL" "${S[@]}" volumes --json
[ "$out" = '{"volumes":[]}' ] && ok "volumes JSON" || bad "volumes json: $out"
expect 0 "migrations" -- "$CTL" "${S[@]}" migrations --all
expect 3 "migrate to an unknown worker" -- "$CTL" "${S[@]}" migrate vol-1 --to w9
[[ "$out" == "migratectl: NOT_FOUND: unknown worker 'w9' (peers of w1: w2)" ]] && ok "one clear line" || bad "migrate w9: $out"
expect 3 "status of an unknown migration" -- "$CTL" "${S[@]}" status mig-1
expect 4 "invalid volume id refused" -- "$CTL" "${S[@]}" volume show 'Bad/Id'
expect 2 "bad size is a usage error" -- "$CTL" "${S[@]}" volume create vol-1 --size 10X
expect 0 "drain of an empty worker" -- "$CTL" "${S[@]}" drain w1
expect 4 "drain of another worker refused" -- "$CTL" "${S[@]}" drain w2
expect 3 "drain --abort with no drain running: not found" -- "$CTL" "${S[@]}" drain --abort
expect 2 "rebalance needs --plan or --apply" -- "$CTL" "${S[@]}" rebalance
expect 4 "rebalance of a worker without storage refused" -- "$CTL" "${S[@]}" rebalance --plan
expect 5 "unreachable workerd" -- "$CTL" --server 127.0.0.1:1 --timeout 2 health
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && ok "unreachable: one line" || bad "unreachable: $out"
expect 5 "wrong server name refused by the client" -- "$CTL" --server "127.0.0.1:$p1" --server-name w2 --timeout 3 health
# Only operators operate: a certificate of the same CA that is no operator's
# (a worker's, a stray client's) is refused, even for reading.
for who in client w2; do
  expect 6 "$who may not list volumes" -- env VOLMIGRATE_CERT="$T/pki/$who.crt" VOLMIGRATE_KEY="$T/pki/$who.key" \
    "$CTL" "${S[@]}" volumes
  [[ "$out" == *"PERMISSION_DENIED: client certificate '$who' is not an operator of worker w1"* ]] \
    && ok "$who refused by name" || bad "$who: $out"
done
expect 2 "missing client cert" -- env VOLMIGRATE_CERT="$T/nope.crt" "$CTL" "${S[@]}" health
[[ "$out" == *"$T/nope.crt"* ]] && ok "missing cert named" || bad "missing cert: $out"

# workerd's own checks.
expect 0 "workerd --check with a live peer" -- "$WORKERD" -c "$T/w1.toml" --check
expect 1 "workerd --check with an unreachable peer" -- "$WORKERD" -c "$T/w2.toml" --check
[[ "$out" == "workerd: unreachable peer(s): w1 at 127.0.0.1:1:"* && "$(printf '%s\n' "$out" | wc -l)" = 1 ]] \
  && ok "unreachable peer: one line" || bad "check: $out"
printf 'worker = "w3"\nlisten = "127.0.0.1:0"\ndata_dir = "%s/w3"\nbogus = 1\n' "$T" > "$T/bad.toml"
expect 1 "bad config" -- "$WORKERD" -c "$T/bad.toml"
[[ "$out" == "workerd: $T/bad.toml:4: unknown key 'bogus'"* ]] && ok "bad config: file, line, key" || bad "bad config: $out"
sed "s#$T/pki/w1.crt#$T/pki/missing.crt#; s#data_dir = .*#data_dir = \"$T/w1b\"#" "$T/w1.toml" > "$T/nocert.toml"
expect 1 "missing certificate" -- "$WORKERD" -c "$T/nocert.toml"
[[ "$out" == "workerd: TLS certificate: cannot open $T/pki/missing.crt: No such file or directory" ]] \
  && ok "missing cert: one line" || bad "missing cert: $out"
expect 1 "missing config file" -- "$WORKERD" -c "$T/none.toml"
mkdir -p "$T/w1c/state" && head -c 8192 /dev/zero | tr '\0' 'x' > "$T/w1c/state/data.mdb"
sed "s#data_dir = .*#data_dir = \"$T/w1c\"#" "$T/w1.toml" > "$T/corrupt.toml"
expect 1 "corrupt state store" -- "$WORKERD" -c "$T/corrupt.toml"
[[ "$out" == "workerd: opening state store $T/w1c/state/data.mdb:"* ]] && ok "corrupt store named" || bad "corrupt: $out"

# Graceful shutdown: SIGTERM, exit 0, within a deadline.
kill -TERM "$w1pid"
deadline=$((SECONDS + 10))
while kill -0 "$w1pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
wait "$w1pid"; rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: clean exit" || bad "SIGTERM: exit $rc"
grep -q "shutting down" "$T/w1.log" && ok "shutdown logged" || bad "no shutdown line in log"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
