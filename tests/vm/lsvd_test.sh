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
t0=$SECONDS
workers_boot 2G 2G
objstore='[objstore]
dir = "/objects"
object_mib = 2'
workers_config w1 1 "$objstore"
workers_config w2 2 "$objstore"
workers_start w1 || exit 1
workers_start w2 || exit 1
# jv KEY [N]: the Nth value of KEY in migratectl's compact JSON on stdin.
J='jv() { grep -o "\"$1\":\"\?[^,}\"]*" | sed -n "${2:-1}p" | cut -d: -f2 | tr -d \"; }'

vm_check w1 300 "w1: vol1 (256 MiB, 24 MiB of files, consumer writing)" "$(workers_volume_cmd vol1 256 24)"
sleep 5  # the writer adds files, so the first point holds some of its own

vm_check w1 60 "bad input: ship a missing volume (exit 3), snapshots of an unshipped volume are empty" "
  rc=0; $CTL ship nope 2>/tmp/e || rc=\$?; cat /tmp/e; [ \$rc = 3 ]
  $CTL snapshots vol1 | grep -q 'no shipped points'
  grep -q volmigrate_volume <<< \"\$(lvs --noheadings -o lv_tags vg0/vol1)\""
vm_check w2 60 "bad input on w2: restore with nothing shipped (exit 4), nothing made" "
  rc=0; $CTL2 restore vol1 --as r1 --key-from w1 2>/tmp/e || rc=\$?; cat /tmp/e; [ \$rc = 4 ]
  grep -q 'no shipped point' /tmp/e
  fails lvs vg0/r1 2>/dev/null"

vm_check w1 600 "ship 1: the whole volume's allocated blocks, sealed, ciphertext only" "
  $CTL ship vol1
  $J
  $CTL --json volume show vol1 | grep -q '\"state\":\"VOLUME_STATE_SEALED\"'
  fails pgrep -f ' writer /mnt/vol1\$'
  $CTL --json snapshots vol1 > /tmp/s1; cat /tmp/s1
  jv checkpoint_object < /tmp/s1 > /shared/cp1
  lvs --noheadings --units b --nosuffix -o lv_size,data_percent vg0/vol1_p1
  sha256sum < /dev/vg0/vol1_p1 | cut -d' ' -f1 > /shared/h1
  shipped=\$(jv shipped_bytes < /tmp/s1)
  alloc=\$(lvs --noheadings --units b --nosuffix -o lv_size,data_percent vg0/vol1_p1 | awk '{printf \"%d\", \$1 * \$2 / 100}')
  echo \"shipped \$shipped bytes for \$alloc allocated of a 260 MiB device\"
  [ \$shipped -lt 120000000 ]
  # The filesystem's names are in plaintext on the device, never in the store.
  fails grep -rqa 'src-1' /objects/vol1
  fails grep -qa 'src-1' /dev/vg0/vol1_p1"
vm_log "$(grep '^shipped' <<< "$VM_OUT")"

vm_check w1 120 "unseal, change: 8 MiB of new files while the writer runs" "
  $CTL unseal vol1
  pgrep -f ' writer /mnt/vol1\$'
  for i in \$(seq 8); do head -c 1M /dev/urandom > /mnt/vol1/new-\$i; done
  (cd /mnt/vol1 && sha256sum new-* >> MANIFEST) && sync
  sleep 3"

# The second ship with workerd SIGKILLed once before and once after every step.
workers_stop w1
vm_run w1 10 "rm -f /shared/workerd.log" >/dev/null
WORKERS_ENV="VOLMIGRATE_CRASH_DIR=/var/lib/volmigrate/crash" workers_start w1 || exit 1
vm_check w1 900 "ship 2 through 14 workerd crashes: only the changes go" "
  mkdir -p /var/lib/volmigrate/crash
  $J
  # The crashes cut the call that started the ship, and may cut every retry
  # until the ship is done; a retry after that would start another ship. So
  # retry only until workerd's log (new for this start) names the ship made.
  for i in \$(seq 60); do
    id=\$(grep -o 'ship-[0-9a-f]\{8\}' /shared/workerd.log 2>/dev/null | head -1)
    [ -n \"\$id\" ] && break
    id=\$($CTL --json ship vol1 --detach 2>/dev/null | jv id) && [ -n \"\$id\" ] && break
    sleep 1
  done
  echo \"ship \$id\"
  wait_until 600 '$CTL --json transfer \$id > /tmp/t 2>/dev/null'
  tail -1 /tmp/t
  tail -1 /tmp/t | grep -q '\"state\":\"DONE\"'
  tail -1 /tmp/t | grep -q '\"incremental\":true'
  echo \"crashes: \$(ls /var/lib/volmigrate/crash | wc -l) (\$(ls /var/lib/volmigrate/crash | grep -c UPLOADING) around UPLOADING)\"
  [ \$(ls /var/lib/volmigrate/crash | wc -l) -ge 12 ]
  [ \$(grep -c 'SIGKILL' /shared/workerd.log) -ge 12 ]
  $CTL --json snapshots vol1 > /tmp/s2; cat /tmp/s2
  jv checkpoint_object 2 < /tmp/s2 > /shared/cp2
  [ \"\$(jv stopped < /tmp/s2)\" = '' ]
  shipped2=\$(jv shipped_bytes 2 < /tmp/s2); shipped1=\$(jv shipped_bytes 1 < /tmp/s2)
  echo \"point 2 shipped \$shipped2 bytes (point 1: \$shipped1)\"
  [ \$shipped2 -lt \$shipped1 ]
  lvs --noheadings -o lv_name vg0 | grep -q 'vol1_p2'
  fails lvs vg0/vol1_p1 2>/dev/null
  sha256sum < /dev/vg0/vol1_p2 | cut -d' ' -f1 > /shared/h2"
vm_log "$(grep -E '^(crashes|point 2)' <<< "$VM_OUT")"
cp "$VM_RUN/w1/shared/"{cp1,cp2,h1,h2} "$VM_RUN/w2/shared/"

vm_check w2 60 "bad input on w2: a data object as the point (exit 4), over an existing volume (exit 4)" "
  rc=0; $CTL2 restore vol1 --as r1 --object 1 --key-from w1 2>/tmp/e || rc=\$?; cat /tmp/e; [ \$rc = 4 ]
  grep -q 'not a checkpoint' /tmp/e
  fails lvs vg0/r1 2>/dev/null"

for p in 1 2; do
  vm_check w2 600 "restore point $p on w2 (key from w1): the source's snapshot byte for byte, fsck clean, files verify" "
    $CTL2 restore vol1 --as r$p --object \$(cat /shared/cp$p) --key-from w1
    [ \"\$(sha256sum < /dev/vg0/r$p | cut -d' ' -f1)\" = \"\$(cat /shared/h$p)\" ]
    echo \"r$p = vol1 at point $p: \$(cat /shared/h$p)\"
    $CTL2 unseal r$p
    $(workers_verify_cmd r$p)
    mount -o ro /dev/mapper/r$p /mnt/r$p
    n=\$(grep -c ' new-' /mnt/r$p/MANIFEST || true); umount /mnt/r$p
    echo \"files new since point 1: \$n\"; [ \$n = \$(( ($p - 1) * 8 )) ]"
  vm_log "$(grep -E '^(restored|r[12] =|verified)' <<< "$VM_OUT")"
done
vm_log "lsvd test $((SECONDS - t0))s in all"
vm_finish
