# shellcheck shell=bash
# The guest side of migration_room_test.sh, one function per check (see
# lib.sh vm_run).

# peer_probe from here to w2 with certificate NAME: the status it got.
probe_w2() {
  "$VM_BUILD/tests/vm/peer_probe" w2.workers.test:7443 w2 /shared/tls/ca.crt "/shared/tls/$1.crt" "/shared/tls/$1.key"
}

room_fleet_roles() {
  if grep -q '^\[\[peers\]\]' /shared/workerd.toml; then echo "a peer is listed"; return 1; fi
  grep -A1 '^\[fleet\]' /shared/workerd.toml
  probe_w2 w1 | tee /tmp/w1 && grep -q '^INVALID_ARGUMENT' /tmp/w1  # a peer: past authorization
  probe_w2 w3 | tee /tmp/w3 && grep -q "^PERMISSION_DENIED: client certificate 'w3' is not a peer of worker w2 (it has no worker role" /tmp/w3
}

room_make_volumes() {
  ctl --timeout 300 volume create raw --size 1G
  ctl volume attach raw  # opened, and its consumer (a raw writer, from 640 MiB on) started
  ctl --json volume show raw | jf state | grep -qx VOLUME_STATE_IN_USE
  "$VM_HERE/guest/rawblocks" write /dev/mapper/raw 1024 10240 /shared/raw-init.manifest
  ctl --timeout 300 volume create fat --size 512M
  dd if=/dev/zero of=/dev/vg0/fat bs=4M seek=4 count=80 oflag=direct status=none
  lvs vg0
}

room_fat_refused() {
  set +e
  ctl migrate fat --to w2 2>/tmp/e; rc=$?; cat /tmp/e
  set -e
  [ $rc = 4 ]
  grep -qE 'RESOURCE_EXHAUSTED: destination w2 has [0-9]+ bytes free in its thin pool; volume fat holds [0-9]+ bytes and needs [0-9]+ with its clone metadata and the reserve' /tmp/e
  [ "$(ctl --json migrations -a)" = '{"migrations":[]}' ]
  [ "$(ctl2 --json volumes)" = '{"volumes":[]}' ]
}

room_migrate_raw() {
  id=$(ctl --json migrate raw --to w2 --detach | jf id); echo "$id" > /shared/mig
  ctl watch "$id"
  ctl2 --json status "$id" | tee /shared/dst.json | jf state | grep -qx DONE
}

room_pool_and_link() {
  local held=$1 rx=$2
  got=$(held_bytes raw)
  skipped=$(jn discarded_bytes < /shared/from-w1/dst.json)
  echo "source held $held bytes; destination holds $got (ratio $(echo "scale=3; $got / $held" | bc)); $rx bytes over the link (ratio $(echo "scale=3; $rx / $held" | bc)); $skipped bytes marked copied without reading; blackout $(jn blackout_seconds < /shared/from-w1/dst.json) s"
  [ "$skipped" -gt $((800 << 20)) ]
  [ $((got * 100)) -le $((held * 110)) ]
  [ $((rx * 100)) -le $((held * 120)) ]
  lvs vg0
}

# What Prometheus would read on the destination after the one migration: the
# same bytes and times as its record.
room_metrics() {
  curl -fsS http://127.0.0.1:9464/metrics > /tmp/metrics
  grep -E '^volmigrate_(migrations_ended_total|migration_(blackout|hydration)_seconds_(count|sum)|migration_bytes_total|thin_pool_bytes)' /tmp/metrics
  grep -qx 'volmigrate_migrations_ended_total{outcome="done",side="destination"} 1' /tmp/metrics
  grep -qx 'volmigrate_migration_blackout_seconds_count 1' /tmp/metrics
  grep -qx 'volmigrate_migration_hydration_seconds_count 1' /tmp/metrics
  local skipped hydration
  skipped=$(jn discarded_bytes < /shared/from-w1/dst.json) hydration=$(jn hydration_seconds < /shared/from-w1/dst.json)
  grep -qx "volmigrate_migration_bytes_total{kind=\"skipped\"} $skipped" /tmp/metrics
  echo "hydration took $hydration s"
  [ "$(echo "$hydration > 0" | bc)" = 1 ]
}

room_retired_copy_verifies() {
  local mig=$1
  cryptsetup open --readonly --key-file "/var/lib/volmigrate/keys/$mig-retired.key" "/dev/vg0/$mig-retired" retired
  "$VM_HERE/guest/rawblocks" verify /dev/mapper/retired /shared/raw-init.manifest /shared/raw-raw.log
  cryptsetup close retired
}

# lines_at_least FILE N: FILE has N lines or more.
lines_at_least() { [ "$(wc -l < "$1")" -ge "$2" ]; }

room_detach_and_attach_again() {
  local n
  ctl2 volume detach raw && ctl2 volume detach raw
  ctl2 --json volume show raw | jf state | grep -qx VOLUME_STATE_AVAILABLE
  fails pgrep -f ' writer /mnt/raw$'
  fails dmsetup info raw
  n=$(wc -l < /shared/raw-raw.log)
  ctl2 volume attach raw
  ctl2 --json volume show raw | jf state | grep -qx VOLUME_STATE_IN_USE
  wait_until 60 lines_at_least /shared/raw-raw.log $((n + 3))
  ctl2 volume detach raw
  fails pgrep -f ' writer /mnt/raw$'
}

room_every_block_reads_back() {
  wc -l /shared/from-w1/raw-* /shared/raw-raw.log
  [ -s /shared/raw-raw.log ]
  cryptsetup open --readonly --key-file /var/lib/volmigrate/keys/raw.key /dev/vg0/raw raw-check
  "$VM_HERE/guest/rawblocks" verify /dev/mapper/raw-check /shared/from-w1/raw-init.manifest /shared/from-w1/raw-raw.log /shared/raw-raw.log
  cryptsetup close raw-check
}

room_delete() {
  ctl2 volume delete raw
  fails lvs vg0/raw 2>/dev/null
  [ ! -e /var/lib/volmigrate/keys/raw.key ]
  [ "$(ctl2 --json volumes)" = '{"volumes":[]}' ]
}
