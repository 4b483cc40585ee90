#!/usr/bin/env bash
# workerd's metrics as Prometheus sees them: a real Prometheus server
# (Debian's package) on loopback scrapes a real workerd, and its query API
# answers for a migration metric. The migration is a finished one left in the
# state store (no migration runs on the host; the VM tests read the same
# metrics after real ones).
#   prometheus_test.sh WORKERD SEED_MIGRATION
set -euo pipefail
WORKERD=$1 SEED=$2
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

# until SECONDS CMD...: runs CMD every 0.2 s until it succeeds or time is up.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.2; done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$T/data" && chmod 700 "$T/data"
"$SEED" "$T/data/state" m-seeded 4.5 30 || fail "seeding the state store"
cat > "$T/workerd.toml" <<TOML
worker = "w2"
listen = "127.0.0.1:0"
data_dir = "$T/data"
plaintext = true
[metrics]
listen = "127.0.0.1:0"
TOML
"$WORKERD" -c "$T/workerd.toml" > "$T/workerd.log" 2>&1 & pids+=($!)
metrics_port() { sed -n 's/.*metrics on .* (port \([0-9]*\)).*/\1/p' "$T/workerd.log" | head -1; }
has_port() { [ -n "$(metrics_port)" ]; }
until_ok 20 has_port || fail "workerd did not start its metrics server"
mp=$(metrics_port)
curl -fsS "http://127.0.0.1:$mp/metrics" > "$T/scrape.txt" || fail "GET /metrics"
grep -q '^volmigrate_migration_blackout_seconds_count 1$' "$T/scrape.txt" || fail "no blackout in: $(cat "$T/scrape.txt")"
echo "ok: workerd serves /metrics on port $mp"

pp=$(free_port)
cat > "$T/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: workerd
    static_configs:
      - targets: ["127.0.0.1:$mp"]
YAML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
  --web.listen-address="127.0.0.1:$pp" > "$T/prometheus.log" 2>&1 & pids+=($!)
until_ok 60 curl -fsS -o /dev/null "http://127.0.0.1:$pp/-/ready" || fail "prometheus did not become ready"
echo "ok: prometheus ready on port $pp"

# The query API's answer: {"status":"success","data":{"resultType":"vector","result":[{..."value":[T,"1"]}]}}
query() { curl -fsS "http://127.0.0.1:$pp/api/v1/query" --data-urlencode "query=$1"; }
scraped() {
  query 'volmigrate_migrations_ended_total{outcome="done",side="destination"}' > "$T/q.json" &&
    grep -q '"value":\[[0-9.]*,"1"\]' "$T/q.json"
}
until_ok 60 scraped || fail "prometheus has no finished migration: $(cat "$T/q.json")"
echo "ok: prometheus answers volmigrate_migrations_ended_total: $(cat "$T/q.json")"
query 'volmigrate_migration_blackout_seconds_sum / volmigrate_migration_blackout_seconds_count' > "$T/q.json"
grep -q '"value":\[[0-9.]*,"4.5"\]' "$T/q.json" || fail "mean blackout is not 4.5 s: $(cat "$T/q.json")"
echo "ok: mean blackout through PromQL: 4.5 s"
query 'up{job="workerd"}' > "$T/q.json"
grep -q '"value":\[[0-9.]*,"1"\]' "$T/q.json" || fail "the target is not up: $(cat "$T/q.json")"
echo "ok: the scrape target is up"
