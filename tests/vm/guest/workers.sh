# shellcheck shell=bash
# The guest side of workers.sh: workerd, its storage and its volumes in a
# guest, and migratectl as the operator. Sourced by vm_run (see lib.sh).

# The binaries: the build tree's, or the installed package's in a guest the
# demo installed it in (/shared/installed marks it; the guest's root is the
# host's under an overlay, so a path alone cannot tell).
bin_workerd() { if [ -e /shared/installed ]; then echo /usr/sbin/workerd; else echo "$VM_BUILD/workerd/workerd"; fi; }
bin_migratectl() {
  if [ -e /shared/installed ]; then echo /usr/bin/migratectl; else echo "$VM_BUILD/migratectl/migratectl"; fi
}

# ctl, ctl2 ARGS...: migratectl as the operator, talking to w1, w2.
ctl() { "$(bin_migratectl)" --server 169.254.0.1:7443 --server-name w1 --ca /shared/tls/ca.crt \
  --cert /shared/tls/operator.crt --key /shared/tls/operator.key "$@"; }
ctl2() { "$(bin_migratectl)" --server 169.254.0.2:7443 --server-name w2 --ca /shared/tls/ca.crt \
  --cert /shared/tls/operator.crt --key /shared/tls/operator.key "$@"; }
export VM_BUILD
export -f ctl ctl2 bin_migratectl  # for the shells a check starts in the background

# worker_start POOL [VAR=VALUE...]: modules, the thin pool (POOL big) and the
# state LV on the guest's NVMe disk (made once: they survive a reboot, as on a
# real worker), tgtd and iscsid, then workerd (with the VARs in its
# environment) under a loop that starts it again when it dies, until
# /shared/stop-workerd exists. Returns once this start's workerd listens.
worker_start() {
  local pool=$1 before
  shift
  modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
  [ -b "$VM_DISK" ]
  if ! vgs vg0 >/dev/null 2>&1; then
    pvcreate -q "$VM_DISK" && vgcreate -q vg0 "$VM_DISK"
    lvcreate -q -L "$pool" -T vg0/pool && lvcreate -q -L 64M -n state vg0 && mkfs.ext4 -q /dev/vg0/state
  fi
  vgchange -q -ay vg0 >/dev/null
  mkdir -p /var/lib/volmigrate && { mountpoint -q /var/lib/volmigrate || mount /dev/vg0/state /var/lib/volmigrate; }
  # Names a fleet's address template uses (workers_config WORKERS_FLEET=1).
  grep -q workers.test /etc/hosts || printf '169.254.0.1 w1.workers.test\n169.254.0.2 w2.workers.test\n' >> /etc/hosts
  pgrep -x tgtd >/dev/null || tgtd
  wait_until --every 0.1 10 'tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1'
  pgrep -x iscsid >/dev/null || iscsid
  rm -f /shared/stop-workerd
  # shellcheck disable=SC2034  # read by the wait_until condition below
  before=$(workerd_starts)
  # shellcheck disable=SC2016  # expanded by the loop's own bash
  setsid env "$@" bash -c 'while [ ! -e /shared/stop-workerd ]; do
      "$0" -c /shared/workerd.toml >> /shared/workerd.log 2>&1; echo "workerd exited $?" >> /shared/workerd.log
      sleep 0.3
    done' "$(bin_workerd)" < /dev/null > /dev/null 2>&1 &
  # This start's line, not one an earlier start left in the log.
  wait_until --every 0.1 20 '[ "$(workerd_starts)" -gt "$before" ]'
}

# How many times workerd said it listens; a log it has not made yet counts none.
workerd_starts() { local n; n=$(grep -c listening /shared/workerd.log 2>/dev/null); echo "${n:-0}"; }

worker_stop() {
  touch /shared/stop-workerd
  pkill -x workerd || true
  wait_until --every 0.1 25 '! pgrep -x workerd >/dev/null'
}

# volume_make NAME SIZE_MIB DATA_MIB: a volume on w1 made the way an older
# cryptsetup would have: LUKS2 with a 4 MiB data offset (cryptsetup 2.6
# defaults to 16 MiB), a filesystem, DATA_MIB files src-* with their checksums
# in MANIFEST, then its consumer started.
volume_make() {
  local vol=$1 size=$2 data=$3 key=/var/lib/volmigrate/keys/$1.key i
  lvcreate -q -y -V "$((size + 4))M" -T vg0/pool -n "$vol" --addtag volmigrate_volume
  mkdir -p /var/lib/volmigrate/keys && chmod 700 /var/lib/volmigrate/keys
  head -c 64 /dev/urandom > "$key" && chmod 600 "$key"
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 8192 \
    --label "$vol" --key-file "$key" "/dev/vg0/$vol"
  cryptsetup open --key-file "$key" "/dev/vg0/$vol" "$vol"
  mkfs.ext4 -q "/dev/mapper/$vol" && mkdir -p "/mnt/$vol" && mount "/dev/mapper/$vol" "/mnt/$vol"
  for i in $(seq "$data"); do head -c 1M /dev/urandom > "/mnt/$vol/src-$i"; done
  (cd "/mnt/$vol" && sha256sum src-* > MANIFEST) && sync && umount "/mnt/$vol"
  "$VM_HERE/guest/consumer" start "$vol" "/dev/mapper/$vol"
}

# volume_verify NAME: stops the consumer, checks the filesystem and every
# checksum in its MANIFEST (the source's files and the ones written since),
# prints the counts.
volume_verify() {
  local vol=$1
  "$VM_HERE/guest/consumer" stop "$vol" "/dev/mapper/$vol"
  fsck.ext4 -n -f "/dev/mapper/$vol"
  mount -o ro "/dev/mapper/$vol" "/mnt/$vol"
  (cd "/mnt/$vol" && sha256sum --quiet -c MANIFEST)
  echo "verified: $(grep -c ' src-' "/mnt/$vol/MANIFEST") source files, $(grep -c ' w-' "/mnt/$vol/MANIFEST") written by consumers"
  [ "$(grep -c ' w-' "/mnt/$vol/MANIFEST")" -gt 0 ]
  wait_until --every 0.1 10 "umount /mnt/$vol 2>/dev/null"
  fails mountpoint -q "/mnt/$vol"
}
