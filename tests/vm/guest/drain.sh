# shellcheck shell=bash
# The guest side of migration_drain_test.sh, one function per check (see lib.sh vm_run).

drain_three_volumes() {
  ctl drain --concurrency 2 > /tmp/drain.out 2>&1; rc=$?; tail -5 /tmp/drain.out; [ $rc = 0 ]
}

drain_at_most_two_at_once() {
  for id in $(ctl --json migrations -a | grep -o '"id":"m-[^"]*"' | cut -d'"' -f4); do
    ctl --json status "$id" | grep -o '"at_unix_ms":"[0-9]*","from":"[A-Z_]*","to":"[A-Z_]*"' |
      awk -F'"' '$12 == "PREPARING" { print $4, 1 } $12 == "DONE" { print $4, -1 }'
  done | sort -n | awk '{ n += $2; if (n > max) max = n } END { print "at most", max, "at once"; exit !(max == 2) }'
}

drain_migrate_held() {
  ctl --json migrate vol-r --to w2 --detach | jf id > /shared/mig-r
  wait_until 600 'h=$(ctl2 --json status $(cat /shared/mig-r) | tee /tmp/m | jn hydrated_bytes)
    [ "$(jf state < /tmp/m)" = HYDRATING ] && [ "${h:-0}" -gt $((4 * 1048576)) ]'
  sleep 2   # past dm-clone's once-a-second metadata commit
  ctl2 --json status "$(cat /shared/mig-r)" | jn hydrated_bytes > /shared/hydrated-before
  echo "hydrated before the power cut: $(cat /shared/hydrated-before) bytes"
}

drain_resumes_from_metadata() {
  local before=$1
  wait_until 600 "grep -q 'halt test: holding before migration-in CUT_OVER' /shared/workerd.log"
  grep 'halt test' /shared/workerd.log
  grep 'already hydrated' /shared/workerd.log | tail -1 | tee /tmp/r
  after=$(sed -n 's/.* \([0-9]*\) of [0-9]* bytes already hydrated.*/\1/p' /tmp/r)
  echo "hydrated when rebuilt: $after bytes, before the cut: $before"
  [ "$after" -ge "$before" ]
}

drain_resumes_in_cut_over() {
  local mig=$1
  wait_until 600 '[ "$(ctl2 --json status $mig | jf state)" = DONE ]'
  ctl2 status "$mig"
  grep 'restarted in CUT_OVER' /shared/workerd.log | tail -1 | tee /tmp/r
  sed -n 's/.* \([0-9]*\) of \([0-9]*\) regions hydrated.*/\1 \2/p' /tmp/r | awk '{ exit !($1 == $2 && $1 > 0) }'
  [ "$(ctl2 --json status "$mig" | jf state)" = DONE ]
}

drain_source_migrate_held() {
  ctl2 --json migrate vol-t --to w1 --detach | jf id > /shared/mig-t
  wait_until 600 'h=$(ctl --json status $(cat /shared/mig-t) | tee /tmp/m | jn hydrated_bytes)
    [ "$(jf state < /tmp/m)" = HYDRATING ] && [ "${h:-0}" -gt $((4 * 1048576)) ]'
}

drain_export_made_again() {
  local mig=$1
  wait_until 50 'tgtadm --lld iscsi --op show --mode target | grep -q $mig'
}

drain_session_came_back() {
  local mig=$1
  wait_until 600 '[ "$(ctl --json status $mig | jf state)" = DONE ]'
  ctl status "$mig"
  [ "$(ctl --json status "$mig" | jf state)" = DONE ]
  wait_until 60 '[ "$(ctl2 --json status $mig | jf state)" = DONE ]'
  [ "$(ctl2 --json status "$mig" | jf state)" = DONE ]
}

drain_no_io_error() {
  dmesg | tail -n +$(($(cat /shared/dmesg-before) + 1)) > /tmp/since
  grep -E -i 'connection[0-9]|session' /tmp/since | head -3; grep -E -i 'connection[0-9]|session' /tmp/since | tail -2
  fails grep -E 'I/O error|rejecting I/O|hydration failed|EXT4-fs error' /tmp/since
  fails grep -i error /run/consumer-vol-t.log
}

# The operator purges w1's retired copies from the drain: its pool then holds
# nothing, and the rebalance below sees w2 full and w1 empty.
drain_purge_retired() {
  local n
  for n in $(ctl --json retired | grep -o '"name":"[^"]*"' | cut -d'"' -f4); do ctl retired purge "$n"; done
  [ -z "$(lvs --noheadings -o lv_name @volmigrate_retired)" ]
}

# On w2: the plan moves volumes to w1 so the two pools end nearer the mean
# than now, and starts nothing.
rebalance_plan() {
  ctl2 rebalance --plan
  ctl2 --json rebalance --plan > /shared/rb-plan.json
  grep -q '"volume_id"' /shared/rb-plan.json
  if ctl2 --json migrations | grep -q '"id"'; then echo "the plan started a migration"; return 1; fi
  local now2 now1 plan2 plan1
  now2=$(jv used_bytes 1 < /shared/rb-plan.json) now1=$(jv used_bytes 2 < /shared/rb-plan.json)
  plan2=$(jv planned_used_bytes 1 < /shared/rb-plan.json) plan1=$(jv planned_used_bytes 2 < /shared/rb-plan.json)
  echo "w2 now $now2, planned $plan2; w1 now $now1, planned $plan1"
  # Equal pools: the gap between them shrinks.
  [ $(( plan2 > plan1 ? plan2 - plan1 : plan1 - plan2 )) -lt $(( now2 - now1 )) ]
}

rebalance_apply() {
  ctl2 rebalance --apply > /tmp/rb.out 2>&1; rc=$?; tail -5 /tmp/rb.out; [ $rc = 0 ]
}

# near A B: A within 5 % of B, plus 8 MiB (the destination's pool allocates
# a little more than the source held: its own LUKS2 header and whole blocks).
near() { local d=$(( $1 > $2 ? $1 - $2 : $2 - $1 )); [ $d -le $(( $2 / 20 + (8 << 20) )) ]; }

# Each pool as the plan said: w1's (read there, passed in) and w2's, whose
# moved volumes stay as retired copies until retire_after.
rebalance_matches_plan() {
  local w1_used=$1 retired=0 n w2_used plan2 plan1
  for n in $(lvs --noheadings -o lv_name @volmigrate_retired); do retired=$((retired + $(held_bytes "$n"))); done
  w2_used=$(( $(held_bytes pool) - retired ))
  plan2=$(jv planned_used_bytes 1 < /shared/rb-plan.json) plan1=$(jv planned_used_bytes 2 < /shared/rb-plan.json)
  echo "w2: planned $plan2, now $w2_used (and $retired in retired copies); w1: planned $plan1, now $w1_used"
  near "$w2_used" "$plan2" && near "$w1_used" "$plan1"
}
