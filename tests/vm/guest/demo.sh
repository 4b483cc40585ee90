# shellcheck shell=bash
# The guest side of demo.sh (see lib.sh vm_run).

# The two packages cpack made, installed as an operator would; from here on
# this guest runs workerd and migratectl from them (bin_workerd).
demo_install_packages() {
  dpkg -i /shared/pkg/volmigrate-dm-clone-dkms_*.deb /shared/pkg/volmigrate_*.deb > /tmp/dpkg.log 2>&1 ||
    { cat /tmp/dpkg.log; return 1; }
  dpkg-query -W -f '${Package} ${Version} ${Status}\n' volmigrate volmigrate-dm-clone-dkms
  modprobe -n -v dm-clone  # the postinst leaves a dm-clone the kernel can already load as it is
  touch /shared/installed
  echo "workerd: $(bin_workerd)"
}

# Waits on the mount, not with a migratectl every half second: under TCG
# each takes w2's vCPU from the copy whose time the demo compares.
demo_consumer_up_on_w2() {
  wait_until 600 'mountpoint -q /mnt/vol-1'
  wait_until 60 'ctl2 --json migrations > /tmp/m; [ "$(jf state < /tmp/m)" = HYDRATING ]'
  ctl2 migrations
  echo "blackout: $(printf %.2f "$(jn blackout_seconds < /tmp/m)") s; consumer on w2: $(mountpoint /mnt/vol-1), last write $(tail -1 /mnt/vol-1/MANIFEST | cut -c67-)"
}

# The plan's ETA for the drain's one volume against the hydration it took
# (the destination's consumer start to every region copied: what a plan's
# link rate counts, see migration/plan.h).
demo_eta_against_actual() {
  local eta measured id took
  eta=$(jv eta_seconds < /shared/plan.json) measured=$(jv rate_measured < /shared/plan.json)
  id=$(ctl --json migrations -a | grep -o '"id":"[^"]*","volume_id":"vol-1"' | cut -d'"' -f4)
  ctl --json status "$id" > /tmp/s
  took=$(jn hydration_seconds < /tmp/s)
  local copied=$(( $(jn total_bytes < /tmp/s) - $(jn discarded_bytes < /tmp/s) ))
  echo "planned ETA $(printf %.1f "$eta") s for $(jv bytes < /shared/plan.json) bytes at $(jv rate_bytes_per_second < /shared/plan.json) B/s (measured on the link: ${measured:-false})"
  echo "hydration took $(printf %.1f "$took") s for $copied bytes copied ($(echo "$copied / $took" | bc) B/s); ETA error $(echo "scale=1; 100 * ($eta - $took) / $took" | bc) %"
}
