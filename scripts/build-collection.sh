#!/usr/bin/env bash
# Builds the collection tarball users install: build/collection/runnercreds-gitlab-<version>.tar.gz.
#
#   scripts/build-collection.sh [OUTPUT_DIR] [ANSIBLE_GALAXY]
#
# The tarball's README.md is the users' README, docs/docsite/README.md (installation, offline
# dependencies, usage, the guides), not the repository's README.md, which is for people who clone
# the repository (make demo, make test). Galaxy shows only a README.md at the collection's root
# (galaxy-importer renders <root>/README.md whatever galaxy.yml's `readme:` says), and
# ansible-galaxy cannot rename a file, so the build runs on a copy of the checkout's files
# (tracked, plus untracked that are not ignored: what a clean clone holds) in which the users'
# README is README.md. Use this script, not `ansible-galaxy collection build` in the checkout.
set -euo pipefail
# shellcheck source=scripts/lib/collection-copy.sh
. "$(dirname "$0")/lib/collection-copy.sh"

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/build/collection}"
galaxy="${2:-$repo/.venv/bin/ansible-galaxy}"
# A staging directory per run: tests and scripts may build at the same time.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/runnercreds-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
stage="$tmp/ansible_collections/runnercreds/gitlab"

copy_collection "$repo" "$stage"
cp "$repo/docs/docsite/README.md" "$stage/README.md"
mkdir -p "$out"
"$galaxy" collection build --force --output-path "$out" "$stage" >/dev/null
version="$(sed -n 's/^version: *//p' "$repo/galaxy.yml")"
tarball="$out/runnercreds-gitlab-$version.tar.gz"
[ -f "$tarball" ] || { echo "build-collection.sh: ansible-galaxy built no $tarball" >&2; exit 1; }
echo "$tarball"
