#!/usr/bin/env bash
# Prints a directory for ANSIBLE_COLLECTIONS_PATH in which this checkout is
# installed as runnercreds.gitlab (a symlink, so edits show up at once).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
root="$repo/build/collections"
mkdir -p "$root/ansible_collections/runnercreds"
ln -sfn "$repo" "$root/ansible_collections/runnercreds/gitlab"
echo "$root"
