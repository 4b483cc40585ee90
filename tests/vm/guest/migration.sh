# shellcheck shell=bash
# The guest side of migration_test.sh, one function per check (see lib.sh vm_run).

mig_start_foreign_w3() {
  setsid "$VM_BUILD/workerd/workerd" -c /shared/w3.toml > /shared/w3.log 2>&1 < /dev/null &
  wait_until --every 0.1 10 grep -q listening /shared/w3.log
}

mig_make_volumes() {
  volume_make vol-1 256 48
  ctl --timeout 300 volume create big --size 1000M
  dd if=/dev/zero of=/dev/vg0/big bs=4M seek=4 count=238 oflag=direct status=none   # ciphertext area, raw
  ctl volumes
}

mig_bad_input_refused() {
  set +e
  ctl migrate vol-1 --to w9 2>/tmp/e; rc=$?; cat /tmp/e; [ $rc = 3 ] && grep -q "unknown worker 'w9'" /tmp/e || exit 1
  ctl migrate nope --to w2 2>/tmp/e; rc=$?; cat /tmp/e; [ $rc = 3 ] && grep -q "no volume 'nope'" /tmp/e || exit 1
  ctl migrate big --to w2 2>/tmp/e; rc=$?; cat /tmp/e; [ $rc = 4 ] && grep -q 'RESOURCE_EXHAUSTED: destination w2 has .* bytes free' /tmp/e || exit 1
  ctl migrate vol-1 --to w3 2>/tmp/e; rc=$?; cat /tmp/e; [ $rc = 5 ] && grep -q 'Health on w3' /tmp/e || exit 1
  ctl migrate '../x' --to w2 2>/tmp/e; rc=$?; cat /tmp/e; [ $rc = 4 ] && grep -q 'INVALID_ARGUMENT' /tmp/e || exit 1
  set -e
  [ "$(ctl --json migrations -a)" = '{"migrations":[]}' ]
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  ctl --json volume show vol-1 | jf state | grep -qx VOLUME_STATE_IN_USE
  [ "$(ctl2 --json volumes)" = '{"volumes":[]}' ]
}

mig_start_vol1() {
  ctl --json migrate vol-1 --to w2 --detach | jf id > /shared/mig-1
  cat /shared/mig-1
  setsid bash -c 'ctl watch $(cat /shared/mig-1) > /shared/watch-1.log 2>&1; echo $? > /shared/watch-1.rc' < /dev/null > /dev/null 2>&1 &
}

mig_reaches_hydrating() {
  local mig=$1
  wait_until 300 'case $(ctl --json status $mig | jf state) in
      HYDRATING|WAITING) [ "$(ctl2 --json status $mig | jf state)" = HYDRATING ] ;;
      *) false ;;
    esac'
  ctl2 --json status "$mig" | tee /tmp/m | jf state | grep -qx HYDRATING
  echo "blackout $(jn blackout_seconds < /tmp/m) s"
}

mig_abort_after_boot_refused() {
  local mig=$1
  set +e; ctl abort "$mig" 2>/tmp/e; rc=$?; set -e; cat /tmp/e
  [ $rc = 4 ] && grep -q 'only goes forward' /tmp/e
}

mig_cut_the_link() {
  local mig=$1
  ctl2 --json status "$mig" | jf state | grep -qx HYDRATING
  ip link set eth0 down; sleep 25; ip link set eth0 up
  ctl2 --timeout 30 status "$mig" || true
}

mig_consumer_waited() {
  kill -0 "$(cat /run/consumer-vol-1.pid)"
  fails grep -i error /run/consumer-vol-1.log
  dmesg | fails grep -iE 'I/O error|Buffer I/O|EXT4-fs error'
}

mig_completes() {
  local mig=$1
  wait_until 600 [ -e /shared/watch-1.rc ]
  cat /shared/watch-1.log; [ "$(cat /shared/watch-1.rc)" = 0 ]
  ctl status "$mig"; ctl2 status "$mig" | grep -q 'state  *DONE\|DONE'
}

mig_source_retired() {
  local mig=$1
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  lvs --noheadings -o lv_name,lv_tags vg0 | tee /dev/stderr | grep -q "$mig-retired *volmigrate_retired"
  fails lvs vg0/vol-1 2>/dev/null
  ctl volumes | fails grep -q vol-1
}

mig_retired_listed() {
  local mig=$1
  ctl retired | tee /dev/stderr | grep -q "$mig-retired *vol-1"
  r=$(ctl --json retired | jn retired_unix); e=$(ctl --json retired | jn expires_unix)
  [ $((e - r)) = 90 ]
}

mig_retired_expires() {
  local mig=$1
  wait_until 180 '! lvs vg0/$mig-retired >/dev/null 2>&1'
  [ ! -e "/var/lib/volmigrate/keys/$mig-retired.key" ]
  grep "retired copy $mig-retired expired" /shared/workerd.log
  ctl retired | grep -q 'no retired copies'
}

mig_destination_is_linear() {
  # The volume's LUKS2 mapping over what was the clone, now a linear map onto the LV.
  dmsetup table vol-1 | tee /dev/stderr | grep -q ' crypt '
  dmsetup table vol-1-clone | tee /dev/stderr | grep -q ' linear '
  [ -z "$(iscsiadm -m session 2>/dev/null)" ]
  dmsetup table | fails grep -E -- ' clone |-src'
  lvs --noheadings -o lv_name vg0 | fails grep -q meta
  cryptsetup luksDump /dev/vg0/vol-1 | grep -A3 '^Data segments' | grep -q 'offset: 4194304'
  ctl2 --json volume show vol-1 | jf state | grep -qx VOLUME_STATE_IN_USE
}

mig_abort_before_boot() {
  touch /shared/hold-stop
  id=$(ctl --json migrate vol-2 --to w2 --detach | jf id)
  wait_until 120 '[ "$(ctl --json status $id | jf state)" = FENCING ]'
  ctl abort "$id"
  rm /shared/hold-stop
  set +e; ctl watch "$id"; rc=$?; set -e
  [ $rc = 8 ] && ctl --json status "$id" | jf state | grep -qx ABORTED
}

mig_after_abort() {
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  mountpoint -q /mnt/vol-2 && kill -0 "$(cat /run/consumer-vol-2.pid)"
  volume_verify vol-2
  ctl2 volumes | fails grep -q vol-2
}
