#!/usr/bin/env bash
# A drain of three volumes with at most two migrating at once (checked from the
# migrations' histories), a rebalance of them back (planned, then applied: the
# pools end as planned), then the destination guest powered off mid-hydration
# and booted again: hydration resumes from dm-clone's metadata, not from zero;
# then powered off again with CUT_OVER committed: the clone's metadata already
# holds every region; then the source powered off mid-hydration and booted again: it
# exports again and the destination's consumer sees no I/O error. Every
# migrated volume verifies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
VM_GUEST+=" $VM_HERE/guest/drain.sh"
t0=$SECONDS
workers_boot
workers_config w1 1
workers_config w2 2
workers_start w1 && workers_start w2 || exit 1

for v in vol-a vol-b vol-c; do
  vm_check w1 300 "w1: $v (4 MiB of files, consumer running)" "volume_make $v 64 4" || exit 1
done
vm_check w1 900 "drain w1 with --concurrency 2: three migrations DONE" "drain_three_volumes"
vm_check w1 30 "never more than two migrated at once (PREPARING..DONE spans from the histories)" "drain_at_most_two_at_once"

# Rebalance: three volumes on w2, none on w1 once its retired copies are purged.
vm_check w1 60 "w1: the drain's retired copies purged (migratectl retired purge)" drain_purge_retired
vm_check w2 60 "w2: rebalance --plan moves volumes so the pools end nearer each other; nothing starts" rebalance_plan
vm_check w2 900 "w2: rebalance --apply runs the planned moves to DONE" rebalance_apply
vm_run w1 20 "held_bytes pool" > "$VM_RUN/w1-pool" || vm_fail "w1's pool use"
vm_check w2 30 "each pool's use is what the plan said" "rebalance_matches_plan $(cat "$VM_RUN/w1-pool")" &&
  vm_log "$(echo "$VM_OUT" | grep '^w2: planned')"
moved=$(grep -o '"volume_id":"[^"]*"' "$VM_RUN/w2/shared/rb-plan.json" | cut -d'"' -f4)
for v in vol-a vol-b vol-c; do
  if echo "$moved" | grep -qx "$v"; then g=w1; else g=w2; fi
  vm_check $g 300 "$v verifies on $g" "volume_verify $v"
done

# Hydration held to 1 MiB/s on w2 so the power cut lands mid-hydration; w2
# boots again without the hold (the rest need not take a minute).
workers_stop w2 && WORKERS_MIGRATION='hydration_max_bytes_per_second = 1048576' workers_config w2 2 &&
  workers_start w2 || { vm_fail "workerd on w2, hydration held to 1 MiB/s"; exit 1; }
vm_check w1 300 "w1: vol-r (64 MiB of files, consumer running)" "volume_make vol-r 256 64" || exit 1
vm_check w1 600 "vol-r migrates to w2 and hydrates (held to 1 MiB/s)" "drain_migrate_held"
MIGR=$(cat "$VM_RUN/w1/shared/mig-r")
BEFORE=$(cat "$VM_RUN/w1/shared/hydrated-before")
vm_log "powering w2 off mid-hydration ($BEFORE bytes hydrated) and booting it again"
# It comes back without the hold, and halts with CUT_OVER committed and its
# step not run (VOLMIGRATE_HALT_BEFORE) for the second power cut below.
workers_config w2 2
WORKERS_ENV="VOLMIGRATE_HALT_BEFORE=migration-in.CUT_OVER" workers_power_cycle w2 2 ||
  { vm_fail "w2 and its workerd back"; exit 1; }
vm_check w2 600 "w2 resumes: the clone is rebuilt from its metadata, not from zero; hydrated, CUT_OVER committed" "drain_resumes_from_metadata $BEFORE" || exit 1

# The destination loses power again, with CUT_OVER committed: on restart the
# clone comes back from its metadata, which must already say every region is
# there (hydration is judged from a status that commits it), and only then
# the linear map.
vm_log "powering w2 off in CUT_OVER and booting it again"
workers_power_cycle w2 2 || { vm_fail "w2 and its workerd back"; exit 1; }
vm_check w2 600 "w2 resumes in CUT_OVER: clone rebuilt from its metadata, every region hydrated; DONE" "drain_resumes_in_cut_over $MIGR"
vm_check w2 300 "vol-r verifies on w2" "volume_verify vol-r"

# The source loses power while the destination hydrates (issue 12, scenario 7):
# tgt comes back empty, so the source's workerd makes the export again from
# WAITING; the destination's I/O to the source waits meanwhile (the
# replacement timeout outlasts a reboot), so its consumer sees no I/O error.
# w2 is the source here: only the guest that connects to the link can be
# power-cycled (workers_power_cycle); w1, the destination, is held to 1 MiB/s.
workers_stop w1 && WORKERS_MIGRATION='hydration_max_bytes_per_second = 1048576' workers_config w1 1 &&
  workers_start w1 || { vm_fail "workerd on w1, hydration held to 1 MiB/s"; exit 1; }
vm_check w2 300 "w2: vol-t (24 MiB of files, consumer running)" "volume_make vol-t 128 24" || exit 1
vm_check w2 600 "vol-t migrates to w1 and hydrates (held to 1 MiB/s)" "drain_source_migrate_held" || exit 1
MIGT=$(cat "$VM_RUN/w2/shared/mig-t")
vm_run w1 10 "dmesg | wc -l > /shared/dmesg-before"
# The consumer's reads and writes of regions not yet copied wait for the
# source, by design: the kernel may report its tasks blocked meanwhile.
vm_kernel_allow w1 'blocked for more than'
vm_log "powering w2 (the source) off mid-hydration and booting it again"
cut=$SECONDS
workers_power_cycle w2 2 || { vm_fail "w2 and its workerd back"; exit 1; }
vm_log "w2 back with workerd $((SECONDS - cut)) s after the power cut"
vm_check w2 60 "w2 made the export again from WAITING" "drain_export_made_again $MIGT"
vm_check w1 600 "w1's session came back by itself; vol-t hydrates to the end; both sides DONE" "drain_session_came_back $MIGT"
vm_check w1 30 "w1's kernel logged no I/O error, offline disk or failed hydration, and the consumer no error" "drain_no_io_error"
vm_check w1 300 "vol-t verifies on w1" "volume_verify vol-t"

vm_log "drain test $((SECONDS - t0))s in all"
vm_finish
