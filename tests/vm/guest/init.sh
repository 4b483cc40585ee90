#!/bin/bash
# Second stage, PID 1 of every test guest, on the host's userland (9p, read-only,
# under a tmpfs overlay). Kernel arguments: vm.name= vm.ip= vm.assets= vm.iqn=.
# Sets up what udev and systemd would, then serves commands from the host:
# /shared/cmd/N.sh is run with output in N.out and exit status in N.rc.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
# Without udev, libdevmapper must create device nodes itself and not wait for udev.
export DM_DISABLE_UDEV=1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
# /tmp stays the overlay's (writable, in the tmpfs upper): a tmpfs over it would
# hide a build tree or checkout that lives under the host's /tmp.
mkdir -p /dev/pts /dev/shm /run/lock /shared
mount -t devpts devpts /dev/pts
mount -t configfs configfs /sys/kernel/config 2>/dev/null
read -ra cmdline < /proc/cmdline
for arg in "${cmdline[@]}"; do
  case "$arg" in
    vm.name=*) name=${arg#vm.name=} ;;
    vm.ip=*) ip=${arg#vm.ip=} ;;
    vm.assets=*) assets=${arg#vm.assets=} ;;
    vm.iqn=*) iqn=${arg#vm.iqn=} ;;
  esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 shared /shared
# One directory every guest of a run sees: the sealed volumes' object store.
mkdir -p /objects && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 objects /objects
exec > /shared/init.log 2>&1
echo "init: $name up $(cut -d' ' -f1 /proc/uptime)s after boot"
# Every kernel message, from boot on, to the host (the console gets warnings
# and worse only: it is slow under TCG). A task blocked for a minute is reported.
dmesg --follow --decode --time-format=iso > /shared/dmesg.log 2>&1 &
echo 60 > /proc/sys/kernel/hung_task_timeout_secs
mount --bind "$assets/lib/modules" /lib/modules
hostname "$name"
echo "$name" > /etc/hostname

# The local disk, by its serial as udev would name it: /dev/disk/by-id/virtio-NAME.
modprobe virtio_blk
mkdir -p /dev/disk/by-id
for _ in $(seq 100); do
  for b in /sys/block/vd*; do
    [ -e "$b/serial" ] && [ -b "/dev/${b##*/}" ] && ln -sf "/dev/${b##*/}" "/dev/disk/by-id/virtio-$(cat "$b/serial")"
  done
  [ -e "/dev/disk/by-id/virtio-$name" ] && break
  sleep 0.1
done

modprobe virtio_net
ip link set lo up
ip link set eth0 up
ip addr add "$ip" dev eth0

# LVM without udev or lvmetad: scan /dev itself, sync nothing with udev.
mkdir -p /etc/lvm-vm
cat > /etc/lvm-vm/lvm.conf <<LVM
devices { obtain_device_list_from_udev = 0 external_device_info_source = "none" }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
LVM
# Every command from the host sources this (and the helpers in guest/lib.sh).
cat > /etc/profile.d/vm.sh <<EOF
export LVM_SYSTEM_DIR=/etc/lvm-vm
export VM_DISK=/dev/disk/by-id/virtio-$name
EOF
export LVM_SYSTEM_DIR=/etc/lvm-vm
mkdir -p /etc/iscsi /var/lib/iscsi /run/lock/lvm
echo "InitiatorName=$iqn" > /etc/iscsi/initiatorname.iscsi

mkdir -p /shared/cmd
cut -d' ' -f1 /proc/uptime > /shared/ready.tmp && mv /shared/ready.tmp /shared/ready
echo "init: ready at $(cat /shared/ready)s"
# The wait between looks is a read that times out on a FIFO nobody writes: a
# `sleep` process ten times a second took a share of the guest's one CPU
# under TCG, from every test and benchmark.
mkfifo /run/tick && exec 3<> /run/tick
while :; do
  for f in /shared/cmd/*.sh; do
    [ -e "$f" ] || continue
    n=${f%.sh}
    mv "$f" "$n.run"
    # Not the FIFO: LVM warns on stderr about every inherited descriptor.
    ( exec 3>&-; bash "$n.run" > "$n.out" 2>&1; echo $? > "$n.rc.tmp"; mv "$n.rc.tmp" "$n.rc" ) &
  done
  read -r -t 0.1 -u 3 _ || true
done
