#!/usr/bin/env bash
# Benchmark (prints figures; not a test), in one run on two guests:
#  - the link's two reference rates, from a 256 MiB volume on w1 filled with
#    data and exported to w2: a raw sequential read of its ciphertext over
#    iSCSI, and the copy ceiling: dd with large direct I/O from its read-only
#    LUKS2 view to a LUKS2 device on w2 (the decrypt and encrypt hydration
#    does, without dm-clone);
#  - live migration of sparse volumes of 256 MiB, 1 GiB and 4 GiB holding the
#    same 32 MiB of files, and of a raw 1 GiB volume (no filesystem) with
#    64 MiB written at scattered 64 KiB blocks, each with its consumer
#    running: blackout and workerd's share of it (the rest is the consumer's
#    stop and start hooks), bytes sent on the source's link and the
#    destination pool's growth per byte the source pool held for the volume,
#    hydration rate against both reference rates, and the error of the ETA
#    shown when a tenth of the copy was done; where the destination's CPU
#    went while hydrating (user, system, idle, workerd's own).
# Sizes: BENCH_SIZES (MiB, default "256 1024 4096").
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
SIZES=${BENCH_SIZES:-256 1024 4096}
workers_boot 6G 6G
workers_config w1 1
workers_config w2 2
WORKERS_POOL=5G workers_start w1 && WORKERS_POOL=5G workers_start w2 || exit 1
out=$VM_RUN/results
: > "$out"
# bytes LV: what the pool holds for it.
BYTES='bytes() { lvs --noheadings --units b --nosuffix -o lv_size,data_percent "vg0/$1" | awk "{printf \"%d\", \$1 * \$2 / 100}"; }
'
# secs FILE VOLUME HOOK: the seconds workerd's log gives for the latest run of a hook.
SECS='secs() { grep "vol=$2 hook .*/$3 took" "$1" | tail -1 | sed "s/.* took \([0-9.]*\) s.*/\1/"; }
'

# n0 FIELD FILE: a number field of migratectl --json, 0 when absent (proto3 leaves zeros out).
N0='n0() { v=$(jn "$1" < "$2"); echo "${v:-0}"; }
'

# The reference rates.
vm_run w1 600 "
  lvcreate -q -y -V 272M -T vg0/pool -n ref >/dev/null
  head -c 64 /dev/urandom > /shared/ref.key
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 32768 --key-file /shared/ref.key /dev/vg0/ref
  cryptsetup open --key-file /shared/ref.key /dev/vg0/ref ref
  dd if=/dev/urandom of=/dev/mapper/ref bs=4M oflag=direct status=none || true
  cryptsetup close ref
  tgtadm --lld iscsi --op new --mode target --tid 9 -T iqn.2026-11.io.volmigrate:bench
  tgtadm --lld iscsi --op new --mode logicalunit --tid 9 --lun 1 -b /dev/vg0/ref
  tgtadm --lld iscsi --op bind --mode target --tid 9 -I ALL" >/dev/null || exit 1
cp "$VM_RUN/w1/shared/ref.key" "$VM_RUN/w2/shared/ref.key"
vm_run w2 900 "
  iscsiadm -m node -o new -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 >/dev/null
  iscsiadm -m node -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 --login >/dev/null
  wait_until --every 0.1 10 'd=\$(ls /sys/class/iscsi_session/*/device/target*/*/block 2>/dev/null | head -1); [ -n \"\$d\" ] && [ -b /dev/\$d ]'
  sleep 1
  t0=\$(date +%s.%N); dd if=/dev/\$d of=/dev/null bs=4M count=64 iflag=direct status=none; t1=\$(date +%s.%N)
  echo \"raw \$(echo \"268435456 / (\$t1 - \$t0)\" | bc)\"
  cryptsetup open --readonly --key-file /shared/ref.key /dev/\$d ref-src
  lvcreate -q -y -V 272M -T vg0/pool -n ref >/dev/null
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 32768 --key-file /shared/ref.key /dev/vg0/ref
  cryptsetup open --key-file /shared/ref.key /dev/vg0/ref ref
  t0=\$(date +%s.%N); dd if=/dev/mapper/ref-src of=/dev/mapper/ref bs=4M count=64 iflag=direct oflag=direct status=none; t1=\$(date +%s.%N)
  echo \"ceiling \$(echo \"268435456 / (\$t1 - \$t0)\" | bc)\"
  cryptsetup close ref; cryptsetup close ref-src; lvremove -q -y vg0/ref >/dev/null
  iscsiadm -m node -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 --logout >/dev/null
  iscsiadm -m node -o delete -T iqn.2026-11.io.volmigrate:bench >/dev/null" | grep -E '^(raw|ceiling) ' | tee -a "$out" || exit 1
vm_run w1 60 "tgtadm --lld iscsi --op delete --mode target --tid 9 --force; lvremove -q -y vg0/ref >/dev/null" || exit 1

# migrate VOLUME SIZE_MIB: one live migration, sampled every half second.
migrate() {
  local v=$1 s=$2
  # The destination's CPU, sampled through the migration (guest/cpu-sampler).
  vm_run w2 60 "rm -f /shared/cpu-$v; setsid $VM_HERE/guest/cpu-sampler /shared/cpu-$v \$(pgrep -x workerd) < /dev/null > /dev/null 2>&1 &" || exit 1
  vm_run w1 3600 "$BYTES $SECS $N0
    held=\$(bytes $v) tx0=\$(cat /sys/class/net/eth0/statistics/tx_bytes)
    id=\$($CTL --json migrate $v --to w2 --detach | jf id)
    # One watcher streaming changes (the source mirrors the destination's
    # progress): polling with a process per sample took the source's one CPU
    # in its blackout.
    $CTL --json watch \$id | while read -r l; do echo \"\$EPOCHREALTIME \$l\"; done > /shared/samples-$v
    tx1=\$(cat /sys/class/net/eth0/statistics/tx_bytes)
    $CTL2 --json status \$id > /tmp/m
    h0=\$(grep -o '\"at_unix_ms\":\"[0-9]*\",\"from\":\"[A-Z_]*\",\"to\":\"HYDRATING\"' /tmp/m | cut -d'\"' -f4)
    h1=\$(grep -o '\"at_unix_ms\":\"[0-9]*\",\"from\":\"[A-Z_]*\",\"to\":\"CUT_OVER\"' /tmp/m | cut -d'\"' -f4)
    echo \"live $v $s \$(n0 blackout_seconds /tmp/m) \$(n0 total_bytes /tmp/m) \$(n0 discarded_bytes /tmp/m) \$((h1 - h0)) \$held \$((tx1 - tx0)) \$(secs /shared/workerd.log $v consumer-stop) \$h0 \$h1\"
  " | grep '^live ' | tee -a "$out" || exit 1
  vm_run w2 60 "$BYTES $SECS
    pkill -f guest/cpu-sampler || true
    echo \"dst $v \$(bytes $v) \$(secs /shared/workerd.log $v consumer-start)\"" | grep '^dst ' | tee -a "$out" || exit 1
  # Its CPU while HYDRATING: the samples just before and just after.
  awk -v v="$v" -v h0="$(awk -v v="$v" '$1 == "live" && $2 == v { print $11 }' "$out")" \
      -v h1="$(awk -v v="$v" '$1 == "live" && $2 == v { print $12 }' "$out")" '
    $1 <= h0 { a = $0 } $1 >= h1 && !b { b = $0 }
    END { if (a && b) { split(a, x, " "); split(b, y, " "); print "cpu", v, y[2] - x[2], y[3] - x[3], y[4] - x[4], y[5] - x[5] } }' \
    "$VM_RUN/w2/shared/cpu-$v" | tee -a "$out"
  # ETA at a tenth of the copy against the time the rest took.
  awk -v v="$v" '
    function num(f,  s) {
      if (!match($0, "\"" f "\":\"?[0-9.e+-]+")) return 0
      s = substr($0, RSTART + length(f) + 3, RLENGTH - length(f) - 3); sub(/^"/, "", s); return s + 0
    }
    { t[NR] = $1; h[NR] = num("hydrated_bytes"); d = num("discarded_bytes"); tot = num("total_bytes"); eta[NR] = num("eta_seconds") }
    END {
      copy = tot - d
      for (i = 1; i <= NR; i++) if (tot > 0 && h[i] >= tot) { end = t[i]; break }
      for (i = 1; i <= NR; i++) if (h[i] - d >= copy / 10 && eta[i] > 0) { t10 = t[i]; e10 = eta[i]; break }
      if (t10 && end > t10) printf "eta %s %.2f %.2f\n", v, e10, end - t10
    }' "$VM_RUN/w1/shared/samples-$v" | tee -a "$out"
}

for s in $SIZES; do
  vm_run w1 600 "$(workers_volume_cmd "vol-$s" "$s" 32) >/dev/null" || exit 1
  migrate "vol-$s" "$s"
done
vm_run w1 600 "
  $CTL --timeout 300 volume create raw-1g --size 1G >/dev/null
  cryptsetup open --key-file /var/lib/volmigrate/keys/raw-1g.key /dev/vg0/raw-1g raw-1g
  $VM_HERE/guest/rawblocks write /dev/mapper/raw-1g 1024 10240 /shared/raw-init.manifest
  $VM_HERE/guest/consumer start raw-1g /dev/mapper/raw-1g" >/dev/null || exit 1
migrate raw-1g 1024

echo
echo "== live migration, two TCG guests, one run (volumes: 32 MiB of files each; raw-1g: 64 MiB at scattered blocks)"
awk '
  $1 == "raw" { raw = $2 }
  $1 == "ceiling" { ceil = $2 }
  $1 == "live" { v = $2; order[n++] = v; size[v] = $3; b[v] = $4; total[v] = $5; disc[v] = $6; hyd[v] = $7 / 1000; held[v] = $8; tx[v] = $9; stop[v] = $10 }
  $1 == "dst" { got[$2] = $3; start[$2] = $4 }
  $1 == "eta" { eta[$2] = $3; took[$2] = $4 }
  $1 == "cpu" { t = $3 + $4 + $5; cu[$2] = $3 / t; cs[$2] = $4 / t; ci[$2] = $5 / t; cw[$2] = $6 / t }
  END {
    printf "%-9s %9s %10s %9s %9s %10s %10s %8s %8s %12s\n", "volume", "blackout", "workerd", "held MiB", "sent/held", "grown/held", "hyd. MB/s", "/raw rd", "/ceiling", "ETA@10% err"
    for (i = 0; i < n; i++) {
      v = order[i]; copied = total[v] - disc[v]; rate = (hyd[v] > 0 ? copied / hyd[v] : 0)
      err = (took[v] > 0 ? sprintf("%+.0f%%", (eta[v] - took[v]) / took[v] * 100) : "n/a")
      printf "%-9s %8.2fs %9.2fs %9.1f %9.3f %10.3f %10.2f %8.2f %8.2f %12s\n", v, b[v], b[v] - stop[v] - start[v],
             held[v] / 1048576, tx[v] / held[v], got[v] / held[v], rate / 1e6, rate / raw, rate / ceil, err
    }
    printf "\nthe destination'"'"'s CPU while hydrating (share of its ticks; workerd is part of user and system)\n%-9s %8s %8s %8s %8s\n", "volume", "user", "system", "idle", "workerd"
    for (i = 0; i < n; i++) { v = order[i]; printf "%-9s %8.2f %8.2f %8.2f %8.2f\n", v, cu[v], cs[v], ci[v], cw[v] }
    printf "raw sequential read of the source over the link: %.2f MB/s; copy ceiling (LUKS2 view to LUKS2 device over the same link): %.2f MB/s\n", raw / 1e6, ceil / 1e6
    print "held = bytes the source pool held for the volume (its LUKS2 header included); sent = bytes the source sent on its link during the migration;"
    print "grown = bytes the destination pool holds for the volume after it; workerd = blackout less the consumer hooks (stop on the source, start on the destination)"
  }' "$out"
vm_finish
