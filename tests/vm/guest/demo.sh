# shellcheck shell=bash
# The guest side of demo.sh (see lib.sh vm_run).

demo_consumer_up_on_w2() {
  wait_until 600 'ctl2 --json migrations > /tmp/m; [ "$(jf state < /tmp/m)" = HYDRATING ]'
  ctl2 migrations
  echo "blackout: $(printf %.2f "$(jn blackout_seconds < /tmp/m)") s; consumer on w2: $(mountpoint /mnt/vol-1), last write $(tail -1 /mnt/vol-1/MANIFEST | cut -c67-)"
}
