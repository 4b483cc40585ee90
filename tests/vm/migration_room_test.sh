#!/usr/bin/env bash
# What a migration copies and what it needs on the destination, between two guests:
#  - a volume that holds more than the destination's pool has room for (its
#    data, clone metadata and the pool reserve) is refused with the bytes
#    named, and nothing changes;
#  - a raw volume (no filesystem) of 1 GiB made and attached by workerd (its
#    consumer, a raw writer, running), 64 MiB written at scattered 64 KiB
#    blocks, migrates to a worker whose pool (300 MiB) fits what the source
#    holds but not the volume's size: only the source's data crosses the
#    link, the destination's pool grows by what the source holds, the kernel
#    logs no error; there it is detached, attached again (its consumer writes
#    again), detached, every block written (before, and by the writer on both
#    sides) verifies, and it is deleted: the whole lifecycle through the API.
# The two workers run as a fleet: neither lists the other; each trusts the
# other by the worker role in its certificate and reaches it by the address
# template; a certificate of the same CA without that role is refused on the
# peer API.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
VM_GUEST+=" $VM_HERE/guest/room.sh"
t0=$SECONDS
workers_boot 3G 2G
WORKERS_FLEET=1 workers_config w1 1
WORKERS_FLEET=1 workers_config w2 2
WORKERS_POOL=1600M workers_start w1 || exit 1
WORKERS_POOL=300M workers_start w2 || exit 1
vm_check w1 30 "a fleet: no peers listed; w2's peer API takes w1's worker-role certificate and refuses w3's (no role)" \
  room_fleet_roles

vm_check w1 300 "w1: raw (1 GiB, no filesystem, 64 MiB at scattered blocks, raw writer running); fat (320 MiB written)" "room_make_volumes"

vm_check w1 60 "fat does not fit w2: refused naming the bytes, nothing changed" "room_fat_refused"

vm_run w2 20 "cat /sys/class/net/eth0/statistics/rx_bytes" > "$VM_RUN/rx0" || vm_fail "w2 link counter"
vm_run w1 20 "held_bytes raw" > "$VM_RUN/src-bytes" || vm_fail "w1 raw allocation"
vm_log "migrating raw ($(cat "$VM_RUN/src-bytes") bytes held by w1's pool) to w2 (pool 300 MiB)"
vm_check w1 900 "raw migrates to w2: DONE on both sides" "room_migrate_raw"
MIG=$(cat "$VM_RUN/w1/shared/mig")
vm_run w2 20 "cat /sys/class/net/eth0/statistics/rx_bytes" > "$VM_RUN/rx1" || vm_fail "w2 link counter"
mkdir -p "$VM_RUN/w2/shared/from-w1" && cp "$VM_RUN/w1/shared/dst.json" "$VM_RUN/w1/shared/raw-init.manifest" \
  "$VM_RUN/w1/shared/raw-raw.log" "$VM_RUN/w2/shared/from-w1/"

HELD=$(cat "$VM_RUN/src-bytes") RX=$(( $(cat "$VM_RUN/rx1") - $(cat "$VM_RUN/rx0") ))
vm_check w2 60 "w2: the map skipped what the source does not hold; the pool grew by what it holds; the link carried it" "room_pool_and_link $HELD $RX" && vm_log "$(echo "$VM_OUT" | grep '^source held')"

vm_check w2 30 "w2's metrics (GET /metrics): the migration ended done, its blackout, hydration time and skipped bytes" room_metrics

vm_check w1 120 "w1: the retired source copy holds every block written there" "room_retired_copy_verifies $MIG"
vm_check w2 120 "w2: detached (twice: consumer stopped, closed), attached again (consumer writing), detached" \
  room_detach_and_attach_again
vm_check w2 300 "every block written (before, on w1 while running, on w2 since boot, after the new attach) reads back" \
  room_every_block_reads_back
vm_check w2 60 "w2: deleted through the API: no LV, no key, no volume" room_delete

vm_log "room test $((SECONDS - t0))s in all"
vm_finish
