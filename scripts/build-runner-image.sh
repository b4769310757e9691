#!/usr/bin/env bash
# Builds the runner-host image the Molecule scenarios and `make demo` run:
# Debian bookworm, or the suite RUNNER_SUITE names (debootstrap minbase), plus
# images/runner/packages.txt, customized by images/runner/customize.sh
# (scripts/lib/debootstrap-image.sh). One recipe for every suite.
#
# Tags: localhost/runnercreds-runner:<hash> and :latest for bookworm,
# localhost/runnercreds-runner-<suite>:<hash> and :latest for another suite
# (RUNNER_SUITE=trixie scripts/build-runner-image.sh). If the <hash> image
# exists already, nothing is built (only :latest is re-pointed).
#
# Environment:
#   RUNNER_SUITE          Debian suite (default bookworm; trixie is tested too)
#   RUNNERCREDS_CACHE     cache directory (default /var/cache/runnercreds)
#   RUNNER_IMAGE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   RUNNER_IMAGE_FORCE=1  rebuild even if the image exists
#   CONTAINERS_CONF       defaults to <repo>/.config/containers.conf
set -euo pipefail
# shellcheck source=scripts/lib/debootstrap-image.sh
. "$(dirname "$0")/lib/debootstrap-image.sh"

# Read by build_debootstrap_image (not exported: it is this script's choice).
DEBOOTSTRAP_SUITE="${RUNNER_SUITE:-bookworm}"

# Idle forever as PID 1, but exit at once on `podman stop` (PID 1 gets no
# default signal handlers, so a bare `sleep infinity` would ignore SIGTERM
# and every stop would wait for the kill timeout).
idle="trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done"
build_debootstrap_image runner "${RUNNER_IMAGE_FORCE:-0}" "CMD [\"/bin/sh\", \"-c\", \"$idle\"]"
