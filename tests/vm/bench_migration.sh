#!/usr/bin/env bash
# Benchmark (prints figures; not a test): in one run on two guests,
#  - blackout of live migration for sparse volumes of 256 MiB, 1 GiB and 4 GiB
#    holding the same 32 MiB of files, beside kill-copy-boot: the whole volume
#    copied over the same iSCSI link before the consumer could start;
#  - hydration throughput against a raw sequential read of the source over the
#    same link (ciphertext, and through dm-crypt as hydration reads it);
#  - bytes sent by the source per byte the filesystem uses.
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

for s in $SIZES; do
  v=vol-$s
  vm_run w1 600 "$(workers_volume_cmd $v $s 32) >/dev/null" || exit 1
  vm_run w1 1800 "$JSONF
    used=\$(df -B1 --output=used /mnt/$v | tail -1)
    tx0=\$(cat /sys/class/net/eth0/statistics/tx_bytes)
    $CTL --json migrate $v --to w2 --detach | jf id > /tmp/id
    $CTL watch \$(cat /tmp/id) > /dev/null
    tx1=\$(cat /sys/class/net/eth0/statistics/tx_bytes)
    $CTL2 --json status \$(cat /tmp/id) > /tmp/m
    h0=\$(grep -o '\"at_unix_ms\":\"[0-9]*\",\"from\":\"[A-Z_]*\",\"to\":\"HYDRATING\"' /tmp/m | cut -d'\"' -f4)
    h1=\$(grep -o '\"at_unix_ms\":\"[0-9]*\",\"from\":\"[A-Z_]*\",\"to\":\"CUT_OVER\"' /tmp/m | cut -d'\"' -f4)
    echo \"live $s \$(jn blackout_seconds < /tmp/m) \$(jn total_bytes < /tmp/m) \$(jn discarded_bytes < /tmp/m) \$((h1 - h0)) \$used \$((tx1 - tx0))\"
  " | grep '^live ' | tee -a "$out" || exit 1
  # Kill-copy-boot: the same volume (now retired on w1) exported whole and
  # copied to a local LV over the same link before anything could boot.
  vm_run w1 300 "
    lv=\$(lvs --noheadings -o lv_name -S 'lv_tags=volmigrate_retired' vg0 | tr -d ' ' | tail -1)
    tgtadm --lld iscsi --op new --mode target --tid 9 -T iqn.2026-11.io.volmigrate:bench
    tgtadm --lld iscsi --op new --mode logicalunit --tid 9 --lun 1 -b /dev/vg0/\$lv
    tgtadm --lld iscsi --op bind --mode target --tid 9 -I ALL" || exit 1
  vm_run w2 3600 "
    iscsiadm -m node -o new -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 >/dev/null
    iscsiadm -m node -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 --login >/dev/null
    for i in \$(seq 100); do d=\$(ls /sys/class/iscsi_session/*/device/target*/*/block 2>/dev/null | head -1); [ -n \"\$d\" ] && break; sleep 0.1; done
    lvcreate -q -y -V \$(blockdev --getsize64 /dev/\$d)b -T vg0/pool -n copy >/dev/null
    t0=\$(date +%s.%N)
    dd if=/dev/\$d of=/dev/vg0/copy bs=4M iflag=direct oflag=direct status=none
    t1=\$(date +%s.%N)
    if [ $s = ${SIZES%% *} ]; then   # raw reads over the link, once
      r0=\$(date +%s.%N); dd if=/dev/\$d of=/dev/null bs=4M count=64 iflag=direct status=none; r1=\$(date +%s.%N)
      echo \"raw \$(echo \"268435456 / (\$r1 - \$r0)\" | bc)\"
    fi
    echo \"copy $s \$(echo \"\$t1 - \$t0\" | bc)\"
    iscsiadm -m node -T iqn.2026-11.io.volmigrate:bench -p 169.254.0.1:3260 --logout >/dev/null
    iscsiadm -m node -o delete -T iqn.2026-11.io.volmigrate:bench >/dev/null
    lvremove -q -y vg0/copy >/dev/null" | grep -E '^(copy|raw) ' | tee -a "$out" || exit 1
  vm_run w1 60 "tgtadm --lld iscsi --op delete --mode target --tid 9 --force" || exit 1
done

echo
echo "== live migration vs kill-copy-boot (same 32 MiB of files in each volume; two TCG guests)"
awk '
  $1 == "raw" { raw = $2 }
  $1 == "live" { b[$2] = $3; total[$2] = $4; disc[$2] = $5; hyd[$2] = $6 / 1000; used[$2] = $7; tx[$2] = $8; order[n++] = $2 }
  $1 == "copy" { copy[$2] = $3 }
  END {
    printf "%-8s %12s %16s %8s %14s %14s %12s\n", "volume", "blackout s", "kill-copy-boot s", "ratio", "hydration MB/s", "of raw read", "sent/used"
    for (i = 0; i < n; i++) {
      s = order[i]; kcb = copy[s] + b[s]; copied = total[s] - disc[s]; rate = (hyd[s] > 0 ? copied / hyd[s] : 0)
      printf "%-8s %12.2f %16.2f %8.3f %14.2f %14.2f %12.2f\n", s " MiB", b[s], kcb, b[s] / kcb, rate / 1e6, (raw > 0 ? rate / raw : 0), tx[s] / used[s]
    }
    printf "raw sequential read of the source over the link: %.2f MB/s\n", raw / 1e6
    print "kill-copy-boot = time to copy the whole volume over iSCSI + the live blackout (fence and boot, the same in both)"
    print "sent/used = bytes the source sent on its link during the migration / bytes the filesystem uses"
  }' "$out"
vm_finish
