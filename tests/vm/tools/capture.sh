#!/usr/bin/env bash
# Captures the real output of the tools we parse, from the guests, into
# tests/testdata/ (run by hand when a parser needs new samples):
#   lvs/vgs JSON, tgtadm --op show, iscsiadm -m session -P 3, dmsetup status of a clone.
source "$(dirname "$0")/../lib.sh"
out=$VM_REPO/tests/testdata
mkdir -p "$out"
vm_setup
vm_boot g1 1 && vm_boot g2 2 || exit 1
vm_wait_ready g1 && vm_wait_ready g2 || exit 1
IQN=iqn.2026-11.io.volmigrate:g1.mig-1
vm_run g1 120 "
  modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
  [ -b \$VM_DISK ]
  pvcreate -q \$VM_DISK && vgcreate -q vg0 \$VM_DISK
  lvcreate -q -L 1G -T vg0/pool && lvcreate -q -V 256M -T vg0/pool -n vol-1 --addtag volmigrate_volume
  lvcreate -q -V 8M -T vg0/pool -n mig-1-meta --addtag volmigrate_clone_md
  head -c 64 /dev/urandom > /shared/key
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 8192 --key-file /shared/key /dev/vg0/vol-1
  cryptsetup open --key-file /shared/key /dev/vg0/vol-1 vol-1
  dd if=/dev/urandom of=/dev/mapper/vol-1 bs=1M count=8 oflag=direct status=none
  cryptsetup close vol-1
  lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,pool_lv,data_percent,metadata_percent,lv_attr,lv_tags vg0 > /shared/lvs.json
  vgs --reportformat json --units b --nosuffix -o vg_extent_size,vg_free vg0 > /shared/vgs.json
  tgtd
  for i in \$(seq 100); do tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1 && break; sleep 0.1; done
  tgtadm --lld iscsi --op new --mode target --tid 1 -T $IQN
  tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b /dev/vg0/vol-1
  tgtadm --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 --params readonly=1
  tgtadm --lld iscsi --op new --mode account --user mig-1 --password secret-12345
  tgtadm --lld iscsi --op bind --mode account --tid 1 --user mig-1
  tgtadm --lld iscsi --op bind --mode target --tid 1 --initiator-name iqn.2026-11.io.volmigrate:g2
  tgtadm --lld iscsi --op bind --mode target --tid 1 --initiator-address 169.254.0.2
  tgtadm --lld iscsi --op show --mode target > /shared/tgtadm-show-idle.txt
" || exit 1
cp "$VM_RUN/g1/shared/key" "$VM_RUN/g2/shared/key"
vm_run g2 600 "
  modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
  [ -b \$VM_DISK ]
  pvcreate -q \$VM_DISK && vgcreate -q vg0 \$VM_DISK
  lvcreate -q -L 1G -T vg0/pool && lvcreate -q -V 256M -T vg0/pool -n vol-1 && lvcreate -q -V 8M -T vg0/pool -n meta
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 8192 --key-file /shared/key /dev/vg0/vol-1
  cryptsetup open --key-file /shared/key /dev/vg0/vol-1 vol-1-dst
  iscsid
  iscsiadm -m discovery -t sendtargets -p 169.254.0.1
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.authmethod -v CHAP
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.username -v mig-1
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.password -v secret-12345
  iscsiadm -m node -T $IQN -p 169.254.0.1 --login
  for i in \$(seq 200); do ls /sys/class/iscsi_session/session*/device/target*/*/block/* >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1
  iscsiadm -m session -P 3 > /shared/iscsiadm-session-P3.txt
  iscsiadm -m session > /shared/iscsiadm-session.txt
  dev=/dev/\$(ls /sys/class/iscsi_session/session*/device/target*/*/block | head -1)
  cryptsetup open --readonly --key-file /shared/key \$dev src
  dd if=/dev/zero of=/dev/vg0/meta bs=1M count=1 oflag=direct status=none
  n=\$(blockdev --getsz /dev/mapper/src)
  dmsetup create clone --table \"0 \$n clone /dev/vg0/meta /dev/mapper/vol-1-dst /dev/mapper/src 128 1 no_hydration\"
  dmsetup status clone > /shared/clone-status-nohydration.txt
  dmsetup table clone > /shared/clone-table.txt
  dmsetup message clone 0 hydration_threshold 256
  dmsetup message clone 0 hydration_batch_size 32
  dmsetup message clone 0 enable_hydration
  sleep 2
  dmsetup status clone > /shared/clone-status-hydrating.txt
  for i in \$(seq 600); do dmsetup status clone | awk '{split(\$7,a,\"/\"); exit !(a[1]==a[2])}' && break; sleep 0.5; done
  dmsetup status clone > /shared/clone-status-hydrated.txt
" || exit 1
vm_run g1 30 "tgtadm --lld iscsi --op show --mode target > /shared/tgtadm-show-connected.txt"
for f in lvs.json vgs.json tgtadm-show-idle.txt tgtadm-show-connected.txt; do cp "$VM_RUN/g1/shared/$f" "$out/"; done
for f in iscsiadm-session-P3.txt iscsiadm-session.txt clone-status-nohydration.txt clone-status-hydrating.txt clone-status-hydrated.txt clone-table.txt; do
  cp "$VM_RUN/g2/shared/$f" "$out/"
done
ls -la "$out"
