# shellcheck shell=bash
# workerd in the guests, sourced by the migration tests and the demo after lib.sh:
#   workers_boot [DISK1 DISK2]   vm_setup, both guests booted and serving, workers_pki
#   workers_pki                  a CA and certificates for w1, w2 (worker role), the operator
#                                (operator role) and w3 (no role: no peer of a fleet)
#   workers_config NAME I [TOML] workerd.toml for guest I (peer: the other guest), extra TOML appended
#                                ($WORKERS_MIGRATION: extra lines for its [migration] table;
#                                WORKERS_FLEET=1: no peers listed, each found by its certificate's
#                                role at {name}.workers.test, which the guests' /etc/hosts resolve)
#   workers_start NAME           modules, thin pool, state LV, tgtd, iscsid; workerd under a
#                                supervisor that restarts it when it dies ($WORKERS_ENV: its environment)
#   workers_stop NAME            the supervisor and workerd (SIGTERM)
#   workers_power_cycle NAME I   the guest's power pulled, booted again, workerd started
# Commands in the guests have guest/workers.sh's functions ($VM_GUEST): ctl and
# ctl2 (migratectl as the operator, talking to w1, w2), volume_make and
# volume_verify (a volume with files and a consumer; the checksums of
# everything on it), worker_start and worker_stop.
# The consumer hook is tests/vm/guest/consumer: a filesystem with a writer on it.
WORKERS_POOL=${WORKERS_POOL:-1G}
# shellcheck disable=SC2034  # read by vm_run (lib.sh)
VM_GUEST="$VM_HERE/guest/workers.sh"

workers_boot() {
  vm_setup
  VM_DISK_SIZE=${1:-2G} vm_boot w1 1 && VM_DISK_SIZE=${2:-2G} vm_boot w2 2 || exit 1
  vm_wait_ready w1 && vm_wait_ready w2 || exit 1
  workers_pki
}

workers_pki() {
  local m=$VM_REPO/deploy/tls/make-certs.sh
  $m ca "$VM_RUN/pki" >/dev/null && $m issue "$VM_RUN/pki" w1 --role worker && $m issue "$VM_RUN/pki" w2 --role worker &&
    $m issue "$VM_RUN/pki" operator --role operator && $m issue "$VM_RUN/pki" w3
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
[metrics]
listen = "127.0.0.1:9464"
$(workers_peers "$i")
$extra
TOML
}

# The other guest as a listed peer, or with WORKERS_FLEET=1 the address
# template it is found by.
workers_peers() {
  if [ "${WORKERS_FLEET:-0}" = 1 ]; then
    printf '[fleet]\naddress_template = "{name}.workers.test:7443"\n'
  else
    printf '[[peers]]\nname = "w%s"\naddress = "169.254.0.%s:7443"\n' "$((3 - $1))" "$((3 - $1))"
  fi
}

workers_start() {
  vm_run "$1" 120 "worker_start $WORKERS_POOL ${WORKERS_ENV:-}"
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

workers_stop() { vm_run "$1" 30 worker_stop; }
