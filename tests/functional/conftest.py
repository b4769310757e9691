# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Functional tests: the modules' ``main()`` (in-process) and ``ansible-playbook`` runs against a GitLab.

That GitLab is the bundled test server, started once per session by
``tests/conftest.py``, or a real one when ``GITLAB_URL`` and ``GITLAB_TOKEN``
are set (tests that need the test server's fault injection are then skipped,
visibly).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))

from collection_tree import make_importable  # noqa: E402  pylint: disable=wrong-import-position

make_importable()
