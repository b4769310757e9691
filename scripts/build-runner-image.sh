#!/usr/bin/env bash
# Builds the runner-host image the Molecule scenarios run: Debian bookworm
# (debootstrap minbase) plus images/runner/packages.txt, customized by
# images/runner/customize.sh, imported with `podman import`.
#
# Tags: localhost/runnercreds-runner:<hash> and localhost/runnercreds-runner:latest,
# where <hash> is a content hash of this script and images/runner/*. If the
# <hash> image exists already, nothing is built (only :latest is re-pointed).
#
# The debootstrap tree is written under $RUNNERCREDS_CACHE (default
# /var/cache/runnercreds), never into the repo; downloaded .debs stay there
# so that a rebuild after a recipe change does not download them again.
#
# Environment:
#   RUNNERCREDS_CACHE     cache directory (default /var/cache/runnercreds)
#   RUNNER_IMAGE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   RUNNER_IMAGE_FORCE=1  rebuild even if the image exists
#   CONTAINERS_CONF       defaults to <repo>/.config/containers.conf
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
recipe="$repo/images/runner"
name="localhost/runnercreds-runner"
suite="bookworm"
mirror="${RUNNER_IMAGE_MIRROR:-http://deb.debian.org/debian}"
cache="${RUNNERCREDS_CACHE:-/var/cache/runnercreds}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.config/containers.conf}"

# debootstrap and chroot need root; podman runs as the invoking user, so a
# rootless user gets the image in their own storage.
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

# Content hash of the recipe: this script plus every file under images/runner,
# by relative path and content (independent of mtimes and the checkout path).
hash="$(
  cd "$repo"
  { echo scripts/build-runner-image.sh; find images/runner -type f; } | LC_ALL=C sort \
    | while read -r f; do printf '%s  %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"; done \
    | sha256sum | cut -c1-16
)"
image="$name:$hash"

tag_latest() {
  podman tag "$image" "$name:latest"
  echo "runner image: $image (also $name:latest)"
}

if [ "${RUNNER_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$image"; then
  tag_latest
  exit 0
fi

"${as_root[@]}" mkdir -p "$cache/debs"
# One build at a time per cache (parallel make, two checkouts).
if [ "$(id -u)" -eq 0 ]; then lock="$cache/runner-image.lock"; else lock="/tmp/runnercreds-runner-image.$(id -u).lock"; fi
exec 9>>"$lock"
flock 9
# Another process may have built it while we waited for the lock.
if [ "${RUNNER_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$image"; then
  tag_latest
  exit 0
fi

start=$SECONDS
root="$cache/rootfs-$hash"
cleanup() { "${as_root[@]}" rm -rf --one-file-system "$root"; }
trap cleanup EXIT
cleanup

include="$(grep -Ev '^[[:space:]]*(#|$)' "$recipe/packages.txt" | tr -s ' \n' ',' | sed 's/,$//')"
echo "runner image: debootstrap $suite (minbase + $include) into $root"
"${as_root[@]}" debootstrap --variant=minbase --components=main \
  --include="$include" --cache-dir="$cache/debs" \
  "$suite" "$root" "$mirror" >"$cache/debootstrap-$hash.log" 2>&1 || {
    tail -n 40 "$cache/debootstrap-$hash.log" >&2
    echo "runner image: debootstrap failed (full log: $cache/debootstrap-$hash.log)" >&2
    exit 1
  }

"${as_root[@]}" install -m 0755 "$recipe/customize.sh" "$root/customize.sh"
"${as_root[@]}" chroot "$root" /bin/sh /customize.sh
"${as_root[@]}" rm -f "$root/customize.sh"

# Idle forever as PID 1, but exit at once on `podman stop` (PID 1 gets no
# default signal handlers, so a bare `sleep infinity` would ignore SIGTERM
# and every stop would wait for the kill timeout).
idle="trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done"
echo "runner image: podman import -> $image"
"${as_root[@]}" tar --numeric-owner --xattrs -C "$root" -c . \
  | podman import --quiet \
      --change "CMD [\"/bin/sh\", \"-c\", \"$idle\"]" \
      --change 'ENV LANG=C.UTF-8' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL org.opencontainers.image.title=runnercreds-runner" \
      --change "LABEL runnercreds.recipe-hash=$hash" \
      --message "runnercreds runner image, recipe $hash" \
      - "$image" >/dev/null
tag_latest

# Old recipe versions: drop their hash tags (an image still used by a
# container is kept by podman; failure here is not an error).
podman images --format '{{.Repository}}:{{.Tag}}' \
  | grep -E "^$name:[0-9a-f]{16}\$" | grep -v ":$hash\$" \
  | xargs -r podman rmi >/dev/null 2>&1 || true
# ... and images left untagged by a forced rebuild.
podman image prune -f --filter label=org.opencontainers.image.title=runnercreds-runner >/dev/null 2>&1 || true
echo "runner image: built in $((SECONDS - start))s"
