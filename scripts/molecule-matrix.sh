#!/usr/bin/env bash
# The full Molecule matrix: every scenario (or those given) on runner containers
# of every Debian suite the runner image is built for (`make matrix`).
#   scripts/molecule-matrix.sh                        all scenarios, all suites
#   scripts/molecule-matrix.sh default runner_ssh_key just these, all suites
#   MATRIX_SUITES="trixie" scripts/molecule-matrix.sh one suite
# Each suite is one scripts/molecule.sh run (RUNNER_SUITE=<suite>); a scenario
# without runner platforms runs on bookworm only. Both images are built (or
# found) first, so no scenario's time includes an image build. Exits non-zero
# if any run failed; every suite is still run, and the failures listed at the end.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
read -r -a suites <<<"${MATRIX_SUITES:-bookworm trixie}"

for suite in "${suites[@]}"; do
  RUNNER_SUITE="$suite" "$repo/scripts/build-runner-image.sh"
done

failed=()
for suite in "${suites[@]}"; do
  start=$SECONDS
  if RUNNER_SUITE="$suite" "$repo/scripts/molecule.sh" "$@"; then
    echo "== matrix $suite: passed in $((SECONDS - start))s"
  else
    echo "== matrix $suite: FAILED after $((SECONDS - start))s" >&2
    failed+=("$suite")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "molecule-matrix.sh: failures on: ${failed[*]} (the == lines above name the scenarios)" >&2
  exit 1
fi
echo "molecule-matrix.sh: all passed on ${suites[*]}"
