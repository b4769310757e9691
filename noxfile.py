# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ansible-core version matrix: sanity, units and functional tests on 2.17 ... 2.21.

    nox -s ansible-core-2.21                    all three parts on ansible-core 2.21 (Python 3.13)
    nox -s ansible-core-2.17 -- functional      one part: sanity, units or functional
    nox -t oldest newest                        what `make test` runs (2.17 and 2.21)
    nox -s lock-2.20                            re-resolve tests/constraints/ansible-core-2.20.txt
    scripts/matrix.sh [2.17 ...]                the same sessions, with a summary table

Why nox and not tox-ansible: tox-ansible builds and installs the collection
with its collection dependencies from Galaxy (unreachable here) and treats
Molecule as "integration", while our functional tests are pytest runs that
start the bundled GitLab test server. nox is one PyPI package, needs nothing
but PyPI, and its sessions are plain Python, so one session per version can
run the three parts in one environment.

One session per version, not one per part: sanity, units and functional
need the same packages (ansible-core, the matching `ansible` package for
community.crypto and community.general, python-gitlab, pytest), and nox gives
each session its own virtualenv; three copies of the `ansible` package per
version would triple the set-up time. The parts run one after the other;
each part's outcome and seconds go to build/matrix/results/ (read by
scripts/matrix.sh) and a failing part does not stop the next one, but fails
the session.

Each environment is installed from tests/constraints/ansible-core-<version>.txt
(every package pinned; the top-level list is tests/constraints/requirements.in)
and reused while those files do not change (a stamp in the venv).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import nox

REPO = os.path.dirname(os.path.abspath(__file__))
CONSTRAINTS = os.path.join("tests", "constraints")
REQUIREMENTS_IN = os.path.join(CONSTRAINTS, "requirements.in")
RESULTS = os.path.join("build", "matrix", "results")
PARTS = ("sanity", "units", "functional")

nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
# Only the sessions asked for: `nox` alone would otherwise run every version.
nox.options.sessions = ["ansible-core-2.17", "ansible-core-2.21"]


@dataclass(frozen=True)
class Core:
    """One ansible-core minor release and the interpreter it is tested on."""

    version: str  # "2.17"
    python: str  # a controller Python that release supports
    ansible: str  # the `ansible` package major that ships this core ("10")

    @property
    def constraints(self) -> str:
        return os.path.join(CONSTRAINTS, "ansible-core-%s.txt" % self.version)


# Controller Pythons: 2.17 supports 3.10-3.12, 2.18 3.11-3.13, 2.19 3.11-3.13,
# 2.20 and 2.21 3.12-3.14. The oldest and newest run on the oldest and newest
# Python the machines have (3.11, 3.13); the middle ones on the others.
MATRIX = [
    Core("2.17", "3.11", "10"),
    Core("2.18", "3.12", "11"),
    Core("2.19", "3.11", "12"),
    Core("2.20", "3.13", "13"),
    Core("2.21", "3.13", "14"),
]


def _add_interpreters_to_path() -> None:
    """Put the pyenv-installed Pythons' own bin directories on PATH.

    pyenv's shims answer `python3.12` only for the version selected with
    `pyenv global`/`local`, and nox finds interpreters by name on PATH.
    Nothing is added for a version already on PATH (Debian's python3.11).
    """
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    dirs = []
    for core in MATRIX:
        exe = "python" + core.python
        if shutil.which(exe) and subprocess.run([exe, "-c", ""], capture_output=True, check=False).returncode == 0:
            continue
        found = sorted(glob.glob(os.path.join(root, "versions", core.python + ".*", "bin", exe)))
        if found:
            dirs.append(os.path.dirname(found[-1]))
    if dirs:
        os.environ["PATH"] = os.pathsep.join(dict.fromkeys(dirs)) + os.pathsep + os.environ.get("PATH", "")


_add_interpreters_to_path()


def _digest(*paths: str) -> str:
    sha = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            sha.update(fh.read())
    return sha.hexdigest()[:16]


def _install(session: nox.Session, core: Core) -> None:
    """Install the pinned environment unless the venv already holds exactly it."""
    inputs = (REQUIREMENTS_IN, core.constraints, "requirements.txt", os.path.join("tests", "unit", "requirements.txt"))
    stamp = os.path.join(session.virtualenv.location, ".stamp-" + _digest(*inputs))
    if os.path.exists(stamp):
        session.log("environment up to date (%s)", os.path.basename(stamp))
        return
    session.install("--quiet", "--upgrade", "pip")
    session.install("--quiet", "-r", REQUIREMENTS_IN, "-c", core.constraints)
    for old in glob.glob(os.path.join(session.virtualenv.location, ".stamp-*")):
        os.remove(old)
    with open(stamp, "w", encoding="utf-8"):
        pass


def _record(core: Core, part: str, python: str, passed: bool, seconds: float) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "%s-%s.json" % (core.version, part)), "w", encoding="utf-8") as fh:
        json.dump(dict(version=core.version, python=python, part=part, passed=passed,
                       seconds=round(seconds, 1)), fh)


def _part(session: nox.Session, core: Core, part: str) -> None:
    venv = session.virtualenv.location
    build = os.path.join(REPO, "build", "matrix", core.version)
    if part in ("sanity", "units"):
        # scripts/sanity.sh with this environment's ansible-test, on its own copy of the collection.
        env = dict(SANITY_VENV=venv, SANITY_BUILD_DIR=build)
        if part == "units":
            env["ANSIBLE_TEST_COMMAND"] = "units"
        session.run(os.path.join(REPO, "scripts", "sanity.sh"), env=env, external=True)
    else:
        # tests/unit and tests/functional; the functional tests start the GitLab test server themselves.
        # -rs: every skip is listed with its reason in the log (a skip is never a pass).
        session.run("python", "-m", "pytest", "tests/unit", "tests/functional",
                    "-p", "no:cacheprovider", "-q", "-rs", "-n", "2")


def _session(core: Core):
    def run(session: nox.Session) -> None:
        parts = session.posargs or list(PARTS)
        unknown = [p for p in parts if p not in PARTS]
        if unknown:
            session.error("unknown part(s) %s; choose from %s" % (", ".join(unknown), ", ".join(PARTS)))
        started = time.monotonic()
        _install(session, core)
        python = session.run("python", "-c", "import platform; print(platform.python_version())",
                             silent=True).strip()
        # Set-up time (pip, nothing when the venv is reused) is reported apart from the parts.
        _record(core, "setup", python, True, time.monotonic() - started)
        failed = []
        for part in parts:
            started = time.monotonic()
            try:
                _part(session, core, part)
                passed = True
            except nox.command.CommandFailed:
                passed = False
                failed.append(part)
            _record(core, part, python, passed, time.monotonic() - started)
        if failed:
            session.error("ansible-core %s: %s failed" % (core.version, ", ".join(failed)))

    run.__doc__ = "sanity, units, functional on ansible-core %s, Python %s (parts as arguments)" % (
        core.version, core.python)
    tags = ["matrix"] + (["oldest"] if core is MATRIX[0] else []) + (["newest"] if core is MATRIX[-1] else [])
    nox.session(run, name="ansible-core-" + core.version, python=core.python, tags=tags)


def _lock_session(core: Core):
    def lock(session: nox.Session) -> None:
        session.install("--quiet", "--upgrade", "pip")
        session.install("--quiet", "-r", REQUIREMENTS_IN,
                        "ansible-core==%s.*" % core.version, "ansible==%s.*" % core.ansible)
        frozen = session.run("python", "-m", "pip", "freeze", "--exclude-editable", silent=True)
        with open(core.constraints, "w", encoding="utf-8") as fh:
            fh.write("# ansible-core %s on Python %s: every package pinned (nox -s lock-%s writes this file).\n"
                     "# The `ansible` %s package brings community.crypto and community.general, which the\n"
                     "# roles and playbooks the functional tests run need (Galaxy is not reachable).\n"
                     % (core.version, core.python, core.version, core.ansible))
            fh.write(frozen)

    lock.__doc__ = "re-resolve %s (newest %s.x and ansible %s.x)" % (core.constraints, core.version, core.ansible)
    nox.session(lock, name="lock-" + core.version, python=core.python, reuse_venv=False, default=False)


for _core in MATRIX:
    _session(_core)
    _lock_session(_core)
