# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""GitLab's rules for names, checked before any request: the one place they are written.

Each check raises :class:`OptionError` naming the option, what is wrong and
the accepted form, so bad input never reaches GitLab.
"""

from __future__ import annotations

import re

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError

# A path segment of a user, group or project (lib/gitlab/path_regex.rb, namespace_format_regex).
PATH_SEGMENT = re.compile(r"\A(?:[A-Za-z0-9_.][A-Za-z0-9_.-]*[A-Za-z0-9_-]|[A-Za-z0-9_])\Z")
# Characters git never allows in a ref name (git check-ref-format); '*' is the wildcard of a rule.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?\[\\]|\.\.|@\{|//")
# The string columns of keys.title, deploy_tokens.name and protected_tags.name (db/structure.sql).
MAX_NAME = 255


def check_length(value: str, option: str, what: str = "") -> str:
    if len(value) > MAX_NAME:
        raise OptionError(option, f"is {len(value)} characters long; GitLab keeps {what or 'names'} of at most "
                                  f"{MAX_NAME}")
    return value


def check_username(value, option: str) -> str:
    """A GitLab username (``jane.doe``), not a display name or an e-mail address."""
    text = str(value).strip().lstrip("@")
    if not PATH_SEGMENT.match(text):
        raise OptionError(option, f"is {value!r}, not a GitLab username: use the username (letters, digits, '_', "
                                  "'-', '.'), not the display name or e-mail address, e.g. jane.doe")
    return text


def check_tag_pattern(value, option: str) -> str:
    """A protected-tag name or wildcard pattern that can match a valid git tag name.

    Git refuses tag names with spaces, control characters, ``~ ^ : ? [ \\``,
    ``..``, ``@{``, ``//``, a leading ``-`` or ``/``, a trailing ``/``, ``.``
    or ``.lock`` (git check-ref-format); a pattern built that way would
    protect nothing.
    """
    text = str(value).strip() if value is not None else ""
    if not text:
        raise OptionError(option, "is required: a tag name or a wildcard pattern such as v*")
    bad = _REF_FORBIDDEN.search(text)
    if (bad or text.startswith(("-", "/")) or text.endswith(("/", ".", ".lock")) or text == "@"
            or text.startswith("refs/")):
        shown = f" ({bad.group(0)!r})" if bad else ""
        raise OptionError(option, f"is {value!r}, which no git tag can match{shown}: tag names have no spaces, "
                                  "control characters, ~ ^ : ? [ \\ .. @{ or //, do not start with - or / or refs/, "
                                  "and do not end with /, . or .lock; use a name such as v1.2.0 or a pattern such "
                                  "as v*")
    return check_length(text, option, "tag names")
