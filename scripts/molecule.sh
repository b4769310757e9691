#!/usr/bin/env bash
# Runs `molecule test` for each scenario given, or for every molecule/*/molecule.yml.
#   scripts/molecule.sh                 all scenarios
#   scripts/molecule.sh default other   just these
#   RUNNER_SUITE=trixie scripts/molecule.sh runner_ssh_key
#                                       on runner containers of another Debian suite
# Exits non-zero if any scenario fails (all are still run, and listed at the end).
# scripts/molecule-matrix.sh runs scenarios on every suite.
#
# Needs the runner image of the suite (scripts/build-runner-image.sh, run here
# if missing) and the venv (.venv, `make venv`). The scenarios' runner
# platforms take their image from RUNNERCREDS_RUNNER_IMAGE, set here from
# RUNNER_SUITE (default bookworm: localhost/runnercreds-runner:latest).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"   # Molecule finds molecule/<scenario> and .config/molecule/config.yml from the cwd

export PATH="$repo/.venv/bin:$PATH"
export CONTAINERS_CONF="$repo/.config/containers.conf"
# Scenarios live in molecule/ at the collection root (not extensions/molecule):
# say so, so Molecule does not warn about migrating them.
export MOLECULE_GLOB="molecule/*/molecule.yml"
# The collection itself, for scenarios that use its roles/modules
# (.config/molecule/config.yml points ANSIBLE_COLLECTIONS_PATH at it).
"$repo/scripts/collection-path.sh" >/dev/null
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-false}"
export PY_COLORS="${PY_COLORS:-0}"
export NO_COLOR="${NO_COLOR:-1}"

command -v molecule >/dev/null || { echo "molecule.sh: no molecule in $repo/.venv (run: make venv)" >&2; exit 1; }
# shellcheck source=scripts/lib/debootstrap-image.sh
. "$repo/scripts/lib/debootstrap-image.sh"
suite="${RUNNER_SUITE:-bookworm}"
# The name the image builder gives this suite's image, from the builder itself.
export RUNNERCREDS_RUNNER_IMAGE
RUNNERCREDS_RUNNER_IMAGE="$(debootstrap_image_name runner "$suite"):latest"
if ! podman image exists "$RUNNERCREDS_RUNNER_IMAGE"; then
  RUNNER_SUITE="$suite" "$repo/scripts/build-runner-image.sh"
fi

if [ "$#" -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for f in molecule/*/molecule.yml; do
    [ -e "$f" ] || continue
    d="${f%/molecule.yml}"
    scenarios+=("${d#molecule/}")
  done
fi
if [ "${#scenarios[@]}" -eq 0 ]; then
  echo "molecule.sh: no scenarios under molecule/" >&2
  exit 1
fi

failed=()
for s in "${scenarios[@]}"; do
  if [ ! -f "molecule/$s/molecule.yml" ]; then
    echo "molecule.sh: no scenario molecule/$s" >&2
    failed+=("$s")
    continue
  fi
  # A scenario without runner platforms (rotation_timer: the control image)
  # is the same test on every suite; it runs on bookworm only.
  if [ "$suite" != bookworm ] && ! grep -q 'RUNNERCREDS_RUNNER_IMAGE' "molecule/$s/molecule.yml"; then
    echo "== $s ($suite): skipped, it has no runner platform"
    continue
  fi
  echo "== molecule test -s $s ($suite)"
  start=$SECONDS
  if molecule test -s "$s"; then
    echo "== $s ($suite): passed in $((SECONDS - start))s"
  else
    echo "== $s ($suite): FAILED after $((SECONDS - start))s" >&2
    failed+=("$s")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "molecule.sh: failed scenarios ($suite): ${failed[*]}" >&2
  exit 1
fi
echo "molecule.sh: all passed ($suite: ${scenarios[*]})"
