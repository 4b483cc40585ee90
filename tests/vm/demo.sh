#!/usr/bin/env bash
# The demo behind scripts/demo.sh: two local VMs (w1, w2) on a private link, each
# running workerd with mutual TLS; the operator, in w2, drives w1 with migratectl:
# health, an encrypted volume created on w1's thin pool, listed and shown, then a
# migration asked for (refused until live migration lands).
source "$(dirname "$0")/lib.sh"
vm_setup
vm_boot w1 1 && vm_boot w2 2 || exit 1
vm_wait_ready w1 && vm_wait_ready w2 || exit 1
pki=$VM_RUN/pki
M=$VM_REPO/deploy/tls/make-certs.sh
$M ca "$pki" && for n in w1 w2 operator; do $M issue "$pki" $n; done
step() { echo; echo "== $1"; }
for i in 1 2; do
  g=w$i o=w$((3 - i))
  cp -r "$pki" "$VM_RUN/$g/shared/tls"
  cat > "$VM_RUN/$g/shared/workerd.toml" <<TOML
worker = "$g"
listen = "169.254.0.$i:7443"
data_dir = "/var/lib/volmigrate"
[tls]
ca = "/shared/tls/ca.crt"
cert = "/shared/tls/$g.crt"
key = "/shared/tls/$g.key"
[storage]
volume_group = "vg0"
thin_pool = "pool"
pbkdf = "pbkdf2"              # Argon2 is slow under emulation
pbkdf_iterations = 1000
[[peers]]
name = "$o"
address = "169.254.0.$((3 - i)):7443"
TOML
  step "$g: local NVMe -> LVM thin pool; workerd starts"
  vm_run $g 120 "
    modprobe -a dm-mod dm-crypt dm-thin-pool dm-clone iscsi_tcp sd_mod nvme
    for i in \$(seq 100); do [ -b /dev/nvme0n1 ] && break; sleep 0.1; done
    pvcreate -q /dev/nvme0n1 && vgcreate -q vg0 /dev/nvme0n1 && lvcreate -q -L 1G -T vg0/pool
    setsid $VM_BUILD/workerd/workerd -c /shared/workerd.toml > /shared/workerd.log 2>&1 < /dev/null &
    for i in \$(seq 100); do grep -q listening /shared/workerd.log && break; sleep 0.1; done
    cat /shared/workerd.log" || exit 1
done
C="$VM_BUILD/migratectl/migratectl --server 169.254.0.1:7443 --server-name w1 --ca /shared/tls/ca.crt --cert /shared/tls/operator.crt --key /shared/tls/operator.key"
step "w1 checks its configuration and its peer w2 over mutual TLS"
vm_run w1 30 "$VM_BUILD/workerd/workerd -c /shared/workerd.toml --check"
step "operator (on w2): migratectl health, volume create, volumes, volume show"
vm_run w2 120 "
  set -x
  $C health
  $C volume create vol-1 --size 256M
  $C volumes
  $C --json volume show vol-1" || exit 1
step "operator: migrate vol-1 to w2 (not built yet: the server says so)"
vm_run w2 30 "$C migrate vol-1 --to w2 || echo \"(exit \$?)\""
step "w1's workerd log"
cat "$VM_RUN/w1/shared/workerd.log"
