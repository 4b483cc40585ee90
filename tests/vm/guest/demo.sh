# shellcheck shell=bash
# The guest side of demo.sh (see lib.sh vm_run).

demo_consumer_up_on_w2() {
  wait_until 600 'ctl2 --json migrations > /tmp/m; [ "$(jf state < /tmp/m)" = HYDRATING ]'
  ctl2 migrations
  echo "blackout: $(printf %.2f "$(jn blackout_seconds < /tmp/m)") s; consumer on w2: $(mountpoint /mnt/vol-1), last write $(tail -1 /mnt/vol-1/MANIFEST | cut -c67-)"
}

# The plan's ETA for the drain's one volume against the hydration it took
# (from the destination's boot to the source's RETIRING: what a plan's rate
# counts, see migration/plan.h).
demo_eta_against_actual() {
  local id eta waiting retiring blackout fence
  eta=$(jv eta_seconds < /shared/plan.json)
  id=$(ctl --json migrations -a | jf id)
  ctl --json status "$id" > /tmp/s
  waiting=$(grep -o '"at_unix_ms":"[0-9]*","from":"[A-Z_]*","to":"WAITING"' /tmp/s | cut -d'"' -f4)
  retiring=$(grep -o '"at_unix_ms":"[0-9]*","from":"[A-Z_]*","to":"RETIRING"' /tmp/s | cut -d'"' -f4)
  blackout=$(jn blackout_seconds < /tmp/s) fence=$(jn source_fence_seconds < /tmp/s)
  echo "planned ETA $(printf %.1f "$eta") s; hydration took $(echo "scale=1; ($retiring - $waiting) / 1000 - ($blackout - $fence)" | bc) s"
}
