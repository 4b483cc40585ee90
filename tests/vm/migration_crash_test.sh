#!/usr/bin/env bash
# workerd SIGKILLed on both sides once before and once after the step of every
# state of its machine (VOLMIGRATE_CRASH_DIR), restarted each time by its
# supervisor: the migration completes with the data intact, and nothing is left
# twice or left over: no export, session, node record, clone or metadata LV.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
t0=$SECONDS
workers_boot
workers_config w1 1
workers_config w2 2
WORKERS_ENV="VOLMIGRATE_CRASH_DIR=/shared/crash" workers_start w1 || exit 1
WORKERS_ENV="VOLMIGRATE_CRASH_DIR=/shared/crash" workers_start w2 || exit 1
vm_run w1 10 "mkdir -p /shared/crash" && vm_run w2 10 "mkdir -p /shared/crash"

vm_check w1 300 "w1: vol-1 (16 MiB of files, consumer running)" "$(workers_volume_cmd vol-1 128 16)"
vm_check w1 900 "vol-1 migrates while both workerds are killed around every state" "
  $CTL migrate vol-1 --to w2 --detach || echo 'the answer was lost to a kill: the migration is durable'
  id=
  wait_until 50 'id=\$($CTL --json migrations -a 2>/dev/null | jf id) && [ -n \"\$id\" ]'
  echo \"migration \$id\"
  for i in \$(seq 1600); do
    a=\$($CTL --json status \$id 2>/dev/null | jf state); b=\$($CTL2 --json status \$id 2>/dev/null | jf state)
    [ \"\$a\" = DONE ] && [ \"\$b\" = DONE ] && break
    case \"\$a\$b\" in *FAILED*|*ABORTED*) echo \"ended \$a / \$b\"; exit 1 ;; esac
    sleep 0.5
  done
  $CTL status \$id; $CTL2 status \$id
  [ \"\$a\" = DONE ] && [ \"\$b\" = DONE ]"
vm_check w1 30 "w1: killed before and after every state; no export, volume retired" "
  ls /shared/crash | tee /dev/stderr | wc -l | grep -qx 16
  [ \$(grep -c 'workerd exited 137' /shared/workerd.log) -ge 16 ]
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  [ \$(lvs --noheadings -o lv_tags vg0 | grep -c volmigrate_retired) = 1 ]"
# Two markers per state the destination runs: ACCEPTED STAGED ATTACHING CLONED
# BOOTING BOOTED HYDRATING CUT_OVER NOTIFYING (the source's eight: QUEUED
# PREPARING EXPORTING OFFERING STAGING FENCING WAITING RETIRING).
vm_check w2 30 "w2: killed before and after every state; one volume, linear; no session, record, clone or metadata" "
  ls /shared/crash | tee /dev/stderr | wc -l | grep -qx 18
  [ \$(grep -c 'workerd exited 137' /shared/workerd.log) -ge 18 ]
  [ -z \"\$(iscsiadm -m session 2>/dev/null)\" ] && ! iscsiadm -m node >/dev/null 2>&1
  dmsetup ls | tee /dev/stderr | grep -v -E '^vg0-' | sort | tr -s ' \t' ' ' | cut -d' ' -f1 | tr '\n' ' ' | grep -qx 'vol-1 vol-1-crypt '
  dmsetup table vol-1 | grep -q ' linear '
  [ \$(lvs --noheadings -o lv_name vg0 | grep -c -E 'meta|vol-1') = 1 ]"
vm_check w2 300 "every byte: fsck clean, all checksums verify" "$(workers_verify_cmd vol-1)"

vm_log "crash test $((SECONDS - t0))s in all"
vm_finish
