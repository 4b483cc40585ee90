# shellcheck shell=bash
# The guest side of lsvd_test.sh, one function per check (see lib.sh vm_run).

lsvd_bad_ship_refused() {
  rc=0; ctl ship nope 2>/tmp/e || rc=$?; cat /tmp/e; [ $rc = 3 ]
  ctl snapshots vol1 | grep -q 'no shipped points'
  grep -q volmigrate_volume <<< "$(lvs --noheadings -o lv_tags vg0/vol1)"
}

lsvd_bad_restore_refused() {
  rc=0; ctl2 restore vol1 --as r1 --key-from w1 2>/tmp/e || rc=$?; cat /tmp/e; [ $rc = 4 ]
  grep -q 'no shipped point' /tmp/e
  fails lvs vg0/r1 2>/dev/null
}

lsvd_ship_first_point() {
  ctl ship vol1
  ctl --json volume show vol1 | grep -q '"state":"VOLUME_STATE_SEALED"'
  fails pgrep -f ' writer /mnt/vol1$'
  ctl --json snapshots vol1 > /tmp/s1; cat /tmp/s1
  jv checkpoint_object < /tmp/s1 > /shared/cp1
  lvs --noheadings --units b --nosuffix -o lv_size,data_percent vg0/vol1_p1
  sha256sum < /dev/vg0/vol1_p1 | cut -d' ' -f1 > /shared/h1
  shipped=$(jv shipped_bytes < /tmp/s1)
  alloc=$(lvs --noheadings --units b --nosuffix -o lv_size,data_percent vg0/vol1_p1 | awk '{printf "%d", $1 * $2 / 100}')
  echo "shipped $shipped bytes for $alloc allocated of a 260 MiB device"
  [ "$shipped" -lt 120000000 ]
  # The filesystem's names are in plaintext on the device, never in the store.
  fails grep -rqa 'src-1' /objects/vol1
  fails grep -qa 'src-1' /dev/vg0/vol1_p1
}

lsvd_unseal_and_change() {
  ctl unseal vol1
  pgrep -f ' writer /mnt/vol1$'
  for i in $(seq 8); do head -c 1M /dev/urandom > "/mnt/vol1/new-$i"; done
  (cd /mnt/vol1 && sha256sum new-* >> MANIFEST) && sync
  sleep 3
}

lsvd_ship_through_crashes() {
  mkdir -p /var/lib/volmigrate/crash
  # The crashes cut the call that started the ship, and may cut every retry
  # until the ship is done; a retry after that would start another ship. So
  # retry only until workerd's log (new for this start) names the ship made.
  for i in $(seq 60); do
    id=$(grep -o 'ship-[0-9a-f]\{8\}' /shared/workerd.log 2>/dev/null | head -1)
    [ -n "$id" ] && break
    id=$(ctl --json ship vol1 --detach 2>/dev/null | jv id) && [ -n "$id" ] && break
    sleep 1
  done
  echo "ship $id"
  wait_until 600 'ctl --json transfer $id > /tmp/t 2>/dev/null'
  tail -1 /tmp/t
  tail -1 /tmp/t | grep -q '"state":"DONE"'
  tail -1 /tmp/t | grep -q '"incremental":true'
  crashes=$(find /var/lib/volmigrate/crash -mindepth 1 | wc -l)
  echo "crashes: $crashes ($(find /var/lib/volmigrate/crash -mindepth 1 -name '*UPLOADING*' | wc -l) around UPLOADING)"
  [ "$crashes" -ge 12 ]
  [ "$(grep -c 'SIGKILL' /shared/workerd.log)" -ge 12 ]
  ctl --json snapshots vol1 > /tmp/s2; cat /tmp/s2
  jv checkpoint_object 2 < /tmp/s2 > /shared/cp2
  [ "$(jv stopped < /tmp/s2)" = '' ]
  shipped2=$(jv shipped_bytes 2 < /tmp/s2); shipped1=$(jv shipped_bytes 1 < /tmp/s2)
  echo "point 2 shipped $shipped2 bytes (point 1: $shipped1)"
  [ "$shipped2" -lt "$shipped1" ]
  lvs --noheadings -o lv_name vg0 | grep -q 'vol1_p2'
  fails lvs vg0/vol1_p1 2>/dev/null
  sha256sum < /dev/vg0/vol1_p2 | cut -d' ' -f1 > /shared/h2
}

lsvd_bad_point_refused() {
  rc=0; ctl2 restore vol1 --as r1 --object 1 --key-from w1 2>/tmp/e || rc=$?; cat /tmp/e; [ $rc = 4 ]
  grep -q 'not a checkpoint' /tmp/e
  fails lvs vg0/r1 2>/dev/null
}

lsvd_restore_point() {
  local p=$1
  ctl2 restore vol1 --as "r$p" --object "$(cat "/shared/cp$p")" --key-from w1
  [ "$(sha256sum < "/dev/vg0/r$p" | cut -d' ' -f1)" = "$(cat "/shared/h$p")" ]
  echo "r$p = vol1 at point $p: $(cat "/shared/h$p")"
  ctl2 unseal "r$p"
  volume_verify "r$p"
  mount -o ro "/dev/mapper/r$p" "/mnt/r$p"
  n=$(grep -c ' new-' "/mnt/r$p/MANIFEST" || true); umount "/mnt/r$p"
  echo "files new since point 1: $n"; [ "$n" = $(( (p - 1) * 8 )) ]
}
