#!/usr/bin/env bash
# The demo behind scripts/demo.sh: two local VMs (w1, w2) on a private link, each
# running workerd with mutual TLS. w1 holds an encrypted volume with a filesystem,
# files and a running consumer (a writer), formatted as an older cryptsetup did
# (4 MiB LUKS2 data offset). The operator first migrates a volume of the same
# shape (detached on w2 afterwards, attached again at the end), from which w1
# learns the link's hydration rate, then plans and drains w1 with
# migratectl: the consumer is back up on w2 within seconds while the blocks are
# still being pulled; the plan's ETA is printed beside the time it took; after
# the cutover every checksum (the files from w1 and those written on w2) verifies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
VM_GUEST+=" $VM_HERE/guest/demo.sh"
step() { echo; echo "== $1"; }
workers_boot
workers_config w1 1
workers_config w2 2
step "the Debian packages (cpack: volmigrate, volmigrate-dm-clone-dkms) installed in both guests; workerd runs from them"
rm -rf "$VM_RUN/pkg" && (cd "$VM_BUILD" && cpack -G DEB -B "$VM_RUN/pkg" > "$VM_RUN/cpack.log" 2>&1) ||
  { cat "$VM_RUN/cpack.log"; exit 1; }
for g in w1 w2; do
  mkdir -p "$VM_RUN/$g/shared/pkg" && cp "$VM_RUN"/pkg/*.deb "$VM_RUN/$g/shared/pkg/" &&
    vm_run $g 300 demo_install_packages || exit 1
done
step "w1, w2: local disk -> LVM thin pool; tgtd, iscsid; workerd starts"
workers_start w1 && workers_start w2 || exit 1
step "w1 checks its configuration and its peer w2 over mutual TLS"
vm_run w1 30 '"$(bin_workerd)" -c /shared/workerd.toml --check' || exit 1
step "w1: volume vol-1 (LUKS2, 4 MiB data offset), ext4, 32 MiB of files, its consumer writing"
vm_run w1 300 "volume_make vol-1 512 32 >/dev/null && ctl volumes && ctl health" || exit 1
# A plan's rate is a link's, learned from copies like the one planned: the
# same shape as vol-1, into a w2 running one consumer (its own) as vol-1's
# copy will. On these guests the copy is bound by the destination's one vCPU,
# and each test consumer takes about a third of it (tests/vm/README.md).
step "w1: vol-0 (512 MiB, 32 MiB of files, its consumer writing) migrated to w2 first: w1 learns the link's rate"
vm_run w1 600 "volume_make vol-0 512 32 >/dev/null && ctl migrate vol-0 --to w2 >/dev/null && ctl migrations -a" || exit 1
step "w2: vol-0 detached (consumer stopped, volume closed) until the end"
vm_run w2 60 "ctl2 volume detach vol-0 && ctl2 volumes" || exit 1
step "operator: migratectl drain w1 --plan: where each volume would go, its bytes and ETA; nothing changes"
vm_run w1 60 "ctl drain w1 --plan && ctl --json drain w1 --plan > /shared/plan.json" || exit 1
step "operator: migratectl drain w1 (detached, then watched)"
vm_run w1 60 "ctl drain w1 --detach && ctl migrations" || exit 1
step "w2: the consumer is up on the clone while hydration runs"
vm_run w2 600 "demo_consumer_up_on_w2" || exit 1
step "operator: migratectl drain w1 again: it follows the running drain to the end"
vm_run w1 900 "ctl drain w1 && ctl migrations -a" || exit 1
step "w1: the plan's ETA against the time the hydration took"
vm_run w1 30 demo_eta_against_actual || exit 1
step "w2: vol-0 attached again; volumes; then the consumers stopped and every checksum compared"
vm_run w2 300 "ctl2 volume attach vol-0 && ctl2 volumes && volume_verify vol-1 && volume_verify vol-0" || exit 1
step "w1: no export left; the source copy retired, kept out of the volume list"
vm_run w1 30 "tgtadm --lld iscsi --op show --mode target; lvs -o lv_name,lv_size,lv_tags vg0"
step "both guests' kernel logs: no device timeout, I/O error or failed hydration"
vm_kernel_check
[ "$vm_failed" = 0 ] && echo "none" || exit 1
