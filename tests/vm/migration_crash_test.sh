#!/usr/bin/env bash
# workerd SIGKILLed on both sides once before and once after the step of every
# state of its machine (VOLMIGRATE_CRASH_DIR), restarted each time by its
# supervisor: the migration completes with the data intact, and nothing is left
# twice or left over: no export, session, node record, clone or metadata LV.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
VM_GUEST+=" $VM_HERE/guest/crash.sh"
t0=$SECONDS
workers_boot
workers_config w1 1
workers_config w2 2
WORKERS_ENV="VOLMIGRATE_CRASH_DIR=/shared/crash" workers_start w1 || exit 1
WORKERS_ENV="VOLMIGRATE_CRASH_DIR=/shared/crash" workers_start w2 || exit 1
vm_run w1 10 "mkdir -p /shared/crash" && vm_run w2 10 "mkdir -p /shared/crash"

vm_check w1 300 "w1: vol-1 (16 MiB of files, consumer running)" "volume_make vol-1 128 16"
vm_check w1 900 "vol-1 migrates while both workerds are killed around every state" "crash_migrate_through_kills"
vm_check w1 30 "w1: killed before and after every state; no export, volume retired" "crash_source_after"
# Two markers per state the destination runs: ACCEPTED STAGED ATTACHING CLONED
# BOOTING BOOTED HYDRATING CUT_OVER NOTIFYING (the source's eight: QUEUED
# PREPARING EXPORTING OFFERING STAGING FENCING WAITING RETIRING).
vm_check w2 30 "w2: killed before and after every state; one volume, linear; no session, record, clone or metadata" "crash_destination_after"
vm_check w2 300 "every byte: fsck clean, all checksums verify" "volume_verify vol-1"

vm_log "crash test $((SECONDS - t0))s in all"
vm_finish
