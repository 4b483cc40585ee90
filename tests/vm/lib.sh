# shellcheck shell=bash
# The VM test bed, sourced by the VM tests:
#   vm_setup             assets (built once per build tree) and a run directory; traps teardown
#   vm_boot NAME I       boots guest I (1, 2, ...) as NAME with a 2 GiB NVMe disk of its own
#   vm_wait_ready NAME   until its init serves commands (deadline VM_BOOT_TIMEOUT)
#   vm_run NAME T CMD    runs CMD (bash) in the guest, prints its output, returns its status;
#                        fails after T seconds. CMD runs under set -e after guest/lib.sh and
#                        the files in $VM_GUEST (the test's guest-side checks, one function
#                        each: CMD is mostly a call of one) are sourced, with $VM_HERE and
#                        $VM_BUILD set as on the host
#   vm_pass / vm_fail    count results; vm_finish checks the guests' kernel logs, prints
#                        "N passed, M failed" and the exit status
#   vm_kernel_allow NAME ERE   kernel messages of NAME matching ERE from now on were caused on
#                        purpose (a link cut, a power cut): not counted as failures
#   vm_explain NAME      has the guest's kernel print its blocked tasks and CPU backtraces on its
#                        console through QEMU's monitor (works when the 9p channel is stuck)
# Every guest logs its kernel messages twice: warnings and worse on its serial
# console (console.log, written by QEMU, so it survives a stuck guest), and all of
# them through 9p (shared/dmesg.log). A device timeout, an I/O error, a file system
# error, a failed hydration or a task blocked for a minute fails the test unless
# the test allowed it. On failure every log, and what the guests' device-mapper,
# iSCSI and LVM hold, is kept under $VM_BUILD/vm-logs/ (the path is printed, with
# each guest's first kernel error).
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
# Kernel messages that mean the test bed or the product broke.
VM_KERNEL_ERRORS='I/O error|Buffer I/O|EXT4-fs error|EXT4-fs \(.*\): (Remounting filesystem read-only|Aborting journal)|Detected aborted journal|hydration failed|blocked for more than|timeout, (aborting|reset)|reset controller|critical (medium|target) error|timed out|Out of memory|Killed process|kernel BUG|BUG: |Oops|general protection fault|WARNING: CPU'
# The one kernel warning known to be the kernel's own and harmless: logging
# out of an iSCSI session while runtime PM has a request pending for its SCSI
# target makes scsi_transport_iscsi's reclaim workqueue flush pm_wq, and the
# workqueue code warns about the dependency (once per boot; the flush works).
# Seen at a cut-over that came right after hydration ended. Only a WARNING
# line right after that exact message is passed over.
VM_KERNEL_BENIGN_BEFORE='workqueue: WQ_MEM_RECLAIM iscsi_ctrl_[0-9:]+:__iscsi_unbind_session .* is flushing !WQ_MEM_RECLAIM pm:pm_runtime_work'
declare -A vm_allow=()  # NAME -> "LINE:ERE" entries, one per line

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
  truncate -s "${VM_DISK_SIZE:-2G}" "$d/disk.img"
  # A guest booted again (after a power cut) keeps its earlier boots' logs,
  # checked first: errors before the cut count.
  local f n
  [ -e "$d/console.log" ] && vm_kernel_check "$name"
  for f in "$d/console.log" "$d/shared/dmesg.log"; do
    [ -e "$f" ] || continue
    n=1; while [ -e "${f%.log}.boot$n.log" ]; do n=$((n + 1)); done
    mv "$f" "${f%.log}.boot$n.log"
  done
  vm_allow[$name]=""
  local net
  if [ "$i" = 1 ]; then net="listen=127.0.0.1:$VM_LINK_PORT"; else net="connect=127.0.0.1:$VM_LINK_PORT"; fi
  # The local disk is virtio-blk with the guest's name as its serial (the guest
  # sees /dev/disk/by-id/virtio-NAME, $VM_DISK). QEMU's emulated NVMe lost
  # completions under TCG with two guests running (I/O timeouts, controller
  # resets, then I/O errors in the guests): see tests/vm/README.md.
  # loglevel=5: warnings and worse reach the serial console (all of it is slow
  # under TCG); sysrq lets vm_explain ask for task dumps through the monitor.
  # maxcpus=2 (one vCPU still): TCG translates the guest's memory barriers
  # and locked instructions into host ones only when the machine may have
  # more than one CPU. Without them the guest's store of virtio's used_event
  # and its load of the used index can pass each other in the host's store
  # buffer while QEMU's I/O thread does the mirror image: both miss the other,
  # no interrupt is sent, and with EVENT_IDX none ever is again (vm_lsvd: 193
  # writes done in QEMU, never completed in the guest; see tests/vm/README.md).
  qemu-system-x86_64 -accel tcg -cpu max -smp 1,maxcpus=2 -m "$VM_MEM" -nodefaults -no-user-config \
    -display none -serial "file:$d/console.log" -no-reboot \
    -qmp "unix:$d/qmp.sock,server=on,wait=off" \
    -kernel "$VM_ASSETS/root/boot/vmlinuz-$VM_KVER" -initrd "$VM_ASSETS/initramfs.gz" \
    -append "console=ttyS0 panic=-1 loglevel=5 sysrq_always_enabled=1 vm.init=$VM_HERE/guest/init.sh vm.name=$name vm.ip=169.254.0.$i/16 vm.assets=$VM_ASSETS/root vm.iqn=iqn.2026-11.io.volmigrate:$name" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$d/shared,mount_tag=shared,security_model=none,multidevs=remap" \
    -virtfs "local,path=$VM_RUN/objects,mount_tag=objects,security_model=none,multidevs=remap" \
    -drive "file=$d/disk.img,if=none,id=disk0,format=raw,cache=unsafe" -device "virtio-blk-pci,drive=disk0,serial=$name" \
    -netdev "socket,id=n0,$net" -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:0$i" \
    > "$d/qemu.log" 2>&1 &
  vm_pids+=($!)
  [[ " ${vm_names[*]} " == *" $name "* ]] || vm_names+=("$name")
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
  local n
  n=$d/$(date +%s%N)
  # The guest sees the host's tree at the same paths: the helpers and the
  # test's guest-side checks ($VM_GUEST: files of functions) are sourced.
  {
    printf 'source /etc/profile.d/vm.sh\nVM_HERE=%q\nVM_BUILD=%q\nsource "$VM_HERE/guest/lib.sh"\n' "$VM_HERE" "$VM_BUILD"
    local f
    for f in ${VM_GUEST:-}; do printf 'source %q\n' "$f"; done
    printf 'set -e\n%s\n' "$cmd"
  } > "$n.tmp" && mv "$n.tmp" "$n.sh"
  local deadline=$((SECONDS + timeout))
  while [ ! -e "$n.rc" ]; do
    if [ $SECONDS -ge $deadline ]; then
      echo "vm_run $name: no answer within ${timeout}s; output so far:"
      cat "$n.out" 2>/dev/null
      vm_explain "$name"
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
  # shellcheck disable=SC2034  # the command's output, read by the tests
  VM_OUT=$out
  return $rc
}

vm_pass() { vm_log "ok: $1"; vm_passed=$((vm_passed + 1)); }
vm_fail() { vm_log "FAIL: $1"; vm_failed=$((vm_failed + 1)); }

# Through QEMU's monitor, not the guest's 9p: console loglevel up, sysrq w
# (blocked tasks) and l (CPU backtraces), loglevel back to 5. The dump lands on
# the console (console.log).
vm_explain() {
  local name=$1 sock=$VM_RUN/$1/qmp.sock k cmds='{"execute":"qmp_capabilities"}'
  [ -S "$sock" ] || return 0
  for k in 8 w l 5; do
    cmds+=$'\n''{"execute":"human-monitor-command","arguments":{"command-line":"sendkey alt-sysrq-'$k'"}}'
  done
  echo "$cmds" | timeout 10 socat -t 3 - "UNIX-CONNECT:$sock" >/dev/null 2>&1 || echo "vm_explain $name: monitor did not answer"
  sleep 3
  echo "vm_explain $name: blocked tasks and backtraces asked for; see its console.log"
}

vm_kernel_allow() {
  local name=$1 ere=$2 c d
  c=$({ wc -l < "$VM_RUN/$name/console.log"; } 2>/dev/null || echo 0)
  d=$({ wc -l < "$VM_RUN/$name/shared/dmesg.log"; } 2>/dev/null || echo 0)
  vm_allow[$name]+="$c:$d:$ere"$'\n'
}

# Prints NAME's kernel messages (this boot's console and dmesg) that match
# VM_KERNEL_ERRORS and no allowance in force when they were logged.
vm_kernel_errors() {
  local name=$1 f
  for f in "$VM_RUN/$name/console.log" "$VM_RUN/$name/shared/dmesg.log"; do
    [ -e "$f" ] || continue
    # shellcheck disable=SC2094  # $f is only compared, not written
    tr -d '\r' < "$f" | awk -v allow="${vm_allow[$name]:-}" -v bad="$VM_KERNEL_ERRORS" -v benign="$VM_KERNEL_BENIGN_BEFORE" \
      -v col="$([ "$f" = "$VM_RUN/$name/console.log" ] && echo 1 || echo 2)" '
      BEGIN { n = split(allow, a, "\n")
              for (i = 1; i <= n; i++) if (a[i] != "") { split(a[i], p, ":"); from[i] = p[col] + 0
                ere[i] = substr(a[i], length(p[1]) + length(p[2]) + 3) } }
      $0 ~ bad && !(prev ~ benign && $0 ~ /WARNING: CPU: [0-9]+ PID: [0-9]+ at kernel\/workqueue\.c:[0-9]+ check_flush_dependency/) {
        for (i = 1; i <= n; i++) if (a[i] != "" && NR > from[i] && $0 ~ ere[i]) next; print }
      { prev = $0 }'
  done
}

# Kernel errors that the test did not cause on purpose fail it (every guest, or those named).
vm_kernel_check() {
  local name errs
  for name in "${@:-${vm_names[@]}}"; do
    errs=$(vm_kernel_errors "$name")
    [ -z "$errs" ] && continue
    vm_fail "$name's kernel logged $(echo "$errs" | wc -l) error line(s), the first: $(echo "$errs" | head -1)"
  done
}

# Keeps every log and the guests' storage state in a folder of the build tree.
vm_collect() {
  local keep name f
  keep=$VM_BUILD/vm-logs/$(basename "$0" .sh)-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$keep"
  for name in "${vm_names[@]}"; do
    kill -0 "$(cat "$VM_RUN/$name/pid" 2>/dev/null)" 2>/dev/null &&
      vm_run "$name" 20 "set +e
        for c in 'dmsetup table' 'dmsetup status' 'dmsetup info -c' 'lvs -a -o+lv_tags,data_percent,metadata_percent' \
                 'iscsiadm -m session -P3' 'tgtadm --lld iscsi --op show --mode target' 'mount' 'ps -eo pid,stat,wchan:32,args'; do
          echo \"===== \$c\"; \$c 2>&1
        done" > "$VM_RUN/$name/state.txt" 2>&1
    mkdir -p "$keep/$name"
    for f in "$VM_RUN/$name"/*.log "$VM_RUN/$name"/state.txt "$VM_RUN/$name"/shared/*.log; do
      [ -e "$f" ] && cp "$f" "$keep/$name/"
    done
  done
  echo "$keep"
}

# Every blocked task in a kernel log (stdin: console or dmesg.log), one line
# each: the task, its workqueue item if any, and its call chain innermost
# first ("?" frames, the unreliable ones, left out). Under loglevel 5 the
# console lacks the hung-task report's "task:" line; the INFO line names it.
vm_blocked_tasks() {
  tr -d '\r' | sed -E 's/^\[ *[0-9.]+\] //; s/^[a-z]+ *:[a-z]+ *: [0-9T:,.+-]+ //' | awk '
    function flush() { if (calls != "") print "blocked: " task (wq != "" ? " [" wq "]" : "") ": " calls; task = wq = calls = "" }
    /^INFO: task .* blocked for more than/ { flush(); task = $3; next }
    /^task:.* state:D/ { if (task == "" || calls != "") { flush(); task = $1; sub(/^task:/, "", task) } next }
    task != "" && /^Workqueue:/ { wq = substr($0, 12); next }
    task != "" && /^ [a-z_][a-zA-Z0-9_.]*\+0x/ { f = $1; sub(/\+.*/, "", f); calls = calls (calls == "" ? "" : " < ") f; next }
    task != "" && /^ <\/TASK>/ { flush() }
    END { flush() }'
}

vm_dump() {
  local name keep first
  keep=$(vm_collect)
  for name in "${vm_names[@]}"; do
    for f in "$VM_RUN/$name"/shared/*.log; do
      [ -e "$f" ] || continue
      case "$f" in */init.log|*/dmesg*.log) continue ;; esac
      echo "===== $name: $(basename "$f") (last 40 lines) ====="; tail -n 40 "$f"
    done
    echo "===== $name: console (last 40 lines) ====="; tail -n 40 "$VM_RUN/$name/console.log" 2>/dev/null
  done
  # The first error with what follows it (a hung task's backtrace), and the
  # processes stuck in D state: CI keeps only this output, not the folder.
  for name in "${vm_names[@]}"; do
    first=$(cat "$VM_RUN/$name"/console*.log "$VM_RUN/$name"/shared/dmesg*.log 2>/dev/null | tr -d '\r' |
      grep -E -m1 -A12 "$VM_KERNEL_ERRORS")
    echo "first kernel error on $name: ${first:-none}"
    grep -E '^ *[0-9]+ D' "$keep/$name/state.txt" 2>/dev/null | sed "s/^/$name D state: /"
    for f in "$VM_RUN/$name"/console*.log "$VM_RUN/$name"/shared/dmesg*.log; do
      [ -e "$f" ] && vm_blocked_tasks < "$f"
    done | awk -v n="$name" '!seen[$0]++ { print n, $0 }' | head -40
  done
  echo "every console, dmesg, workerd log and each guest's dm/iSCSI/LVM state: $keep"
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
  vm_kernel_check
  echo "$vm_passed passed, $vm_failed failed"
  [ "$vm_failed" = 0 ]
}
