# shellcheck shell=bash
# The guest side of migration_crash_test.sh, one function per check (see lib.sh vm_run).

crash_migrate_through_kills() {
  ctl migrate vol-1 --to w2 --detach || echo 'the answer was lost to a kill: the migration is durable'
  id=
  wait_until 50 'id=$(ctl --json migrations -a 2>/dev/null | jf id) && [ -n "$id" ]'
  echo "migration $id"
  for _ in $(seq 1600); do
    a=$(ctl --json status "$id" 2>/dev/null | jf state); b=$(ctl2 --json status "$id" 2>/dev/null | jf state)
    [ "$a" = DONE ] && [ "$b" = DONE ] && break
    case "$a$b" in *FAILED*|*ABORTED*) echo "ended $a / $b"; exit 1 ;; esac
    sleep 0.5
  done
  ctl status "$id"; ctl2 status "$id"
  [ "$a" = DONE ] && [ "$b" = DONE ]
}

crash_source_after() {
  find /shared/crash -mindepth 1 | tee /dev/stderr | wc -l | grep -qx 16
  [ "$(grep -c 'workerd exited 137' /shared/workerd.log)" -ge 16 ]
  tgtadm --lld iscsi --op show --mode target | fails grep -q ^Target
  [ "$(lvs --noheadings -o lv_tags vg0 | grep -c volmigrate_retired)" = 1 ]
}

crash_destination_after() {
  find /shared/crash -mindepth 1 | tee /dev/stderr | wc -l | grep -qx 18
  [ "$(grep -c 'workerd exited 137' /shared/workerd.log)" -ge 18 ]
  [ -z "$(iscsiadm -m session 2>/dev/null)" ] && ! iscsiadm -m node >/dev/null 2>&1
  dmsetup ls | tee /dev/stderr | grep -v -E '^vg0-' | sort | tr -s ' \t' ' ' | cut -d' ' -f1 | tr '\n' ' ' | grep -qx 'vol-1 vol-1-clone '
  dmsetup table vol-1 | grep -q ' crypt '
  dmsetup table vol-1-clone | grep -q ' linear '
  [ "$(lvs --noheadings -o lv_name vg0 | grep -c -E 'meta|vol-1')" = 1 ]
}
