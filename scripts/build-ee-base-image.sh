#!/usr/bin/env bash
# Builds the base image the test Execution Environment (tests/ee/) is built
# on: no image registry is reachable, so instead of a published EE base
# (ee-minimal, a UBI image) it is Debian bookworm (debootstrap minbase) plus
# images/ee-base/packages.txt, customized by images/ee-base/customize.sh
# (scripts/lib/debootstrap-image.sh), the same way as the runner image.
#
# Tags: localhost/runnercreds-ee-base:<hash> and :latest. If the <hash> image
# exists already, nothing is built (only :latest is re-pointed).
#
# Environment:
#   RUNNERCREDS_CACHE     cache directory (default /var/cache/runnercreds)
#   RUNNER_IMAGE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   EE_BASE_IMAGE_FORCE=1 rebuild even if the image exists
#   CONTAINERS_CONF       defaults to <repo>/.config/containers.conf
set -euo pipefail
# shellcheck source=scripts/lib/debootstrap-image.sh
. "$(dirname "$0")/lib/debootstrap-image.sh"

# No CMD: ansible-builder's final stage sets the EE's ENTRYPOINT and CMD.
build_debootstrap_image ee-base "${EE_BASE_IMAGE_FORCE:-0}"
