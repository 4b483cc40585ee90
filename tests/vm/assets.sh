#!/usr/bin/env bash
# Builds the guest assets once per build tree and kernel ABI, then reuses them:
#   OUT/KVER/root/boot/vmlinuz-KVER        Debian's kernel (package linux-image-KVER)
#   OUT/KVER/root/lib/modules/KVER/...     its modules, plus dm-clone built by DKMS
#   OUT/KVER/initramfs.gz                  busybox, virtio + 9p + overlay modules, tests/vm/guest/initramfs-init
# Prints "KVER" on its last line. Needs: scripts/install-deps.sh vm (headers, linux-source, dkms).
#   assets.sh OUT
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# The kernel ABI of the headers Debian's metapackage pulls in; the image must match.
hdr=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 | grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -1)
kver=${hdr#linux-headers-}
[ -d "/lib/modules/$kver/build" ] || { echo "assets: headers for $kver are not installed" >&2; exit 1; }
dst=$out/$kver
# The stamp names the inputs: a change to the init script or the DKMS package rebuilds.
stamp_want=$(cat "$here/guest/initramfs-init" "$repo/deploy/dkms/dm-clone/"* "$0" | sha256sum | cut -c1-16)
if [ -f "$dst/.stamp" ] && [ "$(cat "$dst/.stamp")" = "$stamp_want" ]; then
  echo "assets: cached in $dst" >&2
  echo "$kver"
  exit 0
fi
t0=$SECONDS
rm -rf "$dst"
mkdir -p "$dst/debs" "$dst/root"

echo "assets: fetching linux-image-$kver" >&2
(cd "$dst/debs" && apt-get download -q=2 "linux-image-$kver" 2>/dev/null)
dpkg-deb -x "$dst"/debs/linux-image-"$kver"_*.deb "$dst/root"
rm -rf "$dst/debs"

echo "assets: building dm-clone with DKMS for $kver" >&2
src=/usr/src/dm-clone-6.1
if ! diff -qr "$repo/deploy/dkms/dm-clone" "$src" >/dev/null 2>&1; then
  dkms remove dm-clone/6.1 --all >/dev/null 2>&1 || true
  rm -rf "$src" && cp -r "$repo/deploy/dkms/dm-clone" "$src"
fi
dkms status dm-clone/6.1 2>/dev/null | grep -q . || dkms add dm-clone/6.1 >/dev/null
dkms build dm-clone/6.1 -k "$kver" --force >/dev/null
mkdir -p "$dst/root/lib/modules/$kver/updates/dkms"
cp "/var/lib/dkms/dm-clone/6.1/$kver/x86_64/module/dm-clone.ko" "$dst/root/lib/modules/$kver/updates/dkms/"
depmod -b "$dst/root" "$kver"

echo "assets: making the initramfs" >&2
ird=$dst/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,lower,rw,newroot,shared,modules}
cp /bin/busybox "$ird/bin/busybox"
for app in sh mount umount mkdir insmod switch_root cat; do ln -sf busybox "$ird/bin/$app"; done
: > "$ird/modules/load"
for m in virtio_pci 9pnet_virtio 9p overlay; do
  modprobe -d "$dst/root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}' |
    while read -r ko; do
      base=$(basename "$ko")
      grep -qx "$base" "$ird/modules/load" && continue
      cp "$ko" "$ird/modules/$base"
      echo "$base" >> "$ird/modules/load"
    done
done
cp "$here/guest/initramfs-init" "$ird/init"
chmod +x "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$dst/initramfs.gz"
rm -rf "$ird"
echo "$stamp_want" > "$dst/.stamp"
echo "assets: built in $((SECONDS - t0)) s" >&2
echo "$kver"
