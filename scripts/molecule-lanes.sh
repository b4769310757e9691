#!/usr/bin/env bash
# Runs Molecule scenarios in parallel lanes: each argument is one lane, a
# space-separated list of scenarios run one after another by scripts/molecule.sh.
# SCENARIO@SUITE runs a scenario on another runner OS (RUNNER_SUITE=SUITE).
#
#   scripts/molecule-lanes.sh "rotation" "default fleet runner_ssh_key runner_ssh_key@trixie"
#
# Why: a scenario spends most of its time waiting (containers starting, job
# loops pacing themselves at one iteration a second, sshd and registry round
# trips), so `make test` used about 45% of 2 cores while Molecule ran. Every
# scenario has its own containers (fixed names per scenario) and its own test
# endpoints (a directory keyed by the scenario's ephemeral directory), so two
# different scenarios never share state. Never put one scenario in two lanes.
#
# Each lane's output is prefixed with [lane N] and also kept in
# build/molecule-lanes/lane-N.log. Exits non-zero if any lane failed; all lanes
# always run to the end.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
[ "$#" -gt 0 ] || { echo "molecule-lanes.sh: give one argument per lane" >&2; exit 2; }

# A scenario named in two lanes would race with itself (same container names).
# (Twice in one lane is fine, e.g. on two suites: one after the other.)
seen=" "
number=0
for lane in "$@"; do
  number=$((number + 1))
  for item in $lane; do
    s="${item%@*}"
    case "$seen" in *" $s:"*) case "$seen" in *" $s:$number "*) ;; *)
      echo "molecule-lanes.sh: scenario $s is in two lanes" >&2; exit 2 ;; esac ;; esac
    seen="$seen$s:$number "
  done
done

# What every lane needs, made once before they start (not raced by the lanes).
export CONTAINERS_CONF="$repo/.config/containers.conf"
"$repo/scripts/collection-path.sh" >/dev/null
# Bookworm's image before the lanes (every lane uses it). Another suite's image is
# built by scripts/molecule.sh inside the lane that needs it, while the other lanes run.
"$repo/scripts/build-runner-image.sh"

run_lane() {   # the lane's items, one after another; fails if any failed, after running all
  local item rc=0
  for item in "$@"; do
    case "$item" in
      *@*) RUNNER_SUITE="${item#*@}" "$repo/scripts/molecule.sh" "${item%@*}" || rc=1 ;;
      *) "$repo/scripts/molecule.sh" "$item" || rc=1 ;;
    esac
  done
  return "$rc"
}

logs="$repo/build/molecule-lanes"
mkdir -p "$logs"
pids=()
number=0
start=$SECONDS
for lane in "$@"; do
  number=$((number + 1))
  # shellcheck disable=SC2086  # a lane is a list of scenario names
  ( run_lane $lane 2>&1 | tee "$logs/lane-$number.log" | sed -u "s/^/[lane $number] /" ) &
  pids+=("$!")
  echo "molecule-lanes.sh: lane $number: $lane"
done

failed=()
number=0
for pid in "${pids[@]}"; do
  number=$((number + 1))
  if ! wait "$pid"; then failed+=("$number"); fi
done

echo "molecule-lanes.sh: every lane ended after $((SECONDS - start))s"
grep -h -E '^== .*(passed in|FAILED after)' "$logs"/lane-*.log || true
if [ "${#failed[@]}" -gt 0 ]; then
  echo "molecule-lanes.sh: failed lanes: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
