# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""A lock on the controller per GitLab project, around a read-modify-write GitLab cannot do atomically.

A key rotation adds the host's successor to every protected tag that allows
its predecessor. GitLab has no update for a protected tag, so the new entries
are computed from what was read and written back: two hosts of one play doing
this on the same project at the same moment would each write their own key
over the other's (lib/api/protected_tags.rb has no PUT/PATCH, and no version
to compare). The API tasks of a play run on the controller, one process per
host, so an advisory lock file there (``fcntl.flock``, released by the kernel
when the process ends, however it ends) makes them take turns. Runs from
different controllers do not share it: the writer reads back what it wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError

# A protected-tag update takes a few requests; a 429 storm with Retry-After can stretch one to a minute.
LOCK_WAIT_SECONDS = 300
LOCK_POLL_SECONDS = 0.1


def lock_directory() -> str:
    """Per user, so the lock files of one user never block or expose another's."""
    return os.path.join(tempfile.gettempdir(), f"runnercreds-gitlab-locks-{os.getuid()}")


def lock_path(url: str, target, target_id: int) -> str:
    """The lock file of one project or group: by its id, however the tasks name it (a digest keeps it plain)."""
    identity = f"{url.rstrip('/')}|{target.kind}|{target_id}"
    return os.path.join(lock_directory(), hashlib.sha256(identity.encode()).hexdigest()[:32] + ".lock")


@contextlib.contextmanager
def target_lock(url: str, target, target_id: int, what: str, wait: float = LOCK_WAIT_SECONDS):
    """Hold the controller's lock for ``target`` (whose id is ``target_id``) on the GitLab at ``url``.

    When the lock file cannot be made (a read-only temporary directory), the
    block runs unlocked: the lock only narrows a race the writer's own
    read-back covers.
    """
    try:
        os.makedirs(lock_directory(), mode=0o700, exist_ok=True)
        descriptor = os.open(lock_path(url, target, target_id), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise GitlabModuleError(
                        f"another run on this controller has been {what} on {target} for {int(wait)} s; nothing "
                        "was changed there by this task: run it again when that run has finished",
                        project=target) from None
                time.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # releases the lock
