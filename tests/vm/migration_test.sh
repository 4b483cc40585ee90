#!/usr/bin/env bash
# Live migration between two guests, end to end through workerd and migratectl:
#  - bad input refused with a clear error and nothing changed: an unknown worker,
#    a missing volume, a destination without room, a peer whose certificate is
#    from another CA;
#  - a volume formatted with a 4 MiB LUKS2 data offset (this cryptsetup defaults
#    to 16 MiB) migrates with its consumer writing on the destination during
#    hydration; abort is refused once booted; the link between the guests is cut
#    for longer than the iSCSI NOP timeout mid-hydration and restored: I/O waits,
#    hydration resumes; after cutover and retirement of the source, every
#    checksum (source files and files written since) verifies; the retired
#    copy is listed and expires on time across a workerd restart;
#  - an abort before boot leaves the source volume open with its data, no export.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
t0=$SECONDS
workers_boot 3G 2G
# w3 is a peer of w1 whose certificate comes from a CA w1 does not trust. A
# retired copy on w1 expires 90 s after its migration ended.
WORKERS_MIGRATION='retire_after = "90s"' workers_config w1 1 '[[peers]]
name = "w3"
address = "169.254.0.2:7444"'
# Held to 1 MiB/s: only the source's ~55 MiB are copied now, and unheld the
# copy ended before the link cut below began.
WORKERS_MIGRATION='hydration_max_bytes_per_second = 1048576' workers_config w2 2
"$VM_REPO/deploy/tls/make-certs.sh" ca "$VM_RUN/foreign" >/dev/null && "$VM_REPO/deploy/tls/make-certs.sh" issue "$VM_RUN/foreign" w3 >/dev/null
cp -r "$VM_RUN/foreign" "$VM_RUN/w2/shared/foreign"
cat > "$VM_RUN/w2/shared/w3.toml" <<TOML
worker = "w3"
listen = "169.254.0.2:7444"
data_dir = "/tmp/w3"
[tls]
ca = "/shared/foreign/ca.crt"
cert = "/shared/foreign/w3.crt"
key = "/shared/foreign/w3.key"
TOML
WORKERS_POOL=1600M workers_start w1 || exit 1
WORKERS_POOL=900M workers_start w2 || exit 1
vm_run w2 30 "setsid $VM_BUILD/workerd/workerd -c /shared/w3.toml > /shared/w3.log 2>&1 < /dev/null &
  wait_until --every 0.1 10 grep -q listening /shared/w3.log" || exit 1

vm_check w1 300 "w1: vol-1 (4 MiB LUKS2 offset, 48 MiB of files, consumer running); 'big' with 950 MiB allocated" "
  $(workers_volume_cmd vol-1 256 48)
  $CTL --timeout 300 volume create big --size 1000M
  dd if=/dev/zero of=/dev/vg0/big bs=4M seek=4 count=238 oflag=direct status=none   # ciphertext area, raw
  $CTL volumes"

vm_check w1 120 "bad input refused with a clear error, nothing changed" "
  set +e
  $CTL migrate vol-1 --to w9 2>/tmp/e; rc=\$?; cat /tmp/e; [ \$rc = 3 ] && grep -q \"unknown worker 'w9'\" /tmp/e || exit 1
  $CTL migrate nope --to w2 2>/tmp/e; rc=\$?; cat /tmp/e; [ \$rc = 3 ] && grep -q \"no volume 'nope'\" /tmp/e || exit 1
  $CTL migrate big --to w2 2>/tmp/e; rc=\$?; cat /tmp/e; [ \$rc = 4 ] && grep -q 'RESOURCE_EXHAUSTED: destination w2 has .* bytes free' /tmp/e || exit 1
  $CTL migrate vol-1 --to w3 2>/tmp/e; rc=\$?; cat /tmp/e; [ \$rc = 5 ] && grep -q 'Health on w3' /tmp/e || exit 1
  $CTL migrate '../x' --to w2 2>/tmp/e; rc=\$?; cat /tmp/e; [ \$rc = 4 ] && grep -q 'INVALID_ARGUMENT' /tmp/e || exit 1
  set -e
  [ \"\$($CTL --json migrations -a)\" = '{\"migrations\":[]}' ]
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  $CTL --json volume show vol-1 | jf state | grep -qx VOLUME_STATE_IN_USE
  [ \"\$($CTL2 --json volumes)\" = '{\"volumes\":[]}' ]"

vm_run w1 20 "$CTL --json volume show vol-1" | tee "$VM_RUN/vol-1.json" >/dev/null
vm_log "migrating vol-1 to w2: the link is cut for 25 s during hydration"
vm_run w1 30 "
  $CTL --json migrate vol-1 --to w2 --detach | jf id > /shared/mig-1
  cat /shared/mig-1
  setsid bash -c '$CTL watch \$(cat /shared/mig-1) > /shared/watch-1.log 2>&1; echo \$? > /shared/watch-1.rc' < /dev/null > /dev/null 2>&1 &" || vm_fail "migrate vol-1 started"
MIG1=$(cat "$VM_RUN/w1/shared/mig-1")
vm_check w1 300 "vol-1 reaches HYDRATING: consumer booted on w2 with a blackout recorded" "
  wait_until 300 'case \$($CTL --json status $MIG1 | jf state) in
      HYDRATING|WAITING) [ \"\$($CTL2 --json status $MIG1 | jf state)\" = HYDRATING ] ;;
      *) false ;;
    esac' 
  $CTL2 --json status $MIG1 | tee /tmp/m | jf state | grep -qx HYDRATING
  echo \"blackout \$(jn blackout_seconds < /tmp/m) s\""
vm_check w1 30 "abort after boot is refused" "
  set +e; $CTL abort $MIG1 2>/tmp/e; rc=\$?; set -e; cat /tmp/e
  [ \$rc = 4 ] && grep -q 'only goes forward' /tmp/e"
vm_check w1 120 "mid-hydration, the link is cut for 25 s (longer than the NOP timeout), then restored" "
  $CTL2 --json status $MIG1 | jf state | grep -qx HYDRATING
  ip link set eth0 down; sleep 25; ip link set eth0 up
  $CTL2 --timeout 30 status $MIG1 || true"
vm_check w2 20 "during the cut the consumer's I/O waited: the writer is alive with no error" "
  kill -0 \$(cat /run/consumer-vol-1.pid)
  fails grep -i error /run/consumer-vol-1.log
  dmesg | fails grep -iE 'I/O error|Buffer I/O|EXT4-fs error'"
vm_check w1 600 "vol-1 completes: DONE on both sides" "
  wait_until 600 [ -e /shared/watch-1.rc ]
  cat /shared/watch-1.log; [ \"\$(cat /shared/watch-1.rc)\" = 0 ]
  $CTL status $MIG1; $CTL2 status $MIG1 | grep -q 'state  *DONE\|DONE'"
vm_check w1 30 "w1: no export left, the source copy retired (kept, out of the volume list)" "
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  lvs --noheadings -o lv_name,lv_tags vg0 | tee /dev/stderr | grep -q '$MIG1-retired *volmigrate_retired'
  fails lvs vg0/vol-1 2>/dev/null
  $CTL volumes | fails grep -q vol-1"
vm_check w1 30 "w1: migratectl retired lists the copy, expiring 90 s after its migration ended" "
  $CTL retired | tee /dev/stderr | grep -q '$MIG1-retired *vol-1'
  r=\$($CTL --json retired | jn retired_unix); e=\$($CTL --json retired | jn expires_unix)
  [ \$((e - r)) = 90 ]"
workers_stop w1 && workers_start w1 || { vm_fail "workerd on w1 restarted"; exit 1; }
vm_check w1 200 "w1: the copy expires on time across a workerd restart: its LV and key gone" "
  wait_until 180 '! lvs vg0/$MIG1-retired >/dev/null 2>&1'
  [ ! -e /var/lib/volmigrate/keys/$MIG1-retired.key ]
  grep 'retired copy $MIG1-retired expired' /shared/workerd.log
  $CTL retired | grep -q 'no retired copies'"
vm_check w2 30 "w2: linear map under the live device, no session, no clone, header offset 4 MiB" "
  dmsetup table vol-1 | tee /dev/stderr | grep -q ' linear '
  [ -z \"\$(iscsiadm -m session 2>/dev/null)\" ]
  dmsetup ls | fails grep -E -- '-src|clone'
  lvs --noheadings -o lv_name vg0 | fails grep -q meta
  cryptsetup luksDump /dev/vg0/vol-1 | grep -A3 '^Data segments' | grep -q 'offset: 4194304'
  $CTL2 --json volume show vol-1 | jf state | grep -qx VOLUME_STATE_IN_USE"
vm_check w2 300 "every byte: fsck clean, source files and files written on w2 during hydration verify" \
  "$(workers_verify_cmd vol-1)"

vm_check w1 300 "w1: vol-2 (8 MiB of files, consumer running)" "$(workers_volume_cmd vol-2 128 8)"
vm_check w1 120 "abort before boot (held in FENCING) rolls back" "
  touch /shared/hold-stop
  id=\$($CTL --json migrate vol-2 --to w2 --detach | jf id)
  wait_until 120 '[ \"\$($CTL --json status \$id | jf state)\" = FENCING ]'
  $CTL abort \$id
  rm /shared/hold-stop
  set +e; $CTL watch \$id; rc=\$?; set -e
  [ \$rc = 8 ] && $CTL --json status \$id | jf state | grep -qx ABORTED"
vm_check w1 120 "after the abort: no export, vol-2 open with its consumer, data intact; nothing on w2" "
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  mountpoint -q /mnt/vol-2 && kill -0 \$(cat /run/consumer-vol-2.pid)
  $(workers_verify_cmd vol-2)
  $CTL2 volumes | fails grep -q vol-2"

vm_log "migration test $((SECONDS - t0))s in all"
vm_finish
