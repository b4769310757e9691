#!/usr/bin/env bash
# ansible-test sanity, offline apart from PyPI, on a copy of the collection.
#   scripts/sanity.sh                      all sanity tests
#   scripts/sanity.sh --test pep8 ...      extra arguments go to ansible-test
#   ANSIBLE_TEST_COMMAND=units scripts/sanity.sh   ansible-test units instead (tests/unit, with
#                                          tests/unit/requirements.txt in its venv), same copy and bootstrap
#   SANITY_VENV=DIR scripts/sanity.sh      DIR's ansible-test and Python instead of .venv's
#   SANITY_BUILD_DIR=DIR scripts/sanity.sh the copy under DIR instead of build/
#
# 1. Copies the checkout's files (tracked, plus untracked that are not
#    ignored) to build/ansible_collections/runnercreds/gitlab/, the layout
#    ansible-test needs. The copy gets its own (empty) git repository: without
#    one, ansible-test walks up to this checkout's .git, where build/ is
#    ignored, and finds no files at all ("All targets skipped").
# 2. Puts a stand-in for pip's get-pip.py where ansible-test looks for it
#    (~/.ansible/test/cache/get_pip_<version>.py): the real one is downloaded
#    from ci-files.testing.ansible.com, which is not reachable. The stand-in
#    runs ensurepip, then installs the pip version ansible-test asked for.
# 3. Runs `ansible-test sanity --venv`: each test's requirements go into
#    virtualenvs under ~/.ansible/test/venv (installed from PyPI once, reused),
#    not into .venv. No docker, no network beyond PyPI.
set -euo pipefail
# shellcheck source=scripts/lib/collection-copy.sh
. "$(dirname "$0")/lib/collection-copy.sh"

repo="$(cd "$(dirname "$0")/.." && pwd)"
# SANITY_VENV: the virtualenv whose ansible-test (and Python) runs the tests;
# the version matrix (noxfile.py) points it at one venv per ansible-core version.
venv="${SANITY_VENV:-$repo/.venv}"
export PATH="$venv/bin:$PATH"
[ -x "$venv/bin/ansible-test" ] || { echo "sanity.sh: no ansible-test in $venv (run: make venv)" >&2; exit 1; }
python="$(command -v python3)"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# --- 1. the copy -------------------------------------------------------------
# SANITY_BUILD_DIR lets two runs at once use their own copies.
dest="${SANITY_BUILD_DIR:-$repo/build}/ansible_collections/runnercreds/gitlab"
copy_collection "$repo" "$dest"

# --- 2. the pip bootstrap stand-in ------------------------------------------
# The pip version ansible-test wants (python_requirements.get_venv_packages).
pip_version="$("$python" - <<'PY'
import pathlib, re, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
m = re.search(r"default_packages\s*=\s*dict\(\s*pip='([^']+)'", src.read_text())
print(m.group(1) if m else "24.2")
PY
)"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$get_pip")"
cat >"$get_pip.tmp" <<'PY'
"""Offline stand-in for get-pip.py (written by runnercreds scripts/sanity.sh).

ansible-test runs this with pip's arguments to put pip into an empty venv.
pip comes from the interpreter's own ensurepip (no network); then the exact
version ansible-test asked for is installed from the package index, if reachable.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                      stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if any(not a.startswith("-") for a in args):
    if subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *args]) != 0:
        print("get_pip (offline stand-in): could not install %s; keeping ensurepip's pip"
              % " ".join(args), file=sys.stderr)
PY
if cmp -s "$get_pip.tmp" "$get_pip"; then rm -f "$get_pip.tmp"; else mv "$get_pip.tmp" "$get_pip"; fi

# --- 3. the run ----------------------------------------------------------------
cd "$dest"
command="${ANSIBLE_TEST_COMMAND:-sanity}"
case "$command" in sanity|units) ;; *) echo "sanity.sh: ANSIBLE_TEST_COMMAND must be sanity or units" >&2; exit 2;; esac
echo "sanity.sh: ansible-test $command --python $pyver --venv in $dest"
# Exit status is ansible-test's: non-zero when any test fails.
exec ansible-test "$command" --python "$pyver" --venv --color no "$@"
