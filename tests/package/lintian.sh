#!/usr/bin/env bash
# The Debian packages as a user gets them: cpack builds both from the build
# tree, each holds what it should and depends on what it needs, and lintian
# finds no error or warning in either (no-manual-page aside: the commands'
# --help is their manual).
#   lintian.sh BUILD_DIR
set -euo pipefail
build=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$build" && cpack -G DEB -B "$out" > "$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; fail "cpack"; }
main=$(ls "$out"/volmigrate_*_amd64.deb) dkms=$(ls "$out"/volmigrate-dm-clone-dkms_*_all.deb)
echo "ok: built $(basename "$main") and $(basename "$dkms")"

# (grep -q on a pipe would end dpkg-deb early, which pipefail counts as a failure)
dpkg-deb -c "$main" > "$out/main.list" && dpkg-deb -c "$dkms" > "$out/dkms.list"
for f in usr/sbin/workerd usr/bin/migratectl usr/lib/systemd/system/workerd.service etc/volmigrate/workerd.toml.example \
  usr/share/volmigrate/make-certs.sh usr/share/doc/volmigrate/copyright; do
  grep -q " ./$f$" "$out/main.list" || fail "$f not in $(basename "$main")"
done
for f in usr/src/dm-clone-6.1/dkms.conf usr/src/dm-clone-6.1/prepare-source.sh; do
  grep -q " ./$f$" "$out/dkms.list" || fail "$f not in $(basename "$dkms")"
done
echo "ok: each holds its files"
depends=$(dpkg-deb -f "$main" Depends)
for d in tgt open-iscsi cryptsetup-bin lvm2 thin-provisioning-tools volmigrate-dm-clone-dkms libgrpc++; do
  [[ "$depends" == *"$d"* ]] || fail "volmigrate does not depend on $d: $depends"
done
[[ "$(dpkg-deb -f "$dkms" Depends)" == *dkms* ]] || fail "the DKMS package does not depend on dkms"
echo "ok: dependencies: $depends"

lintian --fail-on error,warning --suppress-tags no-manual-page "$main" "$dkms" 2>&1 | grep -v 'running with root privileges' ||
  true
lintian --fail-on error,warning --suppress-tags no-manual-page "$main" "$dkms" > /dev/null 2>&1 || fail "lintian"
echo "ok: lintian: no error or warning"
