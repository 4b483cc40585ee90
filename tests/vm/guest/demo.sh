# shellcheck shell=bash
# The guest side of demo.sh (see lib.sh vm_run).

demo_consumer_up_on_w2() {
  wait_until 600 'ctl2 --json migrations > /tmp/m; [ "$(jf state < /tmp/m)" = HYDRATING ]'
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
  took=$(ctl --json status "$id" | jn hydration_seconds)
  echo "planned ETA $(printf %.1f "$eta") s (rate measured on the link: ${measured:-false}); hydration took $(printf %.1f "$took") s; error $(echo "scale=1; 100 * ($eta - $took) / $took" | bc) %"
}
