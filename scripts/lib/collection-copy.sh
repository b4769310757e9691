# shellcheck shell=bash
# Sourced by scripts/sanity.sh and scripts/integration.sh: ansible-test needs the
# collection at ansible_collections/<namespace>/<name>/.
#
#   copy_collection REPO DEST
# copies the checkout's files (tracked, plus untracked that are not ignored) to
# DEST, replacing what was there. The copy gets its own (empty) git repository:
# without one, ansible-test walks up to the checkout's .git, where build/ is
# ignored, and finds no files at all ("All targets skipped").
copy_collection() {
  local repo="$1" dest="$2"
  rm -rf "$dest"
  mkdir -p "$dest"
  (
    cd "$repo" || exit 1
    # Tracked files deleted in the working tree are still listed: skip them.
    git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do
          if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done \
      | sort -zu \
      | xargs -0 -r cp -a --parents -t "$dest"
  )
  git -C "$dest" init -q
}
