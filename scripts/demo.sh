#!/usr/bin/env bash
# make demo: start the bundled GitLab test server, then run playbooks/demo.yml
# against it twice — the first run converges, the second must report changed=0.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"

work="$(mktemp -d /tmp/runnercreds-demo.XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A random admin token for this demo only; it lives in this shell's environment
# and in no file or process argument list that outlives the demo.
admin_token="demo-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)"

echo "== Starting the GitLab test server (seed: tests/fixtures/seed.yml)"
python tests/bin/gitlab-test-server --port 0 --seed tests/fixtures/seed.yml \
  --data-dir "$work/data" --admin-token "$admin_token" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^GITLAB_URL=' "$work/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
GITLAB_URL="$(sed -n 's/^GITLAB_URL=//p' "$work/server.out" | head -n1)"
export GITLAB_URL GITLAB_TOKEN="$admin_token"
echo "   $GITLAB_URL"

echo "== Generating the runner fleet's SSH key pair (ed25519, kept in $work)"
ssh-keygen -q -t ed25519 -N "" -C "runner-fleet" -f "$work/runner-fleet"

ANSIBLE_COLLECTIONS_PATH="$(scripts/collection-path.sh)"
export ANSIBLE_COLLECTIONS_PATH ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false

for run in first second; do
  echo "== ansible-playbook playbooks/demo.yml --diff ($run run)"
  ansible-playbook playbooks/demo.yml --diff -e "demo_public_key_file=$work/runner-fleet.pub" | tee "$work/$run.log"
done

if grep -Eq 'changed=[1-9]' "$work/second.log"; then
  echo "FAIL: the second run changed something" >&2
  exit 1
fi
echo "== Second run: changed=0 — the collection is idempotent."
