# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller's per-project lock around protected-tag read-modify-writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _controller_lock
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._targets import Target

URL = "https://gitlab.example.com"


@pytest.fixture(autouse=True)
def lock_dir(tmp_path, monkeypatch):
    directory = tmp_path / "locks"
    monkeypatch.setattr(_controller_lock, "lock_directory", lambda: str(directory))
    return directory


def project(ref):
    return Target("project", ref, "projects[0]", {})


def test_the_same_project_waits_then_gives_a_clear_error():
    with _controller_lock.target_lock(URL, project("fleet/api"), 7, "changing protected tags"):
        started = time.monotonic()
        with pytest.raises(GitlabModuleError) as caught:
            with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags", wait=0.3):
                pytest.fail("the second holder got the lock while the first held it")
        assert time.monotonic() - started >= 0.3
    message = caught.value.msg
    assert "another run on this controller has been changing protected tags on 7 for 0 s" in message
    assert "nothing was changed there by this task" in message


def test_the_lock_is_free_again_after_the_block_also_after_an_error():
    with pytest.raises(RuntimeError):
        with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags"):
            raise RuntimeError("a failed write")
    with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags", wait=0):
        pass


def test_other_projects_and_other_gitlabs_do_not_wait():
    with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags"):
        with _controller_lock.target_lock(URL, project(8), 8, "changing protected tags", wait=0):
            pass
        with _controller_lock.target_lock("https://other.example.com", project(7), 7, "x", wait=0):
            pass
        with _controller_lock.target_lock(URL, Target("group", 7, "groups[0]", {}), 7, "x", wait=0):
            pass


def test_a_process_that_dies_releases_it(lock_dir):
    """The kernel drops a flock with its process: a run killed mid-update never blocks the next one."""
    path = _controller_lock.lock_path(URL, project(7), 7)
    os.makedirs(lock_dir, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", path],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GitlabModuleError):
            with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags", wait=0.2):
                pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags", wait=2):
        pass


def test_files_are_private_and_hold_nothing(lock_dir):
    with _controller_lock.target_lock(URL, project("fleet/api"), 7, "changing protected tags"):
        pass
    assert stat.S_IMODE(os.stat(lock_dir).st_mode) == 0o700
    (name,) = os.listdir(lock_dir)
    assert stat.S_IMODE(os.stat(lock_dir / name).st_mode) == 0o600
    assert os.path.getsize(lock_dir / name) == 0
    assert "fleet" not in name and "gitlab" not in name


def test_without_a_usable_directory_the_block_runs_unlocked(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(_controller_lock, "lock_directory", lambda: str(blocker / "locks"))
    ran = []
    with _controller_lock.target_lock(URL, project(7), 7, "changing protected tags"):
        ran.append(True)
    assert ran == [True]
