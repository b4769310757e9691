#!/usr/bin/env bash
# The long half of `make test`, in two lanes at once:
#   molecule  every Molecule scenario (scripts/molecule-lanes.sh: itself two lanes)
#   suites    sanity, units and the functional tests on the oldest and newest
#             ansible-core (make matrix-ends), the test server's tests (make server)
#             and ansible-test integration (make integration) - under `nice`
#
# Why: Molecule waits most of the time (containers, job loops paced at one
# iteration a second, SSH and registry round trips) while the suites are pure
# CPU. Run one after the other they took longer than CI allows on 2 cores; side
# by side, the suites fill the idle CPU, and `nice` keeps them from slowing the
# rotation scenario's job loops and rotate runs, which are the point of it.
# Nothing is shared: each suite and scenario starts its own test server on a
# free port, and Molecule's containers have names of their own.
#
# Output is prefixed [molecule] / [suites] and kept in build/test-lanes/; the
# pytest summary lines and every lane's result are printed again at the end.
# Exits non-zero if either lane failed (both always run to the end).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
logs="$repo/build/test-lanes"
mkdir -p "$logs"
make="${MAKE:-make}"

start=$SECONDS
( "$make" --no-print-directory molecule 2>&1 | tee "$logs/molecule.log" | sed -u 's/^/[molecule] /' ) &
molecule_pid=$!
( nice -n 10 "$make" --no-print-directory matrix-ends server integration 2>&1 \
    | tee "$logs/suites.log" | sed -u 's/^/[suites] /' ) &
suites_pid=$!

failed=()
wait "$molecule_pid" || failed+=(molecule)
wait "$suites_pid" || failed+=(suites)

echo "== test-lanes: both lanes ended after $((SECONDS - start))s"
echo "== Molecule:"
grep -h -E '^(\[lane [0-9]+\] )?== .*(passed in|FAILED after)' "$logs/molecule.log" || true
echo "== ansible-core matrix (oldest, newest):"
sed -n '/^| ansible-core/,$p' "$repo/build/matrix/summary.md" 2>/dev/null || true
echo "== pytest summaries:"
grep -h -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$logs/suites.log" || true
if [ "${#failed[@]}" -gt 0 ]; then
  echo "test-lanes.sh: failed: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
echo "test-lanes.sh: both lanes passed"
