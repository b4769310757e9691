#!/bin/sh
# Runs inside the debootstrap tree (chroot) of the control-node image after its packages are installed.
set -eu
cat >/etc/apt/sources.list <<'SOURCES'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# Nothing a container cannot or need not run: consoles and logins, udev,
# kernel and hardware mounts, clock and first-boot setup.
for unit in getty.target console-getty.service getty@tty1.service systemd-logind.service \
    systemd-udevd.service systemd-udev-trigger.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-remount-fs.service systemd-firstboot.service systemd-timesyncd.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount \
    dev-hugepages.mount dev-mqueue.mount systemd-modules-load.service systemd-sysctl.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sfn /dev/null "/etc/systemd/system/$unit"
done
systemctl set-default multi-user.target >/dev/null 2>&1 || ln -sfn /lib/systemd/system/multi-user.target /etc/systemd/system/default.target
# The journal in memory (/run/log/journal): throwaway containers.
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' >/etc/systemd/journald.conf.d/runnercreds.conf
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/*
: >/etc/hostname
# Empty: systemd generates one at boot (podman's systemd mode provides /etc/machine-id too).
rm -f /var/lib/dbus/machine-id
: >/etc/machine-id
