#!/usr/bin/env bash
# make demo: the collection at work against the bundled GitLab test server.
#
#  1. Starts ONE GitLab test server with a real sshd on 127.0.0.1 that
#     authorizes deploy keys the way GitLab Shell does, and Debian's
#     docker-registry with token auth against it (tests/support/endpoints.py
#     start --ssh --registry), and pushes a tiny image fleet/apps/api/base:1.
#  2. playbooks/demo.yml on the controller, twice: a fleet deploy key on three
#     projects, v* tags only that key may create, a registry deploy token, and
#     an audit. The second run must report changed=0.
#  3. Two runner containers (podman, host networking): playbooks/site.yml gives
#     each its own deploy key (runner_ssh_key role) and a registry login with
#     a shared read_registry deploy token (runner_deploy_token role: Docker's
#     config.json and the containers auth.json), twice — changed=0 the second
#     time — then runner1 does the release job: read the version from
#     package.json, `git tag -a`, `git push` over SSH; runner2, whose key may
#     not create v* tags, is refused. The tag shows up in the tags API. Each
#     runner then pulls the base image's manifest with skopeo as gitlab-runner,
#     with the deploy token from the written auth file (and is refused without).
#  4. Rotation under load: runner1 runs a job loop (tests/support/runner_loop.sh:
#     git fetch over SSH, a new v* release tag pushed with its deploy key, a
#     registry pull with the deploy token, about once a second) while
#     `ansible-playbook runnercreds.gitlab.rotate -e runnercreds_rotate_all=true`
#     replaces every runner's key and the deploy token, successor first. The
#     loop's counts are printed; a single failed operation fails the demo.
#  5. The audit (runnercreds.gitlab.audit) of the demo's inventory: its one-screen summary and the
#     report's path (build/demo-audit/audit-report.html, .md, .json).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
export CONTAINERS_CONF="$repo/.config/containers.conf"

work="$(mktemp -d /tmp/runnercreds-demo.XXXXXX)"
# Not under /tmp: sshd wants root-owned, non-writable parents for its AuthorizedKeysCommand.
endpoint="/run/runnercreds-demo-$$"
runners=(runnercreds-demo-runner1 runnercreds-demo-runner2)
# The endpoint manager (the venv's python3, first on PATH; the system python3 works too).
endpoints() { python3 "$repo/tests/support/endpoints.py" "$@"; }
cleanup() {
  podman rm -f -t 0 "${runners[@]}" >/dev/null 2>&1 || true
  endpoints stop "$endpoint" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the GitLab test server (data: tests/fixtures/seed.yml), its SSH endpoint and its container registry"
endpoints start "$endpoint" --ssh --registry --seed tests/fixtures/seed.yml >/dev/null
# shellcheck disable=SC1091
. "$endpoint/env"
export GITLAB_URL GITLAB_TOKEN
echo "   API $GITLAB_URL, git over SSH on 127.0.0.1:$GITLAB_SSH_PORT, registry $GITLAB_REGISTRY (plain HTTP)"
endpoints push-image "$endpoint" fleet/apps/api/base:1 | sed 's/^/   /'

ANSIBLE_COLLECTIONS_PATH="$(scripts/collection-path.sh)"
export ANSIBLE_COLLECTIONS_PATH ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-0}"

# --- 2. the API side, from the controller -----------------------------------
step "Generating the runner fleet's SSH key pair (ed25519, in $work)"
ssh-keygen -q -t ed25519 -N "" -C "runner-fleet" -f "$work/runner-fleet"
export DEMO_PUBLIC_KEY_FILE="$work/runner-fleet.pub"

for run in first second; do
  step "ansible-playbook playbooks/demo.yml --diff ($run run)"
  ansible-playbook playbooks/demo.yml --diff | tee "$work/api-$run.log"
done
grep -Eq 'changed=0 ' "$work/api-second.log" || { echo "FAIL: the second run changed something" >&2; exit 1; }

# --- 3. runner hosts ----------------------------------------------------------
step "Giving fleet/apps/api a package.json (the version a release job tags), pushed over SSH with a Maintainer's own key"
ssh-keygen -q -t ed25519 -N "" -C alice -f "$work/alice"
printf 'PRIVATE-TOKEN: test-token-alice\n' >"$work/alice.header"   # header from a file: no token in argv
curl -fsS -H "@$work/alice.header" -X POST "$GITLAB_URL/api/v4/user/keys" \
  --data-urlencode "title=alice laptop" --data-urlencode "key=$(cat "$work/alice.pub")" >/dev/null
echo "[127.0.0.1]:$GITLAB_SSH_PORT $GITLAB_SSH_HOST_KEY" >"$work/known_hosts"
export GIT_SSH_COMMAND="ssh -F /dev/null -i $work/alice -o IdentitiesOnly=yes -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes"
git clone -q "ssh://git@127.0.0.1:$GITLAB_SSH_PORT/fleet/apps/api.git" "$work/api"
printf '{\n  "name": "api",\n  "version": "2.1.0",\n  "private": true\n}\n' >"$work/api/package.json"
git -C "$work/api" add package.json
git -C "$work/api" -c user.name="Alice Maintainer" -c user.email=alice@example.test commit -q -m "Add package.json"
git -C "$work/api" push -q origin HEAD:main
unset GIT_SSH_COMMAND

step "Building (or reusing) the runner image and starting ${#runners[@]} runner containers"
scripts/build-runner-image.sh
for name in "${runners[@]}"; do
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman run -d --name "$name" --hostname "${name##*-}" --network host localhost/runnercreds-runner:latest >/dev/null
  podman exec "$name" useradd --create-home --shell /bin/bash gitlab-runner
done

cat >"$work/inventory.yml" <<EOF
---
all:
  vars:
    runnercreds_protected_tags:
      - projects: [fleet/apps/api]
        name: "v*"
        allowed_to_create:
          - deploy_key: "runner:${runners[0]}"
  children:
    runners:
      vars:
        ansible_connection: containers.podman.podman
        runner_ssh_key_gitlab_ssh_host: 127.0.0.1
        runner_ssh_key_gitlab_ssh_port: $GITLAB_SSH_PORT
        runner_ssh_key_host_keys: ["$GITLAB_SSH_HOST_KEY"]
        runner_ssh_key_host_alias: gitlab-demo
        runner_ssh_key_verify: true
        runner_deploy_token_registry: "$GITLAB_REGISTRY"
        runner_deploy_token_gitlab_url: "$GITLAB_URL"
        runner_deploy_token_containers_auth: true
        runner_deploy_token_tokens:
          - {name: runner-pull, project: fleet/apps/api, scopes: [read_registry], lifetime_days: 90}
      hosts:
        ${runners[0]}:
          runner_ssh_key_projects:
            - {project: fleet/apps/api, can_push: true}
            - {project: fleet/apps/web}
        ${runners[1]}:
          runner_ssh_key_projects:
            - {project: fleet/apps/api, can_push: true}
EOF

for run in first second; do
  step "ansible-playbook playbooks/site.yml on the runners ($run run)"
  ansible-playbook -i "$work/inventory.yml" playbooks/site.yml | tee "$work/site-$run.log"
done
if grep -E '^runnercreds-demo|^localhost' "$work/site-second.log" | grep -Eqv 'changed=0 '; then
  echo "FAIL: the second converge changed something" >&2; exit 1
fi

step "The release job on the runners: tag the version from package.json and push it over SSH"
# The job runs inside the container; its variables expand there, not here.
# shellcheck disable=SC2016
job='set -eu
cd "$(mktemp -d)"
git config --global user.name "GitLab Runner"; git config --global user.email runner@example.test
git clone -q git@gitlab-demo:fleet/apps/api.git api && cd api
VERSION=$(python3 -c "import json; print(json.load(open(\"package.json\"))[\"version\"].lower())")
TAG="v$VERSION$TAG_SUFFIX"
git tag -a "$TAG" -m "Repo Version $VERSION" main
echo "$ git push origin $TAG"
git push origin "$TAG" 2>&1'
for name in "${runners[@]}"; do
  echo "-- as gitlab-runner on $name"
  suffix="-${name##*-}"
  [ "$name" = "${runners[0]}" ] && suffix=""
  # The first runner tags the release; the others try a tag of their own under v*.
  if podman exec --user gitlab-runner --workdir /home/gitlab-runner --env "TAG_SUFFIX=$suffix" "$name" bash -c "$job"; then
    echo "   accepted"
  else
    echo "   refused (this runner's key may not create protected v* tags)"
  fi
done

step "Pulling fleet/apps/api/base:1 as gitlab-runner with the deploy token the converge wrote"
# shellcheck disable=SC2016
pull='set -eu
auth="$HOME/.config/containers/auth.json"
user=$(python3 -c "import base64, json, sys; print(base64.b64decode(json.load(open(sys.argv[1]))[\"auths\"][sys.argv[2]][\"auth\"]).decode().split(\":\")[0])" "$auth" "$REG")
echo "$ skopeo inspect --tls-verify=false docker://$REG/fleet/apps/api/base:1    (login from ~/.config/containers/auth.json: $user)"
skopeo inspect --tls-verify=false --format "   {{.Name}} {{.Digest}} ({{len .Layers}} layer)" "docker://$REG/fleet/apps/api/base:1"
echo "$ skopeo inspect --tls-verify=false --no-creds docker://$REG/fleet/apps/api/base:1"
if skopeo inspect --tls-verify=false --no-creds "docker://$REG/fleet/apps/api/base:1" >/dev/null 2>/tmp/anon.err; then
  echo "   anonymous pull accepted (unexpected)"; exit 1
fi
grep -Eqi "unauthorized|denied|authentication required" /tmp/anon.err || { cat /tmp/anon.err; exit 1; }
rm -f /tmp/anon.err
echo "   refused without the deploy token"'
for name in "${runners[@]}"; do
  echo "-- as gitlab-runner on $name"
  podman exec --user gitlab-runner --workdir /home/gitlab-runner --env HOME=/home/gitlab-runner \
    --env "REG=$GITLAB_REGISTRY" "$name" bash -c "$pull" \
    || { echo "FAIL: $name could not pull with its deploy token" >&2; exit 1; }
done

step "The release tag as GitLab's tags API shows it"
curl -fsS -H "@$work/alice.header" "$GITLAB_URL/api/v4/projects/fleet%2Fapps%2Fapi/repository/tags" \
  | python3 -c 'import json, sys
for tag in json.load(sys.stdin):
    print("   %-10s protected=%-5s target=%s" % (tag["name"], tag["protected"], tag["target"][:12]))'

step "Rotating every key and token of the fleet while runner1's job loop keeps fetching, pushing tags and pulling"
loop_runner="${runners[0]}"
podman cp tests/support/runner_loop.sh "$loop_runner:/usr/local/bin/runnercreds-runner-loop"
podman exec "$loop_runner" chmod 0755 /usr/local/bin/runnercreds-runner-loop
podman exec --user gitlab-runner --workdir /home/gitlab-runner "$loop_runner" bash -c \
  'mkdir -p work/api && cd work/api && git init -q && git remote add origin git@gitlab-demo:fleet/apps/api.git'
# The demo's token is a registry login only (no git credentials): no HTTPS step in this loop.
podman exec --detach --user gitlab-runner --workdir /home/gitlab-runner --env HOME=/home/gitlab-runner \
  --env RUNNER_LOOP_HTTPS= "$loop_runner" /usr/local/bin/runnercreds-runner-loop demo 1 "$GITLAB_URL" "$GITLAB_REGISTRY"
loop_stats() { podman exec "$loop_runner" cat /home/gitlab-runner/rotloop/demo.stats 2>/dev/null; }
stat_of() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
for _ in $(seq 120); do
  stats="$(loop_stats || true)"
  if [ -n "$stats" ] && [ "$(stat_of "$stats" iterations)" -ge 2 ]; then break; fi
  sleep 1
done
echo "   job loop on $loop_runner (as gitlab-runner): $(stat_of "$(loop_stats)" iterations) iterations before the rotation"
keys_tokens() {
  curl -fsS -H "@$work/alice.header" "$GITLAB_URL/api/v4/projects/fleet%2Fapps%2Fapi/deploy_keys" \
    | python3 -c 'import json, sys
print("   deploy keys of fleet/apps/api: " + ", ".join("%s #%s" % (k["title"], k["id"]) for k in json.load(sys.stdin)))'
  curl -fsS -H "@$work/alice.header" "$GITLAB_URL/api/v4/projects/fleet%2Fapps%2Fapi/deploy_tokens" \
    | python3 -c 'import json, sys
print("   deploy tokens of fleet/apps/api: " + ", ".join("%s #%s" % (t["name"], t["id"]) for t in json.load(sys.stdin)))'
}
keys_tokens
# The token was created a few minutes ago, inside the grace period in which a predecessor is kept
# (another run may have just handed it out); real rotations are weeks apart. Grace 0 revokes it now,
# so the demo shows the revoke happening under the running loop too.
ansible-playbook -i "$work/inventory.yml" runnercreds.gitlab.rotate -e runnercreds_rotate_all=true \
  -e runner_deploy_token_revoke_grace_minutes=0 \
  -e "runnercreds_rotate_report=$work/rotate-report.json" | tee "$work/rotate.log"
podman exec "$loop_runner" touch /home/gitlab-runner/rotloop/stop
for _ in $(seq 120); do
  [ "$(stat_of "$(loop_stats)" "done")" = 1 ] && break
  sleep 1
done
keys_tokens
stats="$(loop_stats)"
echo "   job loop on $loop_runner during the rotation: $(stat_of "$stats" iterations) iterations," \
  "$(stat_of "$stats" ok) operations succeeded, $(stat_of "$stats" fail) failed" \
  "(fetch $(stat_of "$stats" fetch_ok), release tags pushed $(stat_of "$stats" push_ok)," \
  "registry pulls $(stat_of "$stats" registry_ok))"
if [ "$(stat_of "$stats" fail)" != 0 ]; then
  podman exec "$loop_runner" cat /home/gitlab-runner/rotloop/demo.err >&2
  echo "FAIL: the job loop failed during the rotation" >&2; exit 1
fi
if grep -E '^runnercreds-demo|^localhost' "$work/rotate.log" | grep -Eqv 'failed=0 '; then
  echo "FAIL: the rotation failed on a host" >&2; exit 1
fi

# --- 5. the audit ---------------------------------------------------------------
step "Auditing the fleet: ansible-playbook runnercreds.gitlab.audit (reads GitLab only, connects to no runner)"
audit_dir="$repo/build/demo-audit"   # kept after the demo, unlike $work
ANSIBLE_STDOUT_CALLBACK=ansible.builtin.json ansible-playbook -i "$work/inventory.yml" runnercreds.gitlab.audit \
  -e "runnercreds_audit_report_dir=$audit_dir" >"$work/audit.json" \
  || { cat "$work/audit.json" >&2; echo "FAIL: the audit failed" >&2; exit 1; }
# The module's one-screen summary (at most 20 lines), from the "Summary" task's result.
python3 -c 'import json, sys
for play in json.load(open(sys.argv[1]))["plays"]:
    for task in play["tasks"]:
        if task["task"]["name"] == "Summary":
            print("\n".join("   " + line for line in task["hosts"]["localhost"]["msg"]))' "$work/audit.json"

echo
echo "Done: both converges were idempotent (changed=0 on the second run); the runners pulled with their deploy token;"
echo "every key and token was rotated while a runner kept working, without a failed operation."
