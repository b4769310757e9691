#!/usr/bin/env bash
# Runs `molecule test` for each scenario given, or for every molecule/*/molecule.yml.
#   scripts/molecule.sh                 all scenarios
#   scripts/molecule.sh default other   just these
# Exits non-zero if any scenario fails (all are still run, and listed at the end).
#
# Needs the runner image (scripts/build-runner-image.sh, run here if missing)
# and the venv (.venv, `make venv`).
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
if ! podman image exists localhost/runnercreds-runner:latest; then
  "$repo/scripts/build-runner-image.sh"
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
  echo "== molecule test -s $s"
  start=$SECONDS
  if molecule test -s "$s"; then
    echo "== $s: passed in $((SECONDS - start))s"
  else
    echo "== $s: FAILED after $((SECONDS - start))s" >&2
    failed+=("$s")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "molecule.sh: failed scenarios: ${failed[*]}" >&2
  exit 1
fi
echo "molecule.sh: all passed (${scenarios[*]})"
