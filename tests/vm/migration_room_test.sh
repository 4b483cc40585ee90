#!/usr/bin/env bash
# What a migration copies and what it needs on the destination, between two guests:
#  - a volume that holds more than the destination's pool has room for (its
#    data, clone metadata and the pool reserve) is refused with the bytes
#    named, and nothing changes;
#  - a raw volume (no filesystem) of 1 GiB made by workerd, 64 MiB written at
#    scattered 64 KiB blocks and a raw writer running on it, migrates to a
#    worker whose pool (300 MiB) fits what the source holds but not the
#    volume's size: only the source's data crosses the link, the destination's
#    pool grows by what the source holds, the kernel logs no error, and every
#    block written (before, and by the writer on both sides) verifies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
t0=$SECONDS
workers_boot 3G 2G
workers_config w1 1
workers_config w2 2
WORKERS_POOL=1600M workers_start w1 || exit 1
WORKERS_POOL=300M workers_start w2 || exit 1

# bytes NAME: the bytes the pool holds for thin LV NAME (size x data%).
BYTES='bytes() { lvs --noheadings --units b --nosuffix -o lv_size,data_percent "vg0/$1" | awk "{printf \"%d\", \$1 * \$2 / 100}"; }
'
vm_check w1 300 "w1: raw (1 GiB, no filesystem, 64 MiB at scattered blocks, raw writer running); fat (320 MiB written)" "
  $CTL --timeout 300 volume create raw --size 1G
  cryptsetup open --key-file /var/lib/volmigrate/keys/raw.key /dev/vg0/raw raw
  $VM_HERE/guest/rawblocks write /dev/mapper/raw 1024 10240 /shared/raw-init.manifest
  $VM_HERE/guest/consumer start raw /dev/mapper/raw
  $CTL --timeout 300 volume create fat --size 512M
  dd if=/dev/zero of=/dev/vg0/fat bs=4M seek=4 count=80 oflag=direct status=none
  lvs vg0"

vm_check w1 60 "fat does not fit w2: refused naming the bytes, nothing changed" "
  set +e
  $CTL migrate fat --to w2 2>/tmp/e; rc=\$?; cat /tmp/e
  set -e
  [ \$rc = 4 ]
  grep -qE 'RESOURCE_EXHAUSTED: destination w2 has [0-9]+ bytes free in its thin pool; volume fat holds [0-9]+ bytes and needs [0-9]+ with its clone metadata and the reserve' /tmp/e
  [ \"\$($CTL --json migrations -a)\" = '{\"migrations\":[]}' ]
  [ \"\$($CTL2 --json volumes)\" = '{\"volumes\":[]}' ]"

vm_run w2 20 "cat /sys/class/net/eth0/statistics/rx_bytes" > "$VM_RUN/rx0" || vm_fail "w2 link counter"
vm_run w1 20 "$BYTES bytes raw" > "$VM_RUN/src-bytes" || vm_fail "w1 raw allocation"
vm_log "migrating raw ($(cat "$VM_RUN/src-bytes") bytes held by w1's pool) to w2 (pool 300 MiB)"
vm_check w1 900 "raw migrates to w2: DONE on both sides" "
  id=\$($CTL --json migrate raw --to w2 --detach | jf id); echo \$id > /shared/mig
  $CTL watch \$id
  $CTL2 --json status \$id | tee /shared/dst.json | jf state | grep -qx DONE"
MIG=$(cat "$VM_RUN/w1/shared/mig")
vm_run w2 20 "cat /sys/class/net/eth0/statistics/rx_bytes" > "$VM_RUN/rx1" || vm_fail "w2 link counter"
mkdir -p "$VM_RUN/w2/shared/from-w1" && cp "$VM_RUN/w1/shared/dst.json" "$VM_RUN/w1/shared/raw-init.manifest" \
  "$VM_RUN/w1/shared/raw-raw.log" "$VM_RUN/w2/shared/from-w1/"

vm_check w2 60 "w2: the map skipped what the source does not hold; the pool grew by what it holds; the link carried it" "
  $BYTES
  held=$(cat "$VM_RUN/src-bytes") got=\$(bytes raw) rx=$(( $(cat "$VM_RUN/rx1") - $(cat "$VM_RUN/rx0") ))
  skipped=\$(jn discarded_bytes < /shared/from-w1/dst.json)
  echo \"source held \$held bytes; destination holds \$got (ratio \$(echo \"scale=3; \$got / \$held\" | bc)); \$rx bytes over the link (ratio \$(echo \"scale=3; \$rx / \$held\" | bc)); \$skipped bytes marked copied without reading; blackout \$(jn blackout_seconds < /shared/from-w1/dst.json) s\"
  [ \$skipped -gt \$((800 << 20)) ]
  [ \$((got * 100)) -le \$((held * 110)) ]
  [ \$((rx * 100)) -le \$((held * 120)) ]
  lvs vg0" && vm_log "$(echo "$VM_OUT" | grep '^source held')"

vm_check w1 120 "w1: the retired source copy holds every block written there" "
  cryptsetup open --readonly --key-file /var/lib/volmigrate/keys/$MIG-retired.key /dev/vg0/$MIG-retired retired
  $VM_HERE/guest/rawblocks verify /dev/mapper/retired /shared/raw-init.manifest /shared/raw-raw.log
  cryptsetup close retired"
vm_check w2 300 "every block written (before, on w1 while running, on w2 since boot) reads back" "
  $VM_HERE/guest/consumer stop raw /dev/mapper/raw
  wc -l /shared/from-w1/raw-* /shared/raw-raw.log
  [ -s /shared/raw-raw.log ]
  $VM_HERE/guest/rawblocks verify /dev/mapper/raw /shared/from-w1/raw-init.manifest /shared/from-w1/raw-raw.log /shared/raw-raw.log"

vm_log "room test $((SECONDS - t0))s in all"
vm_finish
