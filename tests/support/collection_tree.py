# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make this checkout importable as ``ansible_collections.runnercreds.gitlab``.

The tree ``build/collections/ansible_collections/runnercreds/gitlab`` is a
symlink to the repository root (the same tree ``scripts/collection-path.sh``
prints for ``ANSIBLE_COLLECTIONS_PATH``), so edits show up at once. It is
put on ``sys.path`` before any test module imports a plugin; ``tests/support``
goes on it too, so tests import the shared helpers as plain modules
(``from module_runner import run_module``).
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO, "build", "collections")
SUPPORT = os.path.join(REPO, "tests", "support")


def _ensure_collection_tree() -> None:
    namespace_dir = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "runnercreds")
    os.makedirs(namespace_dir, exist_ok=True)
    link = os.path.join(namespace_dir, "gitlab")
    if os.path.realpath(link) == os.path.realpath(REPO):
        return
    # Atomic under pytest-xdist: each worker links a private name, then renames it.
    tmp = "%s.%d" % (link, os.getpid())
    os.symlink(REPO, tmp)
    os.replace(tmp, link)


def make_importable() -> None:
    """Idempotent: link the tree (unless ansible-test already provides one) and extend ``sys.path``."""
    try:
        import ansible_collections.runnercreds.gitlab  # noqa: F401  pylint: disable=unused-import
        provided = True
    except ImportError:
        provided = False
    if not provided:
        _ensure_collection_tree()
        if COLLECTIONS_ROOT not in sys.path:
            sys.path.insert(0, COLLECTIONS_ROOT)
    if SUPPORT not in sys.path:
        sys.path.insert(0, SUPPORT)
