# shellcheck shell=bash
# The guest side of bench_migration.sh (see lib.sh vm_run).

# secs FILE VOLUME HOOK: the seconds workerd's log gives for the latest run of a hook.
secs() { grep "vol=$2 hook .*/$3 took" "$1" | tail -1 | sed "s/.* took \([0-9.]*\) s.*/\1/"; }

# n0 FIELD FILE: a number field of migratectl --json, 0 when absent (proto3 leaves zeros out).
n0() { local v; v=$(jn "$1" < "$2"); echo "${v:-0}"; }

bench_reference_export() {
  lvcreate -q -y -V 272M -T vg0/pool -n ref >/dev/null
  head -c 64 /dev/urandom > /shared/ref.key
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 32768 --key-file /shared/ref.key /dev/vg0/ref
  cryptsetup open --key-file /shared/ref.key /dev/vg0/ref ref
  dd if=/dev/urandom of=/dev/mapper/ref bs=4M oflag=direct status=none || true
  cryptsetup close ref
  tgtadm --lld iscsi --op new --mode target --tid 9 -T iqn.2026-11.io.volmigrate:bench
  tgtadm --lld iscsi --op new --mode logicalunit --tid 9 --lun 1 -b /dev/vg0/ref
  tgtadm --lld iscsi --op bind --mode target --tid 9 -I ALL
}

bench_reference_rates() {
  iscsiadm -m node -o new -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 >/dev/null
  iscsiadm -m node -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 --login >/dev/null
  d=  # the session's disk, found by the condition
  wait_until --every 0.1 10 'd=$(ls /sys/class/iscsi_session/*/device/target*/*/block 2>/dev/null | head -1); [ -n "$d" ] && [ -b /dev/$d ]'
  sleep 1
  t0=$(date +%s.%N); dd "if=/dev/$d" of=/dev/null bs=4M count=64 iflag=direct status=none; t1=$(date +%s.%N)
  echo "raw $(echo "268435456 / ($t1 - $t0)" | bc)"
  cryptsetup open --readonly --key-file /shared/ref.key "/dev/$d" ref-src
  lvcreate -q -y -V 272M -T vg0/pool -n ref >/dev/null
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 32768 --key-file /shared/ref.key /dev/vg0/ref
  cryptsetup open --key-file /shared/ref.key /dev/vg0/ref ref
  t0=$(date +%s.%N); dd if=/dev/mapper/ref-src of=/dev/mapper/ref bs=4M count=64 iflag=direct oflag=direct status=none; t1=$(date +%s.%N)
  echo "ceiling $(echo "268435456 / ($t1 - $t0)" | bc)"
  cryptsetup close ref; cryptsetup close ref-src; lvremove -q -y vg0/ref >/dev/null
  iscsiadm -m node -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 --logout >/dev/null
  iscsiadm -m node -o delete -T iqn.2026-11.io.volmigrate:bench >/dev/null
}

bench_migrate() {
  local v=$1 s=$2
  held=$(held_bytes "$v") tx0=$(cat /sys/class/net/eth0/statistics/tx_bytes)
  id=$(ctl --json migrate "$v" --to w2 --detach | jf id)
  # One watcher streaming changes (the source mirrors the destination's
  # progress): polling with a process per sample took the source's one CPU
  # in its blackout.
  ctl --json watch "$id" | while read -r l; do echo "$EPOCHREALTIME $l"; done > "/shared/samples-$v"
  tx1=$(cat /sys/class/net/eth0/statistics/tx_bytes)
  ctl2 --json status "$id" > /tmp/m
  h0=$(grep -o '"at_unix_ms":"[0-9]*","from":"[A-Z_]*","to":"HYDRATING"' /tmp/m | cut -d'"' -f4)
  h1=$(grep -o '"at_unix_ms":"[0-9]*","from":"[A-Z_]*","to":"CUT_OVER"' /tmp/m | cut -d'"' -f4)
  echo "live $v $s $(n0 blackout_seconds /tmp/m) $(n0 total_bytes /tmp/m) $(n0 discarded_bytes /tmp/m) $((h1 - h0)) $held $((tx1 - tx0)) $(secs /shared/workerd.log "$v" consumer-stop) $h0 $h1"

}

bench_destination() {
  local v=$1
  pkill -f guest/cpu-sampler || true
  echo "dst $v $(held_bytes "$v") $(secs /shared/workerd.log "$v" consumer-start)"
}

bench_raw_volume() {
  ctl --timeout 300 volume create raw-1g --size 1G >/dev/null
  cryptsetup open --key-file /var/lib/volmigrate/keys/raw-1g.key /dev/vg0/raw-1g raw-1g
  "$VM_HERE/guest/rawblocks" write /dev/mapper/raw-1g 1024 10240 /shared/raw-init.manifest
  "$VM_HERE/guest/consumer" start raw-1g /dev/mapper/raw-1g
}

# bench_sample_cpu VOLUME: workerd's CPU sampled into /shared/cpu-VOLUME (guest/cpu-sampler).
bench_sample_cpu() {
  rm -f "/shared/cpu-$1"
  setsid "$VM_HERE/guest/cpu-sampler" "/shared/cpu-$1" "$(pgrep -x workerd)" < /dev/null > /dev/null 2>&1 &
}
