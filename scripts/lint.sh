#!/usr/bin/env bash
# ansible-lint, production profile, offline, over the whole repository
# (settings and exclusions: .ansible-lint at the repo root).
#   scripts/lint.sh             everything
#   scripts/lint.sh molecule/   extra arguments (paths, options) go to ansible-lint
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
command -v ansible-lint >/dev/null || { echo "lint.sh: no ansible-lint in $repo/.venv (run: make venv)" >&2; exit 1; }

# Offline, ansible-lint does not install the collection under test, so
# playbooks using runnercreds.gitlab (modules, the `group/runnercreds.gitlab.gitlab`
# module_defaults group) would fail their syntax check. Expose the checkout
# as runnercreds.gitlab; other collections come from the venv's `ansible` package.
ANSIBLE_COLLECTIONS_PATH="$("$repo/scripts/collection-path.sh")"
export ANSIBLE_COLLECTIONS_PATH

exec ansible-lint --profile production --offline "$@"
