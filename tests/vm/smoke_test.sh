#!/usr/bin/env bash
# Two guests, the real kernel path: both boot and load dm-mod, dm-crypt,
# dm-thin-pool, dm-clone and iscsi_tcp; g1 makes a thin pool, a LUKS2 volume with
# data, and exports it read-only over tgt with CHAP and an initiator ACL; g2 logs
# in, reads the same ciphertext and plaintext checksums, and logs out cleanly.
source "$(dirname "$0")/lib.sh"
t0=$SECONDS
vm_setup
vm_boot g1 1 && vm_boot g2 2 || exit 1
vm_wait_ready g1 || exit 1; b1=$VM_BOOT_SECONDS
vm_wait_ready g2 || exit 1; b2=$VM_BOOT_SECONDS

IQN=iqn.2026-11.io.volmigrate:g1.smoke
SECRET=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')  # 12 characters, as CHAP wants

for g in g1 g2; do
  vm_check $g 60 "$g loads dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp" \
    'modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
     for m in dm_mod dm_crypt dm_thin_pool dm_clone iscsi_tcp; do grep -q "^$m " /proc/modules || { echo "missing $m"; exit 1; }; done
     dmsetup targets | grep -q "^clone"'
done

vm_check g1 120 "g1 makes a thin pool and a LUKS2 volume with 16 MiB of data" "
  [ -b \$VM_DISK ]
  pvcreate -q \$VM_DISK && vgcreate -q vg0 \$VM_DISK
  lvcreate -q -L 512M -T vg0/pool && lvcreate -q -V 256M -T vg0/pool -n vol1
  head -c 64 /dev/urandom > /shared/vol1.key
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file /shared/vol1.key /dev/vg0/vol1
  cryptsetup open --key-file /shared/vol1.key /dev/vg0/vol1 vol1
  dd if=/dev/urandom of=/dev/mapper/vol1 bs=1M count=16 oflag=direct status=none
  head -c 16M /dev/mapper/vol1 | sha256sum | cut -d' ' -f1 > /shared/plain.sum
  cryptsetup close vol1
  sha256sum < /dev/vg0/vol1 | cut -d' ' -f1 > /shared/cipher.sum
  lvs --reportformat json vg0"

vm_check g1 60 "g1 exports the volume read-only over tgt, CHAP and initiator ACL" "
  tgtd
  for i in \$(seq 100); do tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1 && break; sleep 0.1; done
  tgtadm --lld iscsi --op new --mode target --tid 1 -T $IQN
  tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b /dev/vg0/vol1
  # readonly is refused at creation: set it with an update.
  tgtadm --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 --params readonly=1
  tgtadm --lld iscsi --op new --mode account --user smoke --password $SECRET
  tgtadm --lld iscsi --op bind --mode account --tid 1 --user smoke
  tgtadm --lld iscsi --op bind --mode target --tid 1 --initiator-name iqn.2026-11.io.volmigrate:g2
  tgtadm --lld iscsi --op show --mode target | grep -E 'Readonly: Yes'"

cp "$VM_RUN/g1/shared/vol1.key" "$VM_RUN/g2/shared/vol1.key"
vm_check g2 60 "g2 starts iscsid and discovers the target" "
  iscsid
  iscsiadm -m discovery -t sendtargets -p 169.254.0.1 | grep -q '$IQN'"

vm_check g2 60 "g2 login with a wrong CHAP secret is refused" "
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.authmethod -v CHAP
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.username -v smoke
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.password -v wrong-secret-0
  fails iscsiadm -m node -T $IQN -p 169.254.0.1 --login"

vm_check g2 90 "g2 logs in with CHAP and reads the same checksums" "
  iscsiadm -m node -T $IQN -p 169.254.0.1 -o update -n node.session.auth.password -v $SECRET
  iscsiadm -m node -T $IQN -p 169.254.0.1 --login
  # The disk appears a moment after the login: wait for it by its sysfs path.
  dev=
  for i in \$(seq 200); do
    dev=\$(ls /sys/class/iscsi_session/session*/device/target*/*/block 2>/dev/null | head -1)
    [ -n \"\$dev\" ] && [ -b /dev/\$dev ] && break
    sleep 0.1
  done
  [ -n \"\$dev\" ] || { echo 'no block device after login'; exit 1; }
  echo \"device /dev/\$dev\"
  [ \"\$(cat /sys/block/\$dev/ro)\" = 1 ] || { echo 'LUN is not read-only'; exit 1; }
  [ \"\$(sha256sum < /dev/\$dev | cut -d' ' -f1)\" = \"$(cat "$VM_RUN/g1/shared/cipher.sum")\" ] || { echo 'ciphertext differs'; exit 1; }
  cryptsetup open --readonly --key-file /shared/vol1.key /dev/\$dev src
  [ \"\$(head -c 16M /dev/mapper/src | sha256sum | cut -d' ' -f1)\" = \"$(cat "$VM_RUN/g1/shared/plain.sum")\" ] || { echo 'plaintext differs'; exit 1; }
  cryptsetup close src
  iscsiadm -m node -T $IQN -p 169.254.0.1 --logout
  iscsiadm -m session 2>/dev/null | fails grep -q ."

vm_check g1 30 "g1 sees no initiator left after the logout" "
  tgtadm --lld iscsi --op show --mode target | fails grep -q 'Initiator: iqn'"

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
  # Only g1 has vg0/pool: g2 serves without storage.
  [ $g = g1 ] && printf '[storage]\nvolume_group = "vg0"\nthin_pool = "pool"\npbkdf = "pbkdf2"\npbkdf_iterations = 1000\n' \
    >> "$VM_RUN/$g/shared/workerd.toml"
  vm_check $g 30 "$g starts workerd" "
    setsid $VM_BUILD/workerd/workerd -c /shared/workerd.toml > /shared/workerd.log 2>&1 < /dev/null &
    for i in \$(seq 100); do grep -q listening /shared/workerd.log && exit 0; sleep 0.1; done; exit 1"
done
vm_check g1 30 "workerd g1 reaches its peer g2 over mutual TLS (--check)" \
  "$VM_BUILD/workerd/workerd -c /shared/workerd.toml --check"

C="$VM_BUILD/migratectl/migratectl --server 169.254.0.1:7443 --server-name g1 --ca /shared/tls/ca.crt --cert /shared/tls/operator.crt --key /shared/tls/operator.key"
vm_check g2 120 "migratectl from g2 creates, lists and deletes an encrypted volume on g1" "
  $C volume create vol-2 --size 64M
  $C volumes --json | tee /dev/stderr | grep -q '\"id\":\"vol-2\",\"worker\":\"g1\",\"size_bytes\":\"67108864\"'
  $C volume create vol-2 --size 64M        # idempotent
  fails $C volume create vol-2 --size 128M     # a conflict, refused
  $C volumes
  $C volume delete vol-2
  fails $C volume show vol-2"

vm_log "boot g1 ${b1}s, g2 ${b2}s; smoke test $((SECONDS - t0))s in all"
vm_finish
