# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests: pure code, no GitLab (not even the test server), no network.

The collection is made importable by ``tests/support/collection_tree.py``
(ansible-test units provides its own tree, which is then used as is).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))

from collection_tree import make_importable  # noqa: E402  pylint: disable=wrong-import-position

make_importable()
