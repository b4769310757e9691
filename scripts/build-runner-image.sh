#!/usr/bin/env bash
# Builds the runner-host image the Molecule scenarios and `make demo` run:
# Debian bookworm (debootstrap minbase) plus images/runner/packages.txt,
# customized by images/runner/customize.sh (scripts/lib/debootstrap-image.sh).
#
# Tags: localhost/runnercreds-runner:<hash> and :latest. If the <hash> image
# exists already, nothing is built (only :latest is re-pointed).
#
# Environment:
#   RUNNERCREDS_CACHE     cache directory (default /var/cache/runnercreds)
#   RUNNER_IMAGE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   RUNNER_IMAGE_FORCE=1  rebuild even if the image exists
#   CONTAINERS_CONF       defaults to <repo>/.config/containers.conf
set -euo pipefail
# shellcheck source=scripts/lib/debootstrap-image.sh
. "$(dirname "$0")/lib/debootstrap-image.sh"

# Idle forever as PID 1, but exit at once on `podman stop` (PID 1 gets no
# default signal handlers, so a bare `sleep infinity` would ignore SIGTERM
# and every stop would wait for the kill timeout).
idle="trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done"
build_debootstrap_image runner "${RUNNER_IMAGE_FORCE:-0}" "CMD [\"/bin/sh\", \"-c\", \"$idle\"]"
