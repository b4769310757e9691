#!/usr/bin/env bash
# Builds the collection's docsite (modules, roles, filters and the guides of docs/docsite/) as HTML.
#
#   scripts/docs.sh                 lint, then build: build/docsite/build/html/index.html
#   scripts/docs.sh --screenshot    also docs/images/docsite-front.png (headless Chromium, pngquant)
#
# 1. A venv of its own, build/docs-venv, with antsibull-docs, Sphinx and the Ansible theme pinned
#    (rebuilt when the pins change): they pin their own docutils and Sphinx, which must not leak into .venv.
# 2. A copy of the checkout's files at build/docs/collections/ansible_collections/runnercreds/gitlab
#    (tracked, plus untracked that are not ignored), where ansible-doc finds the collection; its
#    dependencies from .venv's `ansible` package.
# 3. `antsibull-docs lint-collection-docs --plugin-docs`: extra-docs.yml, links.yml, the guides' RST
#    and every plugin's and role's documentation as the docsite renders it. Any finding fails.
# 4. `antsibull-docs sphinx-init --use-current --squash-hierarchy` into build/docsite (one collection: its
#    page is the front page), then its build.sh (render the RST with `antsibull-docs collection`,
#    sphinx-build), offline: every Sphinx warning fails the build except the links into docs.ansible.com
#    and the dependencies' docsites that cannot resolve without their inventories.
set -euo pipefail
# shellcheck source=scripts/lib/collection-copy.sh
. "$(dirname "$0")/lib/collection-copy.sh"

repo="$(cd "$(dirname "$0")/.." && pwd)"
screenshot=false
case "${1:-}" in
  "") ;;
  --screenshot) screenshot=true ;;
  *) echo "usage: scripts/docs.sh [--screenshot]" >&2; exit 2 ;;
esac

# --- 1. the venv ----------------------------------------------------------------
pins=(antsibull-docs==2.28.0 Sphinx==9.0.4 sphinx-ansible-theme==0.10.4 ansible-pygments==0.1.2
      ansible-core==2.19.14)
venv="$repo/build/docs-venv"
stamp="$venv/.stamp-$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "${pins[@]}"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"

# --- 2. the collection copy --------------------------------------------------------
collections="$repo/build/docs/collections"
copy_collection "$repo" "$collections/ansible_collections/runnercreds/gitlab"
# The lint reads the declared dependencies (community.crypto, community.general) too, to check references
# into them. Galaxy is not reachable here: they come from the `ansible` package in .venv (make venv), as
# for every other test of this repository.
deps="$("$repo/.venv/bin/python" -c 'import importlib.util, os; s = importlib.util.find_spec("ansible_collections.community.crypto"); print(os.path.dirname(os.path.dirname(os.path.dirname(list(s.submodule_search_locations)[0]))))')" \
  || { echo "docs.sh: no community.crypto in $repo/.venv (run: make venv)" >&2; exit 1; }
export ANSIBLE_COLLECTIONS_PATH="$collections:$deps"
# Only this collection: ansible-doc must not pick up collections installed elsewhere on the machine.
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false

# --- 3. lint ------------------------------------------------------------------------
echo "docs.sh: antsibull-docs lint-collection-docs --plugin-docs"
(cd "$collections/ansible_collections/runnercreds/gitlab" && antsibull-docs lint-collection-docs --plugin-docs .)

# --- 4. the docsite -------------------------------------------------------------------
dest="$repo/build/docsite"
rm -rf "$dest"
mkdir -p "$dest"   # sphinx-init wants an existing directory, writable only by its owner
antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir "$dest" \
  --squash-hierarchy --title "runnercreds.gitlab" --project "runnercreds.gitlab" \
  --copyright "runnercreds.gitlab contributors" runnercreds.gitlab >/dev/null
# Offline: intersphinx would try docs.ansible.com and docs.python.org for every build and warn.
cat >>"$dest/conf.py" <<'PY'

# scripts/docs.sh: built offline, so no intersphinx inventories (docs.ansible.com is not reachable).
intersphinx_mapping = {}
PY
# The generated build.sh renders the RST (antsibull-docs collection) and runs sphinx-build with -W. Run
# it with Sphinx's warnings going to a file instead of -W: without intersphinx, the links antsibull-docs
# writes into ansible-core's docs (common return values, configuration settings) and into the
# dependencies' docsites stay unresolved. Those, and only those, are expected; any other warning (a
# broken link between our own pages, bad RST in a guide) fails the build.
sed -i 's/^sphinx-build -M html rst build -c \. -W --keep-going$/sphinx-build -M html rst build -c . --keep-going -q -w sphinx-warnings.log/' \
  "$dest/build.sh"
grep -q -- '-w sphinx-warnings.log' "$dest/build.sh" \
  || { echo "docs.sh: the sphinx-build line of $dest/build.sh is not the one expected; update this script" >&2; exit 1; }
(cd "$dest" && ./build.sh) >"$dest/build.log" 2>&1 \
  || { cat "$dest/build.log"; echo "docs.sh: the docsite build failed" >&2; exit 1; }
offline_only="undefined label: '(common_return_values|ansible_configuration_settings|ansible_collections\.(ansible|community)\.[a-z0-9_.]+)'"
offline_only+="|'envvar' reference target not found: ANSIBLE_[A-Z_]+"
unexpected="$(grep -E 'WARNING|ERROR' "$dest/sphinx-warnings.log" | grep -Ev "$offline_only" || true)"
expected="$(grep -cE "$offline_only" "$dest/sphinx-warnings.log" || true)"
if [ -n "$unexpected" ]; then
  printf '%s\n' "$unexpected"
  echo "docs.sh: Sphinx warnings (above); $expected more are links into docs not reachable offline" >&2
  exit 1
fi
echo "docs.sh: Sphinx: no warnings apart from $expected links into ansible-core's and the dependencies' docs (offline)"
index="$dest/build/html/index.html"
[ -f "$index" ] || { echo "docs.sh: no $index" >&2; exit 1; }
echo "docs.sh: $index ($(find "$dest/build/html" -name '*.html' | wc -l) pages)"

# --- the front page's screenshot --------------------------------------------------------
if $screenshot; then
  # shellcheck source=scripts/lib/screenshot.sh
  . "$repo/scripts/lib/screenshot.sh"
  screenshot_html "$index" "$repo/docs/images/docsite-front.png" 1200x800
fi
