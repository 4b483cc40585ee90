#!/bin/sh
# Extracts dm-clone and the drivers/md headers it needs from Debian's kernel
# source tarball (package linux-source-6.1, or $LINUX_SOURCE_TARBALL) into src/.
# Runs in the DKMS build directory.
set -eu
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
[ -r "$tarball" ] || { echo "dm-clone: $tarball not found: apt-get install linux-source-6.1" >&2; exit 1; }
top=$(basename "$tarball" .tar.xz)
mkdir -p src
tar -xJf "$tarball" -C src --strip-components=3 --wildcards \
  "$top/drivers/md/dm-clone-*" "$top/drivers/md/dm*.h" "$top/drivers/md/persistent-data/*.h"
printf 'obj-m := dm-clone.o\ndm-clone-y := dm-clone-target.o dm-clone-metadata.o\n' > src/Kbuild
