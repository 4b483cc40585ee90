#!/usr/bin/env bash
# Benchmark (prints figures; not a test): what holds dm-clone's hydration
# below the copy ceiling. Two TCG guests, no workerd: w1 exports a dense
# volume (128 MiB of data) and a scattered one (64 MiB at 1024 blocks of
# 64 KiB in 1 GiB); w2 hydrates a clone of each over iSCSI the way workerd
# builds it, one setting changed at a time from workerd's (hydration_threshold
# 256, batch 32, kcopyd sub-jobs of 512 KiB, tgt rdwr, no consumer I/O,
# dm-crypt's workqueues on), and a plain dd copy through the same layers
# gives the ceiling in the same run. Every rate is over the bytes dm-clone had
# to copy (the regions outside the scattered volume's data are marked copied
# first, as workerd does). The source's page cache is dropped before each
# run. Guest side: guest/hydration-bench. BENCH_RUNS="base noread ...": only
# the runs named (the base runs and the ceilings always run); BENCH_PASSES=N:
# the whole list N times over. Run `under` is the other design: dm-clone of
# the ciphertext (the raw LUN) under dm-crypt, no cipher in the copy.
source "$(dirname "$0")/lib.sh"
G=$VM_HERE/guest/hydration-bench
vm_setup
VM_DISK_SIZE=4G vm_boot w1 1 && VM_DISK_SIZE=4G vm_boot w2 2 || exit 1
vm_wait_ready w1 && vm_wait_ready w2 || exit 1
vm_run w1 600 "$G source" || exit 1
cp "$VM_RUN/w1/shared/bench.key" "$VM_RUN/w1/shared/scat.manifest" "$VM_RUN/w2/shared/"
vm_run w2 300 "$G dest" || exit 1
out=$VM_RUN/results
# tgt's rdwr store reads the source's LVs through their page cache; everything
# on w2 is direct I/O. (drop_caches would also drop the guests' cached
# binaries, read again over 9p at a crawl.)
drop='blockdev --flushbufs /dev/vg0/dense /dev/vg0/scat'
: > "$out"
# ceiling: the reference rates again; the guests' speed drifts within a run.
# With each, the scattered volume's own ceiling: its blocks copied with one
# 64 KiB I/O each, one and 32 at a time.
ceiling() {
  local c
  for c in ceiling "scatceil 1" "scatceil 32"; do
    vm_run w1 60 "$drop" || exit 1
    vm_run w2 300 "$G $c" | tee -a "$out"
    [ "${PIPESTATUS[0]}" = 0 ] || exit 1
  done
}
ceiling

# run NAME VOL BSTYPE THRESHOLD BATCH SUBJOB_KB CONSUMER CRYPT [QUEUE_DEPTH]
run() {
  local name=$1; shift
  case " base base-again ${BENCH_RUNS:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  vm_run w1 60 "$drop" || exit 1
  vm_run w2 900 "$G hydrate $*" > "$VM_RUN/run.out" || { cat "$VM_RUN/run.out"; exit 1; }
  sed -n "s/^queue_depth /$name: the source disk's queue_depth /p" "$VM_RUN/run.out"
  sed -n "s/^hydrated /run $name $1 /p" "$VM_RUN/run.out" | tee -a "$out"
}
# Each setting against the same volume's base run; base again last, to show
# the drift within the run.
for vol in $(for _ in $(seq "${BENCH_PASSES:-1}"); do echo dense scat; done); do
  run base        "$vol" rdwr 256  32  512  none        default
  run light       "$vol" rdwr 256  32  512  light       default
  run iscsiadm    "$vol" rdwr 256  32  512  iscsiadm    default
  run ticks       "$vol" rdwr 256  32  512  ticks       default
  run busy        "$vol" rdwr 256  32  512  busy        default
  run busy-beside "$vol" rdwr 256  32  512  busy-beside default
  run busy-deep   "$vol" rdwr 1024 128 512  busy        default
  run deep        "$vol" rdwr 1024 128 512  none        default
  run subjob1024  "$vol" rdwr 256  32  1024 none        default
  run aio         "$vol" aio  256  32  512  none        default
  run thr128      "$vol" rdwr 128  32  512  none        default
  run thr64       "$vol" rdwr 64   32  512  none        default
  run noqueue     "$vol" rdwr 256  32  512  none        noqueue
  run noread      "$vol" rdwr 256  32  512  none        noread
  run nowrite     "$vol" rdwr 256  32  512  none        nowrite
  run qd64        "$vol" rdwr 256  32  512  none        default 64
  run under       "$vol" rdwr 256  32  512  none        under
  run base-again  "$vol" rdwr 256  32  512  none        default
  ceiling
done

echo
echo "== dm-clone hydration over iSCSI, two TCG guests, one run"
awk '
  $1 == "raw" { raw += $2; nraw++ }
  $1 == "ceiling" { ceil += $2; nceil++; if (!min || $2 < min) min = $2; if ($2 > max) max = $2 }
  $1 == "scatceil" { sc[$2] += $3; nsc[$2]++ }
  $1 == "run" { runs[++n] = $0 }
  END {
    raw /= nraw; ceil /= nceil; sc1 = sc[1] / nsc[1]; sc32 = sc[32] / nsc[32]; best = (sc32 > sc1 ? sc32 : sc1)
    for (i = 1; i <= n; i++) {
      split(runs[i], f, " "); rate = f[5] / f[4]
      own = (f[3] == "scat" ? sprintf("%6.2f of the blocks copied", rate / best) : "")
      printf "%-11s %-6s %7.2f s %8.1f MiB %8.2f MB/s %6.2f of ceiling %6.2f of raw read %6.2f link bytes/copied %s\n",
             f[2], f[3], f[4], f[5] / 1048576, rate / 1e6, rate / ceil, rate / raw, f[6] / f[5], own
    }
    printf "raw sequential read over iSCSI: %.2f MB/s; copy ceiling (dd 4 MiB direct, view to LUKS2 device): %.2f MB/s (mean of %d: %.2f to %.2f)\n",
           raw / 1e6, ceil / 1e6, nceil, min / 1e6, max / 1e6
    printf "scat'"'"'s blocks copied with one 64 KiB direct I/O each (view to LUKS2 device): %.2f MB/s one at a time, %.2f MB/s 32 at a time (means of %d)\n",
           sc1 / 1e6, sc32 / 1e6, nsc[1]
  }' "$out"
vm_finish
