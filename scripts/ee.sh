#!/usr/bin/env bash
# Proves the Execution Environment: builds one with ansible-builder 3 and runs
# the collection's site playbook inside it against the GitLab test server.
#
#  1. The base image, built locally (no image registry is reachable):
#     scripts/build-ee-base-image.sh -> localhost/runnercreds-ee-base:latest.
#  2. The EE: tests/ee/execution-environment.yml (schema 3) copied to
#     build/ee/def/ next to the collections it installs without Galaxy (this
#     collection's tarball from `ansible-galaxy collection build`,
#     community.crypto and community.general from the `ansible` package in
#     .venv), built with `ansible-builder build --container-runtime podman`
#     (context build/ee/context, log build/ee/build.log) ->
#     localhost/runnercreds-ee:<hash> and :latest. The Python and system
#     packages come from the collection's own meta/execution-environment.yml
#     (requirements.txt, bindep.txt), as in any user's EE. The <hash> covers
#     the base image, the definition, the collections' contents and the
#     ansible-builder pin: an EE that exists already is not rebuilt
#     (EE_FORCE=1 rebuilds).
#  3. The test: the GitLab test server with its sshd on 127.0.0.1
#     (tests/support/endpoints.py), one EE container (host network, root, the
#     container being both controller and runner host, tests/ee/inventory.yml)
#     in which runnercreds.gitlab.site runs twice: the first run
#     (ansible-playbook) must succeed, the second (through ansible-runner, the
#     engine AWX runs an EE with: tests/ee/runner_run.py) must report
#     changed=0. Then GitLab's state
#     is read through the API (tests/ee/check_gitlab.py): the runner's deploy
#     key registered with write access, v* protected for that key only, the
#     deploy token present.
# Exits non-zero on any failure; prints the time of each step. Needs root
# (debootstrap, the sshd endpoint), podman, and .venv (`make venv`).
#
# Environment:
#   EE_FORCE=1          rebuild the EE even if the image for its hash exists (builds never reuse layers)
#   EE_BASE_IMAGE_FORCE=1, RUNNERCREDS_CACHE, RUNNER_IMAGE_MIRROR: see scripts/build-ee-base-image.sh
#   EE_BUILD_CA_BUNDLE  CA bundle pip trusts inside the build (default: this host's,
#                       /etc/ssl/certs/ca-certificates.crt when it exists)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/lib/collection-copy.sh
. "$repo/scripts/lib/collection-copy.sh"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.config/containers.conf}"

builder_pin="ansible-builder==3.2.0"
build="$repo/build/ee"
image="localhost/runnercreds-ee"
venv_python="$repo/.venv/bin/python"
[ -x "$venv_python" ] || { echo "ee: $venv_python is missing; run 'make venv' first" >&2; exit 1; }

step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }
timings=()

# --- ansible-builder, in a venv of its own (its pins must not meet the test venv's) ---
builder_venv="$build/venv"
if [ ! -f "$builder_venv/.stamp-$builder_pin" ]; then
  step "Installing $builder_pin into $builder_venv"
  rm -rf "$builder_venv"
  python3 -m venv "$builder_venv"
  "$builder_venv/bin/python" -m pip install --quiet "$builder_pin"
  touch "$builder_venv/.stamp-$builder_pin"
fi

# --- 1. the base image ---------------------------------------------------------
step "Base image (scripts/build-ee-base-image.sh)"
start=$SECONDS
scripts/build-ee-base-image.sh
timings+=("base image: $((SECONDS - start))s")

# --- 2. the EE -------------------------------------------------------------------
step "Staging the EE definition and its collections in $build/def"
def="$build/def"
rm -rf "$def"
mkdir -p "$def/collections/community"
cp tests/ee/execution-environment.yml tests/ee/requirements.yml "$def/"
# Galaxy's artifact, built as `ansible-galaxy collection build` builds it for a release
# (galaxy.yml's build_ignore decides what users get, meta/ and requirements.txt included),
# from a copy of the checkout's files (tracked, plus untracked not ignored): what git
# ignores here (tool caches, virtualenvs) would never be in a release checkout.
copy_collection "$repo" "$build/src"
rm -rf "$build/artifact"
"$repo/.venv/bin/ansible-galaxy" collection build --output-path "$build/artifact" "$build/src" >/dev/null
cp "$build"/artifact/runnercreds-gitlab-*.tar.gz "$def/collections/runnercreds-gitlab.tar.gz"
community="$("$venv_python" -c 'import os, ansible_collections.community.crypto as c; print(os.path.dirname(c.__path__[0]))')"
for name in crypto general; do
  cp -a "$community/$name" "$def/collections/community/$name"
done
find "$def/collections" -name __pycache__ -type d -prune -exec rm -rf {} +

# What the image is made of, by content: the artifact's and the copies' manifests
# (FILES.json holds every file's sha256), the definition, the base image and the builder.
hash="$(
  {
    echo "$builder_pin"
    podman image inspect --format '{{.Id}}' localhost/runnercreds-ee-base:latest
    sha256sum tests/ee/execution-environment.yml tests/ee/requirements.yml | cut -c1-64
    tar -xzOf "$def/collections/runnercreds-gitlab.tar.gz" MANIFEST.json FILES.json | sha256sum
    cat "$def"/collections/community/*/MANIFEST.json "$def"/collections/community/*/FILES.json | sha256sum
  } | sha256sum | cut -c1-16
)"
start=$SECONDS
if [ "${EE_FORCE:-0}" != 1 ] && podman image exists "$image:$hash"; then
  step "EE $image:$hash exists already (EE_FORCE=1 rebuilds it)"
  podman tag "$image:$hash" "$image:latest"
  timings+=("EE build: cached")
else
  step "ansible-builder build -> $image:$hash (log: $build/build.log)"
  # pip inside the build reaches PyPI and must trust what this host trusts (here: a
  # TLS-intercepting egress proxy's CA, in the host bundle). Mounted for the build only,
  # never copied into the image.
  ca_bundle="${EE_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
  # No layer cache (--layers=false): a build happens only when the hash changed, and
  # each one would otherwise leave ~1 GB of intermediate images behind on a shared disk.
  build_args="--network host --layers=false"
  if [ -f "$ca_bundle" ]; then
    printf '[global]\ncert = /etc/runnercreds-build-ca.crt\n' >"$build/pip.conf"
    build_args+=" --volume $ca_bundle:/etc/runnercreds-build-ca.crt:ro --volume $build/pip.conf:/etc/pip.conf:ro"
  fi
  if ! "$builder_venv/bin/ansible-builder" build -v 3 \
      --file "$def/execution-environment.yml" --context "$build/context" \
      --container-runtime podman --tag "$image:$hash" --tag "$image:latest" \
      --extra-build-cli-args "$build_args" >"$build/build.log" 2>&1; then
    tail -n 60 "$build/build.log" >&2
    echo "FAIL: ansible-builder build failed (full log: $build/build.log)" >&2
    exit 1
  fi
  # Older EE builds: drop their hash tags, then every untagged image built on the EE
  # base (the base image's label marks them: earlier EEs, stages of interrupted builds).
  podman images --format '{{.Repository}}:{{.Tag}}' \
    | grep -E "^$image:[0-9a-f]{16}\$" | grep -v ":$hash\$" \
    | xargs -r podman rmi >/dev/null 2>&1 || true
  podman image prune -f --filter label=org.opencontainers.image.title=runnercreds-ee-base >/dev/null 2>&1 || true
  timings+=("EE build: $((SECONDS - start))s")
fi
podman image inspect --format '   {{.Size}} bytes, built {{.Created}}' "$image:$hash"

# --- 3. the test -----------------------------------------------------------------
start=$SECONDS
work="$(mktemp -d /tmp/runnercreds-ee.XXXXXX)"
# Not under /tmp: sshd wants root-owned, non-writable parents for its AuthorizedKeysCommand.
endpoint="/run/runnercreds-ee-$$"
container="runnercreds-ee-test-$$"
endpoints() { python3 "$repo/tests/support/endpoints.py" "$@"; }
cleanup() {
  podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
  endpoints stop "$endpoint" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "Starting the GitLab test server and its sshd on 127.0.0.1"
endpoints start "$endpoint" --ssh --seed tests/fixtures/seed.yml >/dev/null
# shellcheck disable=SC1091
. "$endpoint/env"
export GITLAB_URL GITLAB_TOKEN GITLAB_SSH_PORT GITLAB_SSH_HOST_KEY

step "Starting the EE container $container (host network; it is the controller and the runner host)"
# `--env NAME` passes the value from this environment: the token is never on a command line.
podman run -d --name "$container" --network host --user 0 \
  --env GITLAB_URL --env GITLAB_TOKEN --env GITLAB_SSH_PORT --env GITLAB_SSH_HOST_KEY \
  --volume "$repo/tests/ee/inventory.yml:/runner/inventory/hosts.yml:ro" \
  "$image:$hash" sleep infinity >/dev/null
podman exec "$container" useradd --create-home --shell /bin/bash gitlab-runner
podman exec "$container" ansible --version | head -n 1 | sed 's/^/   /'
podman exec "$container" ansible-galaxy collection list runnercreds.gitlab 2>/dev/null | grep -E '^runnercreds' | sed 's/^/   /'

step "ansible-playbook runnercreds.gitlab.site inside the EE (first run)"
if ! podman exec "$container" ansible-playbook -i /runner/inventory/hosts.yml runnercreds.gitlab.site \
    >"$work/site-first.log" 2>&1; then
  cat "$work/site-first.log" >&2
  echo "FAIL: the first run of the site playbook failed inside the EE" >&2
  exit 1
fi
line="$(grep -E '^ee-runner +:' "$work/site-first.log")" || { cat "$work/site-first.log" >&2; echo "FAIL: no play recap" >&2; exit 1; }
echo "   $line"
echo "$line" | grep -Eq ' failed=0 ' || { cat "$work/site-first.log" >&2; echo "FAIL: first run: a task failed" >&2; exit 1; }

# The second run goes through ansible-runner, as AWX and AAP run an EE, and is judged by its
# stats event: successful, and changed=0 (tests/ee/runner_run.py).
step "ansible-runner: runnercreds.gitlab.site inside the EE again (second run, must change nothing)"
podman exec -i "$container" python3 - /runner/inventory/hosts.yml <tests/ee/runner_run.py \
  || { echo "FAIL: the second run inside the EE failed or changed something" >&2; exit 1; }

step "GitLab's state through the API"
podman exec "$container" cat /home/gitlab-runner/.ssh/gitlab_deploy_ed25519.pub >"$work/runner.pub"
"$venv_python" tests/ee/check_gitlab.py "$work/runner.pub"
timings+=("test run: $((SECONDS - start))s")

step "Done: the EE built from tests/ee/execution-environment.yml runs runnercreds.gitlab.site (second run changed=0)"
printf '   %s\n' "${timings[@]}"
