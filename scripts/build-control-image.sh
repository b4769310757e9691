#!/usr/bin/env bash
# Builds the "control node" image for molecule/rotation_timer: Debian bookworm
# (debootstrap minbase) with systemd as PID 1, plus images/control/packages.txt,
# customized by images/control/customize.sh (scripts/lib/debootstrap-image.sh),
# so the scenario can install and run real systemd timers and services.
#
# Tags: localhost/runnercreds-control:<hash> and :latest. If the <hash> image
# exists already, nothing is built (only :latest is re-pointed).
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
# shellcheck source=scripts/lib/debootstrap-image.sh
. "$(dirname "$0")/lib/debootstrap-image.sh"

build_debootstrap_image control "${CONTROL_IMAGE_FORCE:-0}" 'CMD ["/sbin/init"]' 'STOPSIGNAL SIGRTMIN+3' 'ENV container=podman'
