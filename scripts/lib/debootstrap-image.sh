# shellcheck shell=bash
# Sourced by scripts/build-runner-image.sh and scripts/build-control-image.sh:
# build a container image from a Debian suite (debootstrap minbase, bookworm
# unless DEBOOTSTRAP_SUITE says otherwise) plus images/<kind>/packages.txt,
# customized in a chroot by images/<kind>/customize.sh, imported with
# `podman import`, and cached by a content hash of the recipe.
#
#   build_debootstrap_image KIND FORCE [CHANGE...]
#   KIND     runner | control (images/<kind>/ holds the recipe)
#   FORCE    1 to rebuild even if the image exists
#   CHANGE   `podman import --change` values (CMD, STOPSIGNAL, ENV)
#   DEBOOTSTRAP_SUITE  (variable or environment) Debian suite, default bookworm;
#            one recipe serves every suite (customize.sh reads the suite from
#            the tree's /etc/os-release)
# Tags: <name>:<hash> and <name>:latest, <name> from debootstrap_image_name
# (localhost/runnercreds-<kind> for bookworm, localhost/runnercreds-<kind>-<suite>
# otherwise), <hash> covering the suite, the entry script, this library and
# images/<kind>/*. The debootstrap tree is written under $RUNNERCREDS_CACHE
# (default /var/cache/runnercreds), never into the repo; downloaded .debs stay
# there, shared by all images and suites (one build at a time).

# debootstrap_image_name KIND [SUITE]: the image name without tag. Bookworm
# keeps the plain name every existing user (scenarios, demo, benchmarks) knows.
debootstrap_image_name() {
  local suite="${2:-${DEBOOTSTRAP_SUITE:-bookworm}}"
  if [ "$suite" = bookworm ]; then
    echo "localhost/runnercreds-$1"
  else
    echo "localhost/runnercreds-$1-$suite"
  fi
}

build_debootstrap_image() {
  local image_kind="$1" image_force="$2"
  shift 2
  local image_changes=("$@")
  # The suite becomes part of an image name: keep it a plain Debian codename.
  if ! [[ "${DEBOOTSTRAP_SUITE:-bookworm}" =~ ^[a-z]+$ ]]; then
    echo "$image_kind image: DEBOOTSTRAP_SUITE must be a Debian codename such as bookworm or trixie" >&2
    return 1
  fi
  local repo recipe name suite mirror cache hash image log root start include
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  recipe="$repo/images/$image_kind"
  suite="${DEBOOTSTRAP_SUITE:-bookworm}"
  name="$(debootstrap_image_name "$image_kind" "$suite")"
  mirror="${RUNNER_IMAGE_MIRROR:-http://deb.debian.org/debian}"
  cache="${RUNNERCREDS_CACHE:-/var/cache/runnercreds}"
  export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.config/containers.conf}"
  # debootstrap and chroot need root; podman runs as the invoking user, so a
  # rootless user gets the image in their own storage.
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

  # By relative path and content (independent of mtimes and the checkout path),
  # and the suite: the same recipe on another suite is another image.
  hash="$(
    cd "$repo" || exit 1
    {
      { echo "scripts/build-$image_kind-image.sh"; echo scripts/lib/debootstrap-image.sh; find "images/$image_kind" -type f; } \
        | LC_ALL=C sort \
        | while read -r f; do printf '%s  %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"; done
      echo "suite $suite"
    } | sha256sum | cut -c1-16
  )"
  image="$name:$hash"
  if [ "$image_force" != 1 ] && podman image exists "$image"; then
    _tag_latest "$image_kind" "$name" "$image"
    return 0
  fi

  "${as_root[@]}" mkdir -p "$cache/debs"
  # One build at a time per cache (parallel make, two checkouts, both images).
  local lock
  if [ "$(id -u)" -eq 0 ]; then lock="$cache/runner-image.lock"; else lock="/tmp/runnercreds-runner-image.$(id -u).lock"; fi
  exec 9>>"$lock"
  flock 9
  # Another process may have built it while we waited for the lock.
  if [ "$image_force" != 1 ] && podman image exists "$image"; then
    _tag_latest "$image_kind" "$name" "$image"
    return 0
  fi

  start=$SECONDS
  root="$cache/$image_kind-rootfs-$hash"
  # shellcheck disable=SC2064  # expand now: the trap runs after this function returns
  trap "${as_root[*]} rm -rf --one-file-system '$root'" EXIT
  "${as_root[@]}" rm -rf --one-file-system "$root"

  # A typo or a suite this host's debootstrap does not know fails here, not
  # half-way through the download.
  if [ ! -e "/usr/share/debootstrap/scripts/$suite" ]; then
    echo "$image_kind image: debootstrap on this host knows no suite '$suite' (/usr/share/debootstrap/scripts/)" >&2
    return 1
  fi
  include="$(grep -Ev '^[[:space:]]*(#|$)' "$recipe/packages.txt" | tr -s ' \n' ',' | sed 's/,$//')"
  log="$cache/debootstrap-$image_kind-$hash.log"
  echo "$image_kind image: debootstrap $suite (minbase + $include) into $root"
  "${as_root[@]}" debootstrap --variant=minbase --components=main \
    --include="$include" --cache-dir="$cache/debs" \
    "$suite" "$root" "$mirror" >"$log" 2>&1 || {
      tail -n 40 "$log" >&2
      echo "$image_kind image: debootstrap failed (full log: $log)" >&2
      return 1
    }
  "${as_root[@]}" install -m 0755 "$recipe/customize.sh" "$root/customize.sh"
  "${as_root[@]}" chroot "$root" /bin/sh /customize.sh
  "${as_root[@]}" rm -f "$root/customize.sh"

  local changes=()
  local change
  for change in "${image_changes[@]}" 'ENV LANG=C.UTF-8' \
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "LABEL org.opencontainers.image.title=runnercreds-$image_kind" "LABEL runnercreds.recipe-hash=$hash" "LABEL runnercreds.suite=$suite"; do
    changes+=(--change "$change")
  done
  echo "$image_kind image: podman import -> $image"
  "${as_root[@]}" tar --numeric-owner --xattrs -C "$root" -c . \
    | podman import --quiet "${changes[@]}" --message "runnercreds $image_kind image, Debian $suite, recipe $hash" - "$image" >/dev/null
  _tag_latest "$image_kind" "$name" "$image"

  # Old recipe versions: drop their hash tags (an image still used by a
  # container is kept by podman; failure here is not an error) ...
  podman images --format '{{.Repository}}:{{.Tag}}' \
    | grep -E "^$name:[0-9a-f]{16}\$" | grep -v ":$hash\$" \
    | xargs -r podman rmi >/dev/null 2>&1 || true
  # ... and images left untagged by a forced rebuild.
  podman image prune -f --filter "label=org.opencontainers.image.title=runnercreds-$image_kind" >/dev/null 2>&1 || true
  echo "$image_kind image: built in $((SECONDS - start))s"
}

_tag_latest() {   # kind name image
  podman tag "$3" "$2:latest"
  echo "$1 image: $3 (also $2:latest)"
}
