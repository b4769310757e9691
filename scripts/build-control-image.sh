#!/usr/bin/env bash
# Builds the "control node" image for molecule/rotation_timer: Debian bookworm
# (debootstrap minbase) with systemd as PID 1, so the scenario can install and
# run real systemd timers and services. The same approach as
# scripts/build-runner-image.sh (debootstrap, chroot customization,
# `podman import`, cached by content hash, the same .deb cache and lock), with
# the whole recipe in this file, so the runner image's recipe stays untouched.
#
# Tags: localhost/runnercreds-control:<hash> and localhost/runnercreds-control:latest,
# where <hash> is a content hash of this script. If the <hash> image exists
# already, nothing is built (only :latest is re-pointed).
#
# Run it as an init container (what molecule/rotation_timer/molecule.yml does):
#   podman run -d --systemd=always --network host localhost/runnercreds-control:latest
# CMD is /sbin/init; podman's systemd mode mounts /run, /tmp and the cgroup
# tree the way systemd needs them and stops the container with SIGRTMIN+3.
#
# Environment:
#   RUNNERCREDS_CACHE     cache directory (default /var/cache/runnercreds)
#   RUNNER_IMAGE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   CONTROL_IMAGE_FORCE=1 rebuild even if the image exists
#   CONTAINERS_CONF       defaults to <repo>/.config/containers.conf
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
name="localhost/runnercreds-control"
suite="bookworm"
mirror="${RUNNER_IMAGE_MIRROR:-http://deb.debian.org/debian}"
cache="${RUNNERCREDS_CACHE:-/var/cache/runnercreds}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.config/containers.conf}"

# What minbase gets on top (util-linux, with flock(1), is in minbase already):
#   systemd systemd-sysv   PID 1 (/sbin/init), journald, timers, systemctl
#   python3                Ansible's modules on this host
#   openssh-client         how a control node reaches its runners; `ssh -G` and
#                          ssh-keygen for runner_ssh_key when the control node
#                          is also one of the runners it manages
#   git ca-certificates    the other tools of the runner-credential roles
packages="systemd,systemd-sysv,python3,openssh-client,git,ca-certificates"

# Runs inside the debootstrap tree (chroot) after the packages are installed.
read -r -d '' customize <<'CUSTOMIZE' || true
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
CUSTOMIZE

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

hash="$(sha256sum <"$repo/scripts/build-control-image.sh" | cut -c1-16)"
image="$name:$hash"

tag_latest() {
  podman tag "$image" "$name:latest"
  echo "control image: $image (also $name:latest)"
}

if [ "${CONTROL_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$image"; then
  tag_latest
  exit 0
fi

"${as_root[@]}" mkdir -p "$cache/debs"
# The runner image's lock: one debootstrap at a time per .deb cache.
if [ "$(id -u)" -eq 0 ]; then lock="$cache/runner-image.lock"; else lock="/tmp/runnercreds-runner-image.$(id -u).lock"; fi
exec 9>>"$lock"
flock 9
if [ "${CONTROL_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$image"; then
  tag_latest
  exit 0
fi

start=$SECONDS
root="$cache/control-rootfs-$hash"
cleanup() { "${as_root[@]}" rm -rf --one-file-system "$root"; }
trap cleanup EXIT
cleanup

log="$cache/debootstrap-control-$hash.log"
echo "control image: debootstrap $suite (minbase + $packages) into $root"
"${as_root[@]}" debootstrap --variant=minbase --components=main \
  --include="$packages" --cache-dir="$cache/debs" \
  "$suite" "$root" "$mirror" >"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    echo "control image: debootstrap failed (full log: $log)" >&2
    exit 1
  }
printf '%s\n' "$customize" | "${as_root[@]}" chroot "$root" /bin/sh -s

echo "control image: podman import -> $image"
"${as_root[@]}" tar --numeric-owner --xattrs -C "$root" -c . \
  | podman import --quiet \
      --change 'CMD ["/sbin/init"]' \
      --change 'STOPSIGNAL SIGRTMIN+3' \
      --change 'ENV container=podman' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL org.opencontainers.image.title=runnercreds-control" \
      --change "LABEL runnercreds.recipe-hash=$hash" \
      --message "runnercreds control-node image (systemd), recipe $hash" \
      - "$image" >/dev/null
tag_latest

# Old recipe versions and untagged leftovers of this image only.
podman images --format '{{.Repository}}:{{.Tag}}' \
  | grep -E "^$name:[0-9a-f]{16}\$" | grep -v ":$hash\$" \
  | xargs -r podman rmi >/dev/null 2>&1 || true
podman image prune -f --filter label=org.opencontainers.image.title=runnercreds-control >/dev/null 2>&1 || true
echo "control image: built in $((SECONDS - start))s"
