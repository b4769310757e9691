#!/usr/bin/env bash
# Runs Galaxy's own import checks on the collection tarball users would get.
#
#   scripts/galaxy-importer.sh
#
# 1. Builds the tarball users get (scripts/build-collection.sh: the checkout's files, the
#    users' README as README.md) into build/galaxy-importer/out/.
# 2. Runs galaxy-importer (pinned, from PyPI, in its own venv build/galaxy-importer-venv:
#    it pins its own ansible-core and ansible-lint, which must not leak into .venv) on
#    that tarball with tests/galaxy-importer.cfg, and prints its whole output.
# 3. Fails when the importer exits non-zero, or prints any ERROR line: Galaxy refuses
#    an upload on those. WARNING lines are printed and counted, and do not fail.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
importer_version="0.4.44"
venv="$repo/build/galaxy-importer-venv"
work="$repo/build/galaxy-importer"
stamp="$venv/.stamp-galaxy-importer-$importer_version"

# --- the importer's venv ------------------------------------------------------
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "galaxy-importer==$importer_version"
  touch "$stamp"
fi

# --- 1. the tarball -----------------------------------------------------------
rm -rf "$work"
mkdir -p "$work/out"
tarball="$("$repo/scripts/build-collection.sh" "$work/out" "$venv/bin/ansible-galaxy")"
echo "galaxy-importer.sh: $(basename "$tarball") ($(stat -c %s "$tarball") bytes)"

# --- 2. the import --------------------------------------------------------------
# The importer writes importer_result.json to its working directory; ansible-lint and
# ansible-doc inside it get a HOME of their own, so no cache of the user's is read.
export GALAXY_IMPORTER_CONFIG="$repo/tests/galaxy-importer.cfg"
export PATH="$venv/bin:$PATH"
export HOME="$work/home"
mkdir -p "$HOME"
status=0
(cd "$work" && "$venv/bin/python" -m galaxy_importer.main "$tarball") >"$work/importer.log" 2>&1 || status=$?
cat "$work/importer.log"

# --- 3. the verdict -------------------------------------------------------------
errors="$(grep -c '^ERROR' "$work/importer.log" || true)"
warnings="$(grep -c '^WARNING' "$work/importer.log" || true)"
echo "galaxy-importer.sh: exit status $status, $errors ERROR lines, $warnings WARNING lines (log: $work/importer.log)"
if [ "$status" -ne 0 ] || [ "$errors" -ne 0 ] || ! grep -q 'Importer processing completed successfully' "$work/importer.log"; then
  echo "galaxy-importer.sh: Galaxy would refuse this collection" >&2
  exit 1
fi
