#!/usr/bin/env bash
# Installs everything volmigrate needs from Debian 12's archive. Idempotent and quiet:
# packages already present are skipped by apt; run as root.
#   install-deps.sh build   compilers and libraries for building and host tests
#   install-deps.sh vm      adds what the QEMU test bed and the real kernel path need
set -euo pipefail
what=${1:-build}

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  liblmdb-dev lmdb-utils libspdlog-dev libfmt-dev libdevmapper-dev libcryptsetup-dev
  libgtest-dev libgmock-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  cryptsetup-bin tgt clang libclang-rt-14-dev libcurl4-openssl-dev curl
  ceph-mon ceph-osd radosgw shellcheck prometheus-cpp-dev prometheus
  dpkg-dev lintian
)
vm_pkgs=(
  qemu-system-x86 qemu-utils socat busybox-static cpio kmod dkms
  lvm2 thin-provisioning-tools cryptsetup open-iscsi e2fsprogs util-linux iproute2 iputils-ping bc
  linux-headers-amd64 linux-source-6.1 xz-utils python3
)

pkgs=("${build_pkgs[@]}")
[ "$what" = vm ] && pkgs+=("${vm_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; an old list may name removed versions.
apt-get update -qq
# Daemons installed here (tgt, iscsid) must not start on the build host by themselves.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
