#!/usr/bin/env bash
# Sealed volumes shipped to an LSVD object log and restored on the other guest,
# through workerd and migratectl, with the real thin pool, dm-crypt and
# thin_dump. The object store is a directory both guests mount (/objects).
#  - bad input refused, nothing changed: a missing volume, a restore with
#    nothing shipped, a restore over an existing volume, a data object as point;
#  - ship a volume with files and a running writer: only ciphertext in the
#    store, only what the thin pool allocated is shipped;
#  - unseal, change (writer plus 8 MiB of new files), ship again with workerd
#    killed before and after every step (a crash mid-upload among them): only
#    the changes go;
#  - on w2, restore both points (key fetched from w1 over mutual TLS): each is
#    byte for byte the source's sealed snapshot at that point, opens with its
#    key, fscks clean and every file's checksum verifies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
VM_GUEST+=" $VM_HERE/guest/lsvd.sh"
t0=$SECONDS
workers_boot 2G 2G
objstore='[objstore]
dir = "/objects"
object_mib = 2'
workers_config w1 1 "$objstore"
workers_config w2 2 "$objstore"
workers_start w1 || exit 1
workers_start w2 || exit 1

vm_check w1 300 "w1: vol1 (256 MiB, 24 MiB of files, consumer writing)" "volume_make vol1 256 24"
sleep 5  # the writer adds files, so the first point holds some of its own

vm_check w1 60 "bad input: ship a missing volume (exit 3), snapshots of an unshipped volume are empty" "lsvd_bad_ship_refused"
vm_check w2 60 "bad input on w2: restore with nothing shipped (exit 4), nothing made" "lsvd_bad_restore_refused"

vm_check w1 600 "ship 1: the whole volume's allocated blocks, sealed, ciphertext only" "lsvd_ship_first_point"
vm_log "$(grep '^shipped' <<< "$VM_OUT")"

vm_check w1 120 "unseal, change: 8 MiB of new files while the writer runs" "lsvd_unseal_and_change"

# The second ship with workerd SIGKILLed once before and once after every step.
workers_stop w1
vm_run w1 10 "rm -f /shared/workerd.log" >/dev/null
WORKERS_ENV="VOLMIGRATE_CRASH_DIR=/var/lib/volmigrate/crash" workers_start w1 || exit 1
vm_check w1 900 "ship 2 through 14 workerd crashes: only the changes go" "lsvd_ship_through_crashes"
vm_log "$(grep -E '^(crashes|point 2)' <<< "$VM_OUT")"
cp "$VM_RUN/w1/shared/"{cp1,cp2,h1,h2} "$VM_RUN/w2/shared/"

vm_check w2 60 "bad input on w2: a data object as the point (exit 4), over an existing volume (exit 4)" "lsvd_bad_point_refused"

for p in 1 2; do
  vm_check w2 600 "restore point $p on w2 (key from w1): the source's snapshot byte for byte, fsck clean, files verify" "lsvd_restore_point $p"
  vm_log "$(grep -E '^(restored|r[12] =|verified)' <<< "$VM_OUT")"
done
vm_log "lsvd test $((SECONDS - t0))s in all"
vm_finish
