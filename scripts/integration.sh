#!/usr/bin/env bash
# ansible-test integration, offline, on a copy of the collection.
#   scripts/integration.sh                    every target (deploy_key, deploy_token, protected_tag)
#   scripts/integration.sh deploy_key -vvv    extra arguments (targets, options) go to ansible-test
#
# 1. Copies the checkout's files (tracked, plus untracked that are not
#    ignored) to build/ansible_collections/runnercreds/gitlab/, with its own
#    (empty) git repository, as scripts/sanity.sh does and for the same reason.
# 2. Runs `ansible-test integration --local`: the targets run on this machine
#    with .venv's Python (which has python-gitlab for the modules; see
#    tests/integration/requirements.txt), so nothing is installed and no
#    container is needed. Every target depends on the setup_gitlab_server
#    target, which starts the bundled GitLab test server on 127.0.0.1 for the
#    length of that target's ansible-playbook run.
# 3. With GITLAB_URL and GITLAB_TOKEN set, the targets run against that GitLab
#    instead: the two values go to the copy's
#    tests/integration/integration_config.yml (0600, removed at exit), the
#    variables file ansible-test hands to every target, never to a command line.
set -euo pipefail
# shellcheck source=scripts/lib/collection-copy.sh
. "$(dirname "$0")/lib/collection-copy.sh"

repo="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$repo/.venv/bin:$PATH"
command -v ansible-test >/dev/null || { echo "integration.sh: no ansible-test in $repo/.venv (run: make venv)" >&2; exit 1; }
python="$(command -v python3)"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# --- 1. the copy -------------------------------------------------------------
# INTEGRATION_BUILD_DIR lets two runs at once use their own copies.
dest="${INTEGRATION_BUILD_DIR:-$repo/build/integration}/ansible_collections/runnercreds/gitlab"
copy_collection "$repo" "$dest"

# --- 2. a real GitLab, if asked for -----------------------------------------
config="$dest/tests/integration/integration_config.yml"
if [ -n "${GITLAB_URL:-}" ] && [ -n "${GITLAB_TOKEN:-}" ]; then
  trap 'rm -f "$config"' EXIT
  (
    umask 077
    "$python" - "$config" <<'PY'
import json, os, sys
# JSON is YAML: the values are quoted whatever characters they hold.
with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump({"gitlab_url": os.environ["GITLAB_URL"], "gitlab_token": os.environ["GITLAB_TOKEN"]}, fh)
PY
  )
  echo "integration.sh: targets run against $GITLAB_URL (GITLAB_URL/GITLAB_TOKEN)"
fi

# --- 3. the run ----------------------------------------------------------------
cd "$dest"
echo "integration.sh: ansible-test integration --python $pyver --local in $dest"
# Exit status is ansible-test's: non-zero when any target fails.
ansible-test integration --python "$pyver" --local --color no "$@"
