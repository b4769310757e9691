# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""GitLab's access levels by name, the one place the collection maps names and numbers.

The numbers are ``Gitlab::Access`` (lib/gitlab/access.rb): ``NO_ACCESS = 0``,
``DEVELOPER = 30``, ``MAINTAINER = 40``, ``ADMIN = 60``; the descriptions
are what GitLab's protected-ref entities answer in
``access_level_description`` (``ProtectedRefAccess#humanize``,
app/models/concerns/protected_ref_access.rb).
"""

from __future__ import annotations

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError

ACCESS_LEVELS = {"no_one": 0, "developer": 30, "maintainer": 40, "admin": 60}
LEVEL_NAMES = {level: name for name, level in ACCESS_LEVELS.items()}
LEVEL_DESCRIPTIONS = {0: "No one", 30: "Developers + Maintainers", 40: "Maintainers", 60: "Instance admins"}
# Protected tags' create_access_level default (lib/api/protected_tags.rb: default: Gitlab::Access::MAINTAINER).
DEFAULT_CREATE_LEVEL = ACCESS_LEVELS["maintainer"]
NO_ONE = ACCESS_LEVELS["no_one"]


def parse_access_level(value, option: str = "create_access_level") -> int:
    """A level given by name (``no_one``, ``developer``, ``maintainer``, ``admin``) or number -> int."""
    text = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    if text in ACCESS_LEVELS:
        return ACCESS_LEVELS[text]
    if text.lstrip("-").isdigit() and int(text) in LEVEL_NAMES:
        return int(text)
    numbers = ", ".join(str(n) for n in sorted(LEVEL_NAMES))
    raise OptionError(option, f"must be one of {', '.join(ACCESS_LEVELS)} (or GitLab's numbers {numbers}), got {value!r}")


def access_level_name(level) -> str:
    return LEVEL_NAMES.get(level, str(level))
