# shellcheck shell=bash
# A one-node Ceph cluster on loopback with radosgw in front, for tests and the
# benchmark (sourced). No disks: the OSD keeps objects in memory (memstore).
#   rgw_start DIR   sets S3_ENDPOINT, S3_ACCESS, S3_SECRET, S3_BUCKET; rgw_stop
# Ports come from RGW_PORT (default 17480) and RGW_MON_PORT (default 16789).

rgw_start() {
  local dir=$1 port=${RGW_PORT:-17480} mport=${RGW_MON_PORT:-16789}
  RGW_DIR=$dir
  rm -rf "$dir"; mkdir -p "$dir"/{run,log,mon,osd0,rgw}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mport
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# radosgw asks for "secure" connections to the monitor; with no auth only crc exists.
ms mon client mode = crc
ms client mode = crc
auth allow insecure global id reclaim = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon pg warn min per osd = 0
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
run dir = $dir/run
log file = $dir/log/\$name.log
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
keyring = /dev/null
[mon.a]
mon data = $dir/mon
[osd.0]
osd data = $dir/osd0
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
rgw dns name = localhost
CONF
  local c=(-c "$dir/ceph.conf")
  monmaptool --create --addv a "[v2:127.0.0.1:$mport]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon "${c[@]}" --mkfs -i a --monmap "$dir/monmap" || return 1
  ceph-mon "${c[@]}" -i a || return 1
  ceph "${c[@]}" osd create >/dev/null || return 1
  ceph-osd "${c[@]}" -i 0 --mkfs >"$dir/log/osd-mkfs.out" 2>&1 || { echo "ceph-osd --mkfs failed" >&2; return 1; }
  ceph-osd "${c[@]}" -i 0 2>"$dir/log/osd.out" || return 1
  radosgw "${c[@]}" -n client.rgw 2>"$dir/log/rgw.out" || return 1
  S3_ENDPOINT=http://127.0.0.1:$port S3_ACCESS=volmigrate-test S3_SECRET=$(head -c 18 /dev/urandom | base64) S3_BUCKET=volmigrate
  local i
  for i in $(seq 1 90); do
    curl -s -o /dev/null "$S3_ENDPOINT/" && break
    [ "$i" = 90 ] && { echo "radosgw did not answer on $S3_ENDPOINT in 90 s (logs in $dir/log)" >&2; return 1; }
    sleep 1
  done
  radosgw-admin "${c[@]}" user create --uid=volmigrate-test --display-name=test \
    --access-key="$S3_ACCESS" --secret-key="$S3_SECRET" >/dev/null || return 1
  # The bucket, created with curl's own SigV4 (the store does not create buckets).
  curl -sf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user "$S3_ACCESS:$S3_SECRET" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$S3_ENDPOINT/$S3_BUCKET" >/dev/null || return 1
  export S3_ENDPOINT S3_ACCESS S3_SECRET S3_BUCKET
}

rgw_stop() {
  [ -n "${RGW_DIR:-}" ] || return 0
  local f
  for f in "$RGW_DIR"/run/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 1
  for f in "$RGW_DIR"/run/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  true
}
