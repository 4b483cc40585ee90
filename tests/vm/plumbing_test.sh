#!/usr/bin/env bash
# The volume plumbing modules, real operations in two guests (through tests/vm/plumb):
# thin volumes; LUKS2 format with a given offset, header read, open, wrong key;
# a tgt export with CHAP and ACL imported by the other guest, refused with a wrong
# secret and from an initiator not admitted; the destination formatted with the
# source's layout; a dm-clone over the imported decrypted source, hydrated and
# swapped to linear; a clone over a bigger source refused naming both sizes.
# Then workerd in both guests: they reach each other over mutual TLS
# (--check), and migratectl from one creates, lists and deletes an encrypted
# volume on the other (idempotent, a conflict refused).
source "$(dirname "$0")/lib.sh"
t0=$SECONDS
vm_setup
P=$VM_BUILD/tests/vm/plumb
vm_boot g1 1 && vm_boot g2 2 || exit 1
vm_wait_ready g1 && vm_wait_ready g2 || exit 1

IQN=iqn.2026-11.io.volmigrate:g1.mig-1
SECRET=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')  # 12 characters, as CHAP wants
MiB=1048576
pool_setup='
  modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
  for m in dm_mod dm_crypt dm_thin_pool dm_clone iscsi_tcp; do grep -q "^$m " /proc/modules || { echo "missing $m"; exit 1; }; done
  dmsetup targets | grep -q "^clone"
  [ -b $VM_DISK ]
  pvcreate -q $VM_DISK && vgcreate -q vg0 $VM_DISK && lvcreate -q -L 1G -T vg0/pool'
vm_check g1 90 "g1: modules (dm-clone built out of tree among them), thin pool" "$pool_setup"
vm_check g2 90 "g2: modules, thin pool" "$pool_setup"

vm_check g1 60 "lv-create, idempotent, conflict refused, listed, grown" "
  $P lv-create vol-1 $((256 * MiB)) && $P lv-create vol-1 $((256 * MiB))
  fails $P lv-create vol-1 $((512 * MiB)) 2>/tmp/e; grep -q ALREADY_EXISTS /tmp/e
  $P lv-create scratch $((64 * MiB)) && $P lv-resize scratch $((128 * MiB))
  fails $P lv-resize scratch $((64 * MiB)) 2>/tmp/e; grep -q FAILED_PRECONDITION /tmp/e
  $P lv-list | tee /dev/stderr | grep -q '\"name\":\"vol-1\",\"size_bytes\":268435456'
  $P lv-delete scratch && $P lv-delete scratch"

vm_check g1 120 "LUKS2 with a 4 MiB offset: header, open, data, wrong key, non-LUKS" "
  head -c 64 /dev/urandom > /shared/src.key && head -c 64 /dev/urandom > /tmp/wrong.key
  $P luks-format /dev/vg0/vol-1 /shared/src.key --offset $((4 * MiB))
  $P luks-format /dev/vg0/vol-1 /shared/src.key --offset $((4 * MiB))   # idempotent
  $P luks-header /dev/vg0/vol-1 | tee /shared/src-header.json | grep -q '\"data_offset\":4194304'
  fails $P luks-open /dev/vg0/vol-1 vol-1 /tmp/wrong.key 2>/tmp/e; grep -q PERMISSION_DENIED /tmp/e
  $P luks-open /dev/vg0/vol-1 vol-1 /shared/src.key && $P luks-open /dev/vg0/vol-1 vol-1 /shared/src.key
  dd if=/dev/urandom of=/dev/mapper/vol-1 bs=1M count=16 oflag=direct status=none
  head -c 16M /dev/mapper/vol-1 | sha256sum | cut -d' ' -f1 > /shared/plain.sum
  $P luks-close vol-1 && $P luks-close vol-1
  $P lv-create plain $((64 * MiB))
  fails $P luks-header /dev/vg0/plain 2>/tmp/e; grep -q FAILED_PRECONDITION /tmp/e"

vm_check g1 60 "export over tgt: read-only LUN, CHAP, ACL; idempotent" "
  tgtd
  wait_until --every 0.1 10 'tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1'
  $P export $IQN /dev/vg0/vol-1 mig-1 $SECRET iqn.2026-11.io.volmigrate:g2
  $P export $IQN /dev/vg0/vol-1 mig-1 $SECRET iqn.2026-11.io.volmigrate:g2
  $P exports | tee /dev/stderr | grep -q '\"path\":\"/dev/vg0/vol-1\",\"readonly\":true'
  [ \$(tgtadm --lld iscsi --op show --mode target | grep -c '^Target') = 1 ]"

vm_check g2 60 "login with a wrong CHAP secret refused" "
  iscsid
  fails $P login 169.254.0.1:3260 $IQN mig-1 wrong-secret-1 2>/tmp/e; cat /tmp/e; grep -q PERMISSION_DENIED /tmp/e
  $P logout 169.254.0.1:3260 $IQN"

vm_check g2 60 "login from an initiator that was not admitted refused" "
  pkill iscsid; wait_until --every 0.1 5 '! pgrep iscsid >/dev/null'
  echo InitiatorName=iqn.2026-11.io.volmigrate:intruder > /etc/iscsi/initiatorname.iscsi
  iscsid
  fails $P login 169.254.0.1:3260 $IQN mig-1 $SECRET --timeout 5 2>/tmp/e; cat /tmp/e
  grep -q PERMISSION_DENIED /tmp/e
  $P logout 169.254.0.1:3260 $IQN
  pkill iscsid; wait_until --every 0.1 5 '! pgrep iscsid >/dev/null'
  echo InitiatorName=iqn.2026-11.io.volmigrate:g2 > /etc/iscsi/initiatorname.iscsi
  iscsid"

cp "$VM_RUN/g1/shared/src.key" "$VM_RUN/g2/shared/src.key"
vm_check g2 120 "login with CHAP, destination formatted with the source's layout, clone created" "
  dev=\$($P login 169.254.0.1:3260 $IQN mig-1 $SECRET)
  echo \"source disk \$dev\"
  # Every setting of the node record, made by one iscsiadm update.
  iscsiadm -m node -T $IQN -p 169.254.0.1:3260 > /tmp/rec
  for kv in 'node.session.auth.authmethod = CHAP' 'node.session.auth.username = mig-1' \\
      'node.session.timeo.replacement_timeout = 120' 'node.startup = manual'; do
    grep -qx \"\$kv\" /tmp/rec || { echo \"node record lacks \$kv\"; exit 1; }
  done
  [ \"\$(cat /sys/block/\${dev#/dev/}/ro)\" = 1 ]
  offset=\$($P luks-header \$dev | sed 's/.*\"data_offset\":\\([0-9]*\\).*/\\1/')
  [ \"\$offset\" = 4194304 ]
  head -c 64 /dev/urandom > /shared/dst.key   # re-keyed on migration
  $P lv-create vol-1 $((256 * MiB)) && $P luks-format /dev/vg0/vol-1 /shared/dst.key --offset \$offset
  $P luks-open /dev/vg0/vol-1 vol-1-dst /shared/dst.key
  $P luks-open \$dev mig-1-src /shared/src.key --readonly
  $P lv-create mig-1-meta $((8 * MiB)) && dd if=/dev/zero of=/dev/vg0/mig-1-meta bs=1M count=8 oflag=direct status=none
  $P clone-create vol-1 /dev/vg0/mig-1-meta /dev/mapper/vol-1-dst /dev/mapper/mig-1-src --threshold 256 --batch 32
  $P clone-status vol-1 | tee /dev/stderr | grep -q '\"features\":\\[\"no_hydration\"'
  head -c 16M /dev/mapper/vol-1 | sha256sum | cut -d' ' -f1 > /tmp/clone.sum
  [ \"\$(cat /tmp/clone.sum)\" = \"$(cat "$VM_RUN/g1/shared/plain.sum")\" ]"

# What the error handler does to a disk it gives up on, done by hand: the
# kernel fails every read until someone sets it running again.
vm_check g2 60 "a source disk set offline fails reads until revived" "
  d=\$($P disk $IQN | sed 's/.*\"name\":\"\\([a-z]*\\)\".*/\\1/')
  echo \"source disk \$d\"
  [ \"\$($P disk-revive $IQN)\" = 'not offline' ]
  echo offline > /sys/block/\$d/device/state
  $P disk $IQN | grep -q '\"state\":\"offline\"'
  fails dd if=/dev/\$d of=/dev/null bs=4096 count=1 iflag=direct status=none
  [ \"\$($P disk-revive $IQN)\" = revived ]
  $P disk $IQN | grep -q '\"state\":\"running\"'
  dd if=/dev/\$d of=/dev/null bs=4096 count=1 iflag=direct status=none"

vm_check g2 60 "a clone over a bigger source is refused, naming both sizes" "
  $P lv-create other $((256 * MiB)) && $P luks-format /dev/vg0/other /shared/dst.key   # cryptsetup's default offset
  $P luks-open /dev/vg0/other other-dst /shared/dst.key
  fails $P clone-create bad /dev/vg0/mig-1-meta /dev/mapper/other-dst /dev/mapper/mig-1-src 2>/tmp/e; cat /tmp/e
  grep -q 'FAILED_PRECONDITION: source plaintext is 264241152 bytes but destination plaintext is 251658240 bytes' /tmp/e
  fails dmsetup info bad >/dev/null 2>&1
  $P luks-close other-dst"

vm_check g2 600 "hydration tracked to completion, swapped to linear under the same node" "
  $P dm-message vol-1 enable_hydration
  wait_until 600 '$P clone-status vol-1 > /tmp/st; grep -q done.:true /tmp/st'
  cat /tmp/st; grep -q '\"done\":true' /tmp/st
  $P swap-linear vol-1 /dev/mapper/vol-1-dst && $P swap-linear vol-1 /dev/mapper/vol-1-dst
  $P dm-table vol-1 | tee /dev/stderr | grep -q ' linear '
  $P luks-close mig-1-src
  $P logout 169.254.0.1:3260 $IQN && $P logout 169.254.0.1:3260 $IQN
  [ \"\$($P sessions)\" = '[]' ]
  [ \"\$(head -c 16M /dev/mapper/vol-1 | sha256sum | cut -d' ' -f1)\" = \"$(cat "$VM_RUN/g1/shared/plain.sum")\" ]"

vm_check g1 30 "no initiator left after the logout; unexport, idempotent" "
  tgtadm --lld iscsi --op show --mode target | fails grep -q 'Initiator: iqn'
  $P unexport $IQN mig-1 && $P unexport $IQN mig-1
  [ \"\$($P exports)\" = '[]' ]"

# Each guest runs workerd; they reach each other over the private link with mutual TLS.
pki=$VM_RUN/pki
"$VM_REPO/deploy/tls/make-certs.sh" ca "$pki" && "$VM_REPO/deploy/tls/make-certs.sh" issue "$pki" g1 &&
  "$VM_REPO/deploy/tls/make-certs.sh" issue "$pki" g2 && "$VM_REPO/deploy/tls/make-certs.sh" issue "$pki" operator ||
  vm_fail "make-certs"
for i in 1 2; do
  g=g$i o=g$((3 - i))
  cp -r "$pki" "$VM_RUN/$g/shared/tls"
  printf 'worker = "%s"\nlisten = "169.254.0.%s:7443"\ndata_dir = "/var/lib/volmigrate"\n[tls]\nca = "/shared/tls/ca.crt"\ncert = "/shared/tls/%s.crt"\nkey = "/shared/tls/%s.key"\n[[peers]]\nname = "%s"\naddress = "169.254.0.%s:7443"\n' \
    "$g" "$i" "$g" "$g" "$o" "$((3 - i))" > "$VM_RUN/$g/shared/workerd.toml"
  # Only g1 serves volumes from its pool (with the test consumer as its hooks):
  # g2 serves without storage.
  [ $g = g1 ] && printf '[storage]\nvolume_group = "vg0"\nthin_pool = "pool"\npbkdf = "pbkdf2"\npbkdf_iterations = 1000\n[migration]\nconsumer_start = "%s"\nconsumer_stop = "%s"\n' \
    "$VM_HERE/guest/consumer-start" "$VM_HERE/guest/consumer-stop" >> "$VM_RUN/$g/shared/workerd.toml"
  vm_check $g 30 "$g starts workerd" "
    setsid $VM_BUILD/workerd/workerd -c /shared/workerd.toml > /shared/workerd.log 2>&1 < /dev/null &
    wait_until --every 0.1 10 grep -q listening /shared/workerd.log"
done
vm_check g1 30 "workerd g1 reaches its peer g2 over mutual TLS (--check)" \
  "$VM_BUILD/workerd/workerd -c /shared/workerd.toml --check"

C="$VM_BUILD/migratectl/migratectl --server 169.254.0.1:7443 --server-name g1 --ca /shared/tls/ca.crt --cert /shared/tls/operator.crt --key /shared/tls/operator.key"
vm_check g2 120 "migratectl from g2 creates, lists and deletes an encrypted volume on g1" "
  $C volume create vol-2 --size 64M
  $C volumes --json | tee /dev/stderr | grep -q '\"id\":\"vol-2\",\"worker\":\"g1\",\"size_bytes\":\"67108864\"'
  $C volume create vol-2 --size 64M        # idempotent
  fails $C volume create vol-2 --size 128M     # a conflict, refused
  $C volumes | tee /dev/stderr | grep -q '^plain  *64.0 MiB  *UNREADABLE'
  # 'plain' is tagged as a volume with no LUKS2 header, as a create cut short leaves one.
  $C volumes | grep -q '^plain: .*volume create with its size completes it'
  $C volume delete vol-2 && $C volume delete plain
  fails $C volume show vol-2"
# A raw volume (no filesystem): the test consumer writes blocks from 640 MiB on.
vm_check g2 120 "migratectl attaches a volume on g1 (twice: nothing changes), which it refuses to delete in use" "
  $C volume create raw-2 --size 1G
  $C volume attach raw-2 && $C volume attach raw-2
  $C --json volume show raw-2 | grep -q '\"state\":\"VOLUME_STATE_IN_USE\"'
  fails $C volume delete raw-2"
vm_check g1 60 "g1: one consumer runs on the attached volume and writes" "
  wait_until 30 '[ \$(wc -l < /shared/raw-raw-2.log) -ge 2 ]'
  [ \$(pgrep -fc ' writer /mnt/raw-2\$') = 1 ]"
vm_check g2 120 "migratectl detaches it (twice), then deletes it" "
  $C volume detach raw-2 && $C volume detach raw-2
  $C --json volume show raw-2 | grep -q '\"state\":\"VOLUME_STATE_AVAILABLE\"'
  $C volume delete raw-2"
vm_check g1 30 "g1: the consumer stopped before the volume closed: no writer, no mapping, no write error" "
  fails pgrep -f ' writer /mnt/raw-2\$'
  fails dmsetup info raw-2
  fails grep -iE 'error|failed' /run/consumer-raw-2.log"

vm_log "plumbing test $((SECONDS - t0))s in all"
vm_finish
