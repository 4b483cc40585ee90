# shellcheck shell=bash
# The guest side of plumbing_test.sh, one function per check (see lib.sh vm_run).
P=$VM_BUILD/tests/vm/plumb
IQN=iqn.2026-11.io.volmigrate:g1.mig-1
MiB=1048576

# c ARGS...: migratectl as the operator, talking to g1.
c() { "$VM_BUILD/migratectl/migratectl" --server 169.254.0.1:7443 --server-name g1 --ca /shared/tls/ca.crt \
  --cert /shared/tls/operator.crt --key /shared/tls/operator.key "$@"; }

plumb_pool_setup() {
  local m
  modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
  for m in dm_mod dm_crypt dm_thin_pool dm_clone iscsi_tcp; do grep -q "^$m " /proc/modules || { echo "missing $m"; exit 1; }; done
  dmsetup targets | grep -q "^clone"
  [ -b "$VM_DISK" ]
  pvcreate -q "$VM_DISK" && vgcreate -q vg0 "$VM_DISK" && lvcreate -q -L 1G -T vg0/pool
}

plumb_lv_create() {
  $P lv-create vol-1 $((256 * MiB)) && $P lv-create vol-1 $((256 * MiB))
  fails "$P" lv-create vol-1 $((512 * MiB)) 2>/tmp/e; grep -q ALREADY_EXISTS /tmp/e
  $P lv-create scratch $((64 * MiB)) && $P lv-resize scratch $((128 * MiB))
  fails "$P" lv-resize scratch $((64 * MiB)) 2>/tmp/e; grep -q FAILED_PRECONDITION /tmp/e
  $P lv-list | tee /dev/stderr | grep -q '"name":"vol-1","size_bytes":268435456'
  $P lv-delete scratch && $P lv-delete scratch
}

plumb_luks() {
  head -c 64 /dev/urandom > /shared/src.key && head -c 64 /dev/urandom > /tmp/wrong.key
  $P luks-format /dev/vg0/vol-1 /shared/src.key --offset $((4 * MiB))
  $P luks-format /dev/vg0/vol-1 /shared/src.key --offset $((4 * MiB))   # idempotent
  $P luks-header /dev/vg0/vol-1 | tee /shared/src-header.json | grep -q '"data_offset":4194304'
  fails "$P" luks-open /dev/vg0/vol-1 vol-1 /tmp/wrong.key 2>/tmp/e; grep -q PERMISSION_DENIED /tmp/e
  $P luks-open /dev/vg0/vol-1 vol-1 /shared/src.key && $P luks-open /dev/vg0/vol-1 vol-1 /shared/src.key
  dd if=/dev/urandom of=/dev/mapper/vol-1 bs=1M count=16 oflag=direct status=none
  head -c 16M /dev/mapper/vol-1 | sha256sum | cut -d' ' -f1 > /shared/plain.sum
  $P luks-close vol-1 && $P luks-close vol-1
  $P lv-create plain $((64 * MiB))
  fails "$P" luks-header /dev/vg0/plain 2>/tmp/e; grep -q FAILED_PRECONDITION /tmp/e
}

plumb_export() {
  local secret=$1
  tgtd
  wait_until --every 0.1 10 'tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1'
  $P export $IQN /dev/vg0/vol-1 mig-1 "$secret" iqn.2026-11.io.volmigrate:g2
  $P export $IQN /dev/vg0/vol-1 mig-1 "$secret" iqn.2026-11.io.volmigrate:g2
  $P exports | tee /dev/stderr | grep -q '"path":"/dev/vg0/vol-1","readonly":true'
  [ "$(tgtadm --lld iscsi --op show --mode target | grep -c '^Target')" = 1 ]
}

plumb_wrong_chap_refused() {
  iscsid
  fails "$P" login 169.254.0.1:3260 $IQN mig-1 wrong-secret-1 2>/tmp/e; cat /tmp/e; grep -q PERMISSION_DENIED /tmp/e
  $P logout 169.254.0.1:3260 $IQN
}

plumb_intruder_refused() {
  local secret=$1
  pkill iscsid; wait_until --every 0.1 5 '! pgrep iscsid >/dev/null'
  echo InitiatorName=iqn.2026-11.io.volmigrate:intruder > /etc/iscsi/initiatorname.iscsi
  iscsid
  fails "$P" login 169.254.0.1:3260 $IQN mig-1 "$secret" --timeout 5 2>/tmp/e; cat /tmp/e
  grep -q PERMISSION_DENIED /tmp/e
  $P logout 169.254.0.1:3260 $IQN
  pkill iscsid; wait_until --every 0.1 5 '! pgrep iscsid >/dev/null'
  echo InitiatorName=iqn.2026-11.io.volmigrate:g2 > /etc/iscsi/initiatorname.iscsi
  iscsid
}

plumb_clone_created() {
  local secret=$1 plain=$2
  dev=$($P login 169.254.0.1:3260 $IQN mig-1 "$secret")
  echo "source disk $dev"
  # Every setting of the node record, made by one iscsiadm update.
  iscsiadm -m node -T $IQN -p 169.254.0.1:3260 > /tmp/rec
  for kv in 'node.session.auth.authmethod = CHAP' 'node.session.auth.username = mig-1' \
      'node.session.timeo.replacement_timeout = 120' 'node.startup = manual'; do
    grep -qx "$kv" /tmp/rec || { echo "node record lacks $kv"; exit 1; }
  done
  [ "$(cat "/sys/block/${dev#/dev/}/ro")" = 1 ]
  offset=$($P luks-header "$dev" | sed 's/.*"data_offset":\([0-9]*\).*/\1/')
  [ "$offset" = 4194304 ]
  head -c 64 /dev/urandom > /shared/dst.key   # re-keyed on migration
  $P lv-create vol-1 $((256 * MiB)) && $P luks-format /dev/vg0/vol-1 /shared/dst.key --offset "$offset"
  $P luks-open /dev/vg0/vol-1 vol-1-dst /shared/dst.key
  $P luks-open "$dev" mig-1-src /shared/src.key --readonly
  $P lv-create mig-1-meta $((8 * MiB)) && dd if=/dev/zero of=/dev/vg0/mig-1-meta bs=1M count=8 oflag=direct status=none
  $P clone-create vol-1 /dev/vg0/mig-1-meta /dev/mapper/vol-1-dst /dev/mapper/mig-1-src --threshold 256 --batch 32
  $P clone-status vol-1 | tee /dev/stderr | grep -q '"features":\["no_hydration"'
  head -c 16M /dev/mapper/vol-1 | sha256sum | cut -d' ' -f1 > /tmp/clone.sum
  [ "$(cat /tmp/clone.sum)" = "$plain" ]
}

plumb_offline_disk() {
  d=$($P disk $IQN | sed 's/.*"name":"\([a-z]*\)".*/\1/')
  echo "source disk $d"
  [ "$($P disk-revive $IQN)" = 'not offline' ]
  echo offline > "/sys/block/$d/device/state"
  $P disk $IQN | grep -q '"state":"offline"'
  fails dd "if=/dev/$d" of=/dev/null bs=4096 count=1 iflag=direct status=none
  [ "$($P disk-revive $IQN)" = revived ]
  $P disk $IQN | grep -q '"state":"running"'
  dd "if=/dev/$d" of=/dev/null bs=4096 count=1 iflag=direct status=none
}

plumb_bigger_source_refused() {
  $P lv-create other $((256 * MiB)) && $P luks-format /dev/vg0/other /shared/dst.key   # cryptsetup's default offset
  $P luks-open /dev/vg0/other other-dst /shared/dst.key
  fails "$P" clone-create bad /dev/vg0/mig-1-meta /dev/mapper/other-dst /dev/mapper/mig-1-src 2>/tmp/e; cat /tmp/e
  grep -q 'FAILED_PRECONDITION: source plaintext is 264241152 bytes but destination plaintext is 251658240 bytes' /tmp/e
  fails dmsetup info bad >/dev/null 2>&1
  $P luks-close other-dst
}

plumb_hydrate_and_swap() {
  local plain=$1
  $P dm-message vol-1 enable_hydration
  wait_until 600 '$P clone-status vol-1 > /tmp/st; grep -q done.:true /tmp/st'
  cat /tmp/st; grep -q '"done":true' /tmp/st
  $P swap-linear vol-1 /dev/mapper/vol-1-dst && $P swap-linear vol-1 /dev/mapper/vol-1-dst
  $P dm-table vol-1 | tee /dev/stderr | grep -q ' linear '
  $P luks-close mig-1-src
  $P logout 169.254.0.1:3260 $IQN && $P logout 169.254.0.1:3260 $IQN
  [ "$($P sessions)" = '[]' ]
  [ "$(head -c 16M /dev/mapper/vol-1 | sha256sum | cut -d' ' -f1)" = "$plain" ]
}

plumb_unexport() {
  tgtadm --lld iscsi --op show --mode target | fails grep -q 'Initiator: iqn'
  $P unexport $IQN mig-1 && $P unexport $IQN mig-1
  [ "$($P exports)" = '[]' ]
}

plumb_start_workerd() {
  setsid "$VM_BUILD/workerd/workerd" -c /shared/workerd.toml > /shared/workerd.log 2>&1 < /dev/null &
  wait_until --every 0.1 10 grep -q listening /shared/workerd.log
}

plumb_volume_lifecycle() {
  c volume create vol-2 --size 64M
  c volumes --json | tee /dev/stderr | grep -q '"id":"vol-2","worker":"g1","size_bytes":"67108864"'
  c volume create vol-2 --size 64M        # idempotent
  fails c volume create vol-2 --size 128M     # a conflict, refused
  c volumes | tee /dev/stderr | grep -q '^plain  *64.0 MiB  *UNREADABLE'
  # 'plain' is tagged as a volume with no LUKS2 header, as a create cut short leaves one.
  c volumes | grep -q '^plain: .*volume create with its size completes it'
  c volume delete vol-2 && c volume delete plain
  fails c volume show vol-2
}

plumb_attach() {
  c volume create raw-2 --size 1G
  c volume attach raw-2 && c volume attach raw-2
  c --json volume show raw-2 | grep -q '"state":"VOLUME_STATE_IN_USE"'
  fails c volume delete raw-2
}

plumb_consumer_writes() {
  wait_until 30 '[ $(wc -l < /shared/raw-raw-2.log) -ge 2 ]'
  [ $(pgrep -fc ' writer /mnt/raw-2$') = 1 ]
}

plumb_detach() {
  c volume detach raw-2 && c volume detach raw-2
  c --json volume show raw-2 | grep -q '"state":"VOLUME_STATE_AVAILABLE"'
  c volume delete raw-2
}

plumb_consumer_stopped() {
  fails pgrep -f ' writer /mnt/raw-2$'
  fails dmsetup info raw-2
  fails grep -iE 'error|failed' /run/consumer-raw-2.log
}
