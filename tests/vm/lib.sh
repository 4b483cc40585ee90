# The VM test bed, sourced by the VM tests:
#   vm_setup             assets (built once per build tree) and a run directory; traps teardown
#   vm_boot NAME I       boots guest I (1, 2, ...) as NAME with a 2 GiB NVMe disk of its own
#   vm_wait_ready NAME   until its init serves commands (deadline VM_BOOT_TIMEOUT)
#   vm_run NAME T CMD    runs CMD (bash) in the guest, prints its output, returns its status;
#                        fails after T seconds
#   vm_pass / vm_fail    count results; vm_finish prints "N passed, M failed" and the exit status
# Guests share one private link (169.254.0.I/16) that never reaches the host network,
# see the host's userland read-only, and run until the test exits: every exit path,
# Ctrl-C included, kills them and, on failure, prints every console and init log.
set -uo pipefail

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_REPO=$(cd "$VM_HERE/../.." && pwd)
VM_BUILD=${VM_BUILD:-$VM_REPO/build}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-120}
VM_MEM=${VM_MEM:-768}
vm_passed=0 vm_failed=0
vm_pids=()
vm_names=()

vm_log() { echo "[$(date +%H:%M:%S)] $*"; }

vm_skip_unless_possible() {
  # ctest treats exit 77 as skipped (SKIP_RETURN_CODE).
  if ! command -v qemu-system-x86_64 >/dev/null; then echo "SKIP: qemu-system-x86_64 not installed"; exit 77; fi
  if [ "$(id -u)" != 0 ]; then echo "SKIP: VM tests need root (dkms, 9p export of /)"; exit 77; fi
}

vm_setup() {
  vm_skip_unless_possible
  local kver
  kver=$("$VM_HERE/assets.sh" "$VM_BUILD/vm-assets" | tail -1) || { echo "FAIL: guest assets"; exit 1; }
  VM_KVER=$kver
  VM_ASSETS=$VM_BUILD/vm-assets/$kver
  VM_RUN=$(mktemp -d "$VM_BUILD/vm-run.XXXXXX")
  # The private link: guest 1 listens, the others connect, on a port chosen per run.
  VM_LINK_PORT=$((20000 + RANDOM % 20000))
  trap 'vm_teardown' EXIT
  trap 'exit 130' INT TERM
}

vm_boot() {
  local name=$1 i=$2 d=$VM_RUN/$1
  mkdir -p "$d/shared" "$VM_RUN/objects"
  truncate -s "${VM_DISK_SIZE:-2G}" "$d/nvme.img"
  local net
  if [ "$i" = 1 ]; then net="listen=127.0.0.1:$VM_LINK_PORT"; else net="connect=127.0.0.1:$VM_LINK_PORT"; fi
  qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$VM_MEM" -nodefaults -no-user-config \
    -display none -serial "file:$d/console.log" -no-reboot \
    -kernel "$VM_ASSETS/root/boot/vmlinuz-$VM_KVER" -initrd "$VM_ASSETS/initramfs.gz" \
    -append "console=ttyS0 panic=-1 quiet vm.init=$VM_HERE/guest/init.sh vm.name=$name vm.ip=169.254.0.$i/16 vm.assets=$VM_ASSETS/root vm.iqn=iqn.2026-11.io.volmigrate:$name" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$d/shared,mount_tag=shared,security_model=none,multidevs=remap" \
    -virtfs "local,path=$VM_RUN/objects,mount_tag=objects,security_model=none,multidevs=remap" \
    -drive "file=$d/nvme.img,if=none,id=nvme0,format=raw,cache=unsafe" -device "nvme,drive=nvme0,serial=$name" \
    -netdev "socket,id=n0,$net" -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:0$i" \
    > "$d/qemu.log" 2>&1 &
  vm_pids+=($!)
  vm_names+=("$name")
  echo $! > "$d/pid"
  date +%s.%N > "$d/boot_started"
  # The listener must be up before a guest connects to it.
  if [ "$i" = 1 ]; then
    local deadline=$((SECONDS + 10))
    until ss -ltn "sport = :$VM_LINK_PORT" 2>/dev/null | grep -q LISTEN; do
      [ $SECONDS -lt $deadline ] || { echo "FAIL: guest $name did not open the link"; return 1; }
      sleep 0.1
    done
  fi
}

vm_wait_ready() {
  local name=$1 d=$VM_RUN/$1 deadline=$((SECONDS + VM_BOOT_TIMEOUT))
  while [ ! -e "$d/shared/ready" ]; do
    if ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo "FAIL: qemu for $name exited"; return 1; fi
    [ $SECONDS -lt $deadline ] || { echo "FAIL: $name not ready within ${VM_BOOT_TIMEOUT}s"; return 1; }
    sleep 0.2
  done
  local now start
  now=$(date +%s.%N) start=$(cat "$d/boot_started")
  VM_BOOT_SECONDS=$(echo "$now - $start" | bc)
  vm_log "$name ready: ${VM_BOOT_SECONDS}s from qemu start (guest uptime $(cat "$d/shared/ready")s)"
}

vm_run() {
  local name=$1 timeout=$2 cmd=$3 d=$VM_RUN/$1/shared/cmd
  # Unique without a counter: vm_run often runs in a $(...) subshell.
  local n=$d/$(date +%s%N)
  printf 'source /etc/profile.d/vm.sh\nset -e\n%s\n' "$cmd" > "$n.tmp" && mv "$n.tmp" "$n.sh"
  local deadline=$((SECONDS + timeout))
  while [ ! -e "$n.rc" ]; do
    if [ $SECONDS -ge $deadline ]; then
      echo "vm_run $name: no answer within ${timeout}s; output so far:"
      cat "$n.out" 2>/dev/null
      return 124
    fi
    sleep 0.1
  done
  cat "$n.out"
  return "$(cat "$n.rc")"
}

# vm_check NAME T DESCRIPTION CMD: runs CMD and counts a pass or a failure.
vm_check() {
  local name=$1 timeout=$2 what=$3 cmd=$4 out rc tmp=$VM_RUN/check.out
  # In the background and waited for: `wait` returns at once on a signal, so
  # Ctrl-C or a SIGTERM from ctest tears down now, not when the command ends.
  vm_run "$name" "$timeout" "$cmd" > "$tmp" 2>&1 &
  wait $!; rc=$?
  out=$(cat "$tmp")
  if [ $rc = 0 ]; then vm_pass "$what"; else vm_fail "$what (exit $rc): $out"; fi
  VM_OUT=$out
  return $rc
}

vm_pass() { vm_log "ok: $1"; vm_passed=$((vm_passed + 1)); }
vm_fail() { vm_log "FAIL: $1"; vm_failed=$((vm_failed + 1)); }

vm_dump() {
  local name
  for name in "${vm_names[@]}"; do
    echo "===== $name: console ====="; tail -n 60 "$VM_RUN/$name/console.log" 2>/dev/null
    echo "===== $name: qemu ====="; cat "$VM_RUN/$name/qemu.log" 2>/dev/null
    echo "===== $name: init log ====="; tail -n 60 "$VM_RUN/$name/shared/init.log" 2>/dev/null
    for f in "$VM_RUN/$name"/shared/*.log; do
      [ -e "$f" ] || continue
      case "$f" in */init.log) continue ;; esac
      echo "===== $name: $(basename "$f") ====="; tail -n 60 "$f"
    done
  done
}

vm_teardown() {
  local rc=$?
  if [ $rc != 0 ] && [ $rc != 77 ] || [ "$vm_failed" != 0 ]; then vm_dump; fi
  local p
  for p in $(jobs -p) "${vm_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${vm_pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${VM_RUN:-}" ] && [ "${VM_KEEP:-0}" = 0 ] && rm -rf "$VM_RUN"
  exit $rc
}

vm_finish() {
  echo "$vm_passed passed, $vm_failed failed"
  [ "$vm_failed" = 0 ]
}
