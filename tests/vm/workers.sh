# shellcheck shell=bash
# workerd in the guests, sourced by the migration tests and the demo after lib.sh:
#   workers_boot [DISK1 DISK2]   vm_setup, both guests booted and serving, workers_pki
#   workers_pki                  a CA and certificates for w1, w2 and the operator
#   workers_config NAME I [TOML] workerd.toml for guest I (peer: the other guest), extra TOML appended
#                                ($WORKERS_MIGRATION: extra lines for its [migration] table)
#   workers_start NAME           modules, thin pool, state LV, tgtd, iscsid; workerd under a
#                                supervisor that restarts it when it dies ($WORKERS_ENV: its environment)
#   workers_stop NAME            the supervisor and workerd (SIGTERM)
#   workers_power_cycle NAME I   the guest's power pulled, booted again, workerd started
#   workers_volume_cmd, workers_verify_cmd   guest commands: a volume with files and a
#                                consumer on w1; the checksums of everything on it
#   $CTL, $CTL2                  migratectl as the operator, talking to w1, w2
# The consumer hook is tests/vm/guest/consumer: a filesystem with a writer on it.
WORKERS_POOL=${WORKERS_POOL:-1G}
# shellcheck disable=SC2034  # used by the tests that source this
CTL="$VM_BUILD/migratectl/migratectl --server 169.254.0.1:7443 --server-name w1 --ca /shared/tls/ca.crt --cert /shared/tls/operator.crt --key /shared/tls/operator.key"
# shellcheck disable=SC2034
CTL2="$VM_BUILD/migratectl/migratectl --server 169.254.0.2:7443 --server-name w2 --ca /shared/tls/ca.crt --cert /shared/tls/operator.crt --key /shared/tls/operator.key"

workers_boot() {
  vm_setup
  VM_DISK_SIZE=${1:-2G} vm_boot w1 1 && VM_DISK_SIZE=${2:-2G} vm_boot w2 2 || exit 1
  vm_wait_ready w1 && vm_wait_ready w2 || exit 1
  workers_pki
}

workers_pki() {
  local m=$VM_REPO/deploy/tls/make-certs.sh n
  $m ca "$VM_RUN/pki" >/dev/null && for n in w1 w2 operator; do $m issue "$VM_RUN/pki" $n >/dev/null; done
}

workers_config() {
  local g=$1 i=$2 extra=${3:-}
  mkdir -p "$VM_RUN/$g/shared"
  rm -rf "$VM_RUN/$g/shared/tls" && cp -r "$VM_RUN/pki" "$VM_RUN/$g/shared/tls"
  cat > "$VM_RUN/$g/shared/workerd.toml" <<TOML
worker = "w$i"
listen = "169.254.0.$i:7443"
data_dir = "/var/lib/volmigrate"
log_level = "debug"             # commands and their durations in the log
[tls]
ca = "/shared/tls/ca.crt"
cert = "/shared/tls/w$i.crt"
key = "/shared/tls/w$i.key"
[storage]
volume_group = "vg0"
thin_pool = "pool"
pbkdf = "pbkdf2"              # Argon2 is slow under emulation
pbkdf_iterations = 1000
[migration]
consumer_start = "$VM_HERE/guest/consumer-start"
consumer_stop = "$VM_HERE/guest/consumer-stop"
stall_seconds = 10
replacement_timeout_seconds = 120
${WORKERS_MIGRATION:-}
[[peers]]
name = "w$((3 - i))"
address = "169.254.0.$((3 - i)):7443"
$extra
TOML
}

# The state (LMDB and keys) lives on the NVMe disk, as on a real worker: it
# survives a reboot of the guest.
workers_start() {
  local g=$1
  vm_run "$g" 120 "
    modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod
    [ -b \$VM_DISK ]
    if ! vgs vg0 >/dev/null 2>&1; then
      pvcreate -q \$VM_DISK && vgcreate -q vg0 \$VM_DISK
      lvcreate -q -L $WORKERS_POOL -T vg0/pool && lvcreate -q -L 64M -n state vg0 && mkfs.ext4 -q /dev/vg0/state
    fi
    vgchange -q -ay vg0 >/dev/null
    mkdir -p /var/lib/volmigrate && { mountpoint -q /var/lib/volmigrate || mount /dev/vg0/state /var/lib/volmigrate; }
    pgrep -x tgtd >/dev/null || tgtd
    wait_until --every 0.1 10 'tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1'
    pgrep -x iscsid >/dev/null || iscsid
    rm -f /shared/stop-workerd
    # A log workerd has not made yet counts no start.
    started() { cat /shared/workerd.log 2>/dev/null | grep -c listening || true; }
    before=\$(started)
    setsid bash -c 'while [ ! -e /shared/stop-workerd ]; do
        ${WORKERS_ENV:-} $VM_BUILD/workerd/workerd -c /shared/workerd.toml >> /shared/workerd.log 2>&1; echo \"workerd exited \$?\" >> /shared/workerd.log
        sleep 0.3
      done' < /dev/null > /dev/null 2>&1 &
    # This start's line, not one an earlier start left in the log.
    wait_until --every 0.1 20 '[ \"\$(started)\" -gt \"\$before\" ]'"
}

# workers_power_cycle NAME INDEX: pulls the guest's power (no shutdown, no
# flush), boots it again on the same disk and starts workerd. Only w2: it
# connects to the link w1's QEMU listens on, and QEMU takes a new connection
# there, but a connecting side whose listener went away stays cut off.
workers_power_cycle() {
  local g=$1 i=$2
  kill -9 "$(cat "$VM_RUN/$g/pid")"; sleep 1
  rm -f "$VM_RUN/$g/shared/ready" && vm_boot "$g" "$i" && vm_wait_ready "$g" && workers_start "$g"
}

workers_stop() {
  vm_run "$1" 30 "touch /shared/stop-workerd; pkill -x workerd; wait_until --every 0.1 25 '! pgrep -x workerd >/dev/null'"
}

# A volume on w1 made the way an older cryptsetup would have: LUKS2 with a
# 4 MiB data offset (cryptsetup 2.6 defaults to 16 MiB), filesystem, files
# src-* with their checksums in MANIFEST, then its consumer started.
# workers_volume_cmd NAME SIZE_MIB DATA_MIB: the command, for vm_run/vm_check on w1.
workers_volume_cmd() {
  local vol=$1 size=$2 data=$3
  echo "
    lvcreate -q -y -V $(( size + 4 ))M -T vg0/pool -n $vol --addtag volmigrate_volume
    mkdir -p /var/lib/volmigrate/keys && chmod 700 /var/lib/volmigrate/keys
    head -c 64 /dev/urandom > /var/lib/volmigrate/keys/$vol.key && chmod 600 /var/lib/volmigrate/keys/$vol.key
    cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --offset 8192 \
      --label $vol --key-file /var/lib/volmigrate/keys/$vol.key /dev/vg0/$vol
    cryptsetup open --key-file /var/lib/volmigrate/keys/$vol.key /dev/vg0/$vol $vol
    mkfs.ext4 -q /dev/mapper/$vol && mkdir -p /mnt/$vol && mount /dev/mapper/$vol /mnt/$vol
    for i in \$(seq $data); do head -c 1M /dev/urandom > /mnt/$vol/src-\$i; done
    (cd /mnt/$vol && sha256sum src-* > MANIFEST) && sync && umount /mnt/$vol
    $VM_HERE/guest/consumer start $vol /dev/mapper/$vol"
}

# Stops the consumer on the guest, checks the filesystem and every checksum in
# its MANIFEST (the source's files and the ones written since), prints counts.
# workers_verify_cmd VOLUME: the command, for vm_run/vm_check.
workers_verify_cmd() {
  local vol=$1
  echo "
    $VM_HERE/guest/consumer stop $vol /dev/mapper/$vol
    fsck.ext4 -n -f /dev/mapper/$vol
    mount -o ro /dev/mapper/$vol /mnt/$vol
    cd /mnt/$vol && sha256sum --quiet -c MANIFEST
    echo \"verified: \$(grep -c ' src-' MANIFEST) source files, \$(grep -c ' w-' MANIFEST) written by consumers\"
    [ \$(grep -c ' w-' MANIFEST) -gt 0 ]
    cd / && wait_until --every 0.1 10 'umount /mnt/$vol 2>/dev/null'
    fails mountpoint -q /mnt/$vol"
}

