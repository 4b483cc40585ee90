#!/usr/bin/env bash
# Benchmark (prints figures; not a test), in one run on two guests:
#  - the link's two reference rates, from a 256 MiB volume on w1 filled with
#    data and exported to w2: a raw sequential read of its ciphertext over
#    iSCSI, and the plaintext copy ceiling: dd with large direct I/O from its
#    read-only LUKS2 view to a LUKS2 device on w2 (the decrypt and encrypt a
#    plaintext clone would do, without dm-clone; workerd clones the
#    ciphertext, so its hydration may pass this one and the raw read is its
#    own ceiling);
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
VM_GUEST+=" $VM_HERE/guest/bench.sh"
SIZES=${BENCH_SIZES:-256 1024 4096}
workers_boot 6G 6G
workers_config w1 1
workers_config w2 2
WORKERS_POOL=5G workers_start w1 && WORKERS_POOL=5G workers_start w2 || exit 1
out=$VM_RUN/results
: > "$out"

# The reference rates.
vm_run w1 600 "bench_reference_export" >/dev/null || exit 1
cp "$VM_RUN/w1/shared/ref.key" "$VM_RUN/w2/shared/ref.key"
vm_run w2 900 "bench_reference_rates" | grep -E '^(raw|ceiling) ' | tee -a "$out" || exit 1
vm_run w1 60 "tgtadm --lld iscsi --op delete --mode target --tid 9 --force; lvremove -q -y vg0/ref >/dev/null" || exit 1

# migrate VOLUME SIZE_MIB: one live migration, sampled every half second.
migrate() {
  local v=$1 s=$2
  # The destination's CPU, sampled through the migration (guest/cpu-sampler).
  vm_run w2 60 "bench_sample_cpu $v" || exit 1
  vm_run w1 3600 "bench_migrate $v $s" | grep '^live ' | tee -a "$out" || exit 1
  vm_run w2 60 "bench_destination $v" | grep '^dst ' | tee -a "$out" || exit 1
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
  vm_run w1 600 "volume_make vol-$s $s 32 >/dev/null" || exit 1
  migrate "vol-$s" "$s"
done
vm_run w1 600 "bench_raw_volume" >/dev/null || exit 1
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
