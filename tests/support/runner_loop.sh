#!/usr/bin/env bash
# A runner's jobs in a loop, while its credentials rotate under it (molecule/rotation, make demo).
# Runs inside a runner host as the runner user, in the background:
#
#   runner_loop.sh LABEL RELEASE GITLAB_URL REGISTRY
#
# Each iteration, at most once a second, runs these side by side (an iteration takes as long as its
# slowest operation, not their sum):
#   fetch     git fetch over SSH in the checkout $RUNNER_LOOP_CHECKOUT (default ~/work/api), whose
#             origin is the managed Host alias (git@<alias>:group/project.git)
#   push      RELEASE > 0 only: tag origin/main as v<RELEASE>.<loop start>.<iteration> and push it
#             (a protected v* tag only the release runners' deploy keys may create)
#   registry  skopeo inspect of $RUNNER_LOOP_IMAGE (default fleet/apps/api/base:1) with the deploy token
#             in $RUNNER_LOOP_AUTHFILE (default ~/.config/containers/auth.json)
#   https     git ls-remote over HTTP(S) with the deploy tokens' git credentials, for each project of
#             $RUNNER_LOOP_HTTPS (default "fleet/apps/api fleet/apps/web"; empty: none)
# Counters go to ~/rotloop/LABEL.stats (one JSON line, replaced after every iteration), the stderr of
# every failed command to ~/rotloop/LABEL.err. The loop ends after the iteration in which
# ~/rotloop/stop appears (then "done": 1). Read by tests/support/rotation_watch.py.
set -u
label=$1 release=$2 url=$3 reg=$4
dir="$HOME/rotloop"
work="${RUNNER_LOOP_CHECKOUT:-$HOME/work/api}"
image="${RUNNER_LOOP_IMAGE:-fleet/apps/api/base:1}"
authfile="${RUNNER_LOOP_AUTHFILE:-$HOME/.config/containers/auth.json}"
read -r -a https_projects <<<"${RUNNER_LOOP_HTTPS-fleet/apps/api fleet/apps/web}"
stats="$dir/$label.stats"
errs="$dir/$label.err"
mkdir -p "$dir"
# One loop per label (a second start of the same label would share its files).
if [ -f "$dir/$label.pid" ] && kill -0 "$(cat "$dir/$label.pid")" 2>/dev/null; then
  echo "runner_loop.sh: loop $label runs already" >&2
  exit 1
fi
echo "$$" >"$dir/$label.pid"
: >>"$errs"
export GIT_TERMINAL_PROMPT=0 LC_ALL=C

ops=(fetch)
if [ "$release" -gt 0 ]; then ops+=(push); fi
ops+=(registry)
if [ "${#https_projects[@]}" -gt 0 ]; then ops+=(https); fi
declare -A ok=() fail=()
for op in "${ops[@]}"; do ok[$op]=0; fail[$op]=0; done
start=$(date +%s)
it=0 max_ms=0 total_ms=0

now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

write_stats() {
  local done=$1 op parts=()
  for op in "${ops[@]}"; do parts+=("\"${op}_ok\": ${ok[$op]}, \"${op}_fail\": ${fail[$op]}"); done
  local sum_ok=0 sum_fail=0
  for op in "${ops[@]}"; do sum_ok=$((sum_ok + ok[$op])); sum_fail=$((sum_fail + fail[$op])); done
  local IFS=,
  printf '{"label": "%s", "started": %s, "updated": %s, "iterations": %s, "ok": %s, "fail": %s, "max_ms": %s, "total_ms": %s, "done": %s, %s}\n' \
    "$label" "$start" "$(date +%s)" "$it" "$sum_ok" "$sum_fail" "$max_ms" "$total_ms" "$done" "${parts[*]}" >"$stats.tmp"
  mv -f "$stats.tmp" "$stats"
}

# attempt OP COMMAND... (in the background): run it and leave "OP RC" in a file of $results for the
# iteration to count; a failure's stderr goes to the error log (one short O_APPEND write per line).
attempt() {
  local op=$1 err rc t0
  shift
  t0=$(now_ms)
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  echo "$op $rc" >"$results/$op.$BASHPID"
  if [ "$rc" -ne 0 ]; then
    printf '%s it=%s op=%s rc=%s after=%sms: %s\n' "$(date -u +%H:%M:%S.%3N)" "$it" "$op" "$rc" \
      "$(($(now_ms) - t0))" "$(printf '%s' "$err" | tr '\n' '|')" >>"$errs"
  fi
}

# Count what the iteration's attempts left. An attempt that left nothing (killed) counts as failed.
count() {
  local expected=$1 n=0 f op rc
  for f in "$results"/*; do
    [ -e "$f" ] || continue
    read -r op rc <"$f"
    if [ "$rc" -eq 0 ]; then ok[$op]=$((ok[$op] + 1)); else fail[$op]=$((fail[$op] + 1)); fi
    n=$((n + 1))
    rm -f "$f"
  done
  if [ "$n" -lt "$expected" ]; then fail[fetch]=$((fail[fetch] + expected - n)); fi
}

# The tag is made from the last fetched origin/main; auto gc off so a fetch never repacks the refs
# while a push reads them.
push_tag() {
  local tag="v$release.$start.$it"
  git -C "$work" tag "$tag" refs/remotes/origin/main && git -C "$work" push -q origin "refs/tags/$tag"
}

results="$dir/$label.results"
rm -rf "$results"
mkdir -p "$results"
git -C "$work" config gc.auto 0
# The first fetch alone (counted, as iteration 0): the first push needs origin/main.
attempt fetch git -C "$work" fetch -q origin
count 1

write_stats 0
while :; do
  it=$((it + 1))
  t0=$(now_ms)
  expected=0
  attempt fetch git -C "$work" fetch -q origin &
  expected=$((expected + 1))
  if [ "$release" -gt 0 ]; then attempt push push_tag & expected=$((expected + 1)); fi
  attempt registry skopeo inspect --tls-verify=false --authfile "$authfile" "docker://$reg/$image" &
  expected=$((expected + 1))
  for project in "${https_projects[@]}"; do
    attempt https git ls-remote --exit-code "$url/$project.git" refs/heads/main &
    expected=$((expected + 1))
  done
  wait
  count "$expected"
  took=$(($(now_ms) - t0))
  total_ms=$((total_ms + took))
  if [ "$took" -gt "$max_ms" ]; then max_ms=$took; fi
  if [ -e "$dir/stop" ]; then
    write_stats 1
    exit 0
  fi
  write_stats 0
  if [ "$took" -lt 1000 ]; then sleep "0.$(printf '%03d' $((1000 - took)))"; fi
done
