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
