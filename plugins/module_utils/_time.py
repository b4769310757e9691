# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Time and expiry, the one place the collection reads, writes and compares moments.

GitLab answers with ISO 8601 UTC times (``2030-01-31T00:00:00.000Z``) and
takes a date alone as midnight UTC: a deploy token whose ``expires_at``
has passed no longer authenticates (the ``active`` scope in
app/models/deploy_token.rb compares the timestamp, not the date), and a deploy
key stops working the same way (``Key#expired?``, app/models/key.rb). Everything
here is pure; ``now`` is passed in wherever a decision depends on it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError

_DATE_ONLY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
ACCEPTED_FORMS = "a date (2030-01-31, midnight UTC) or an ISO 8601 date and time such as 2030-01-31T12:00:00Z"
SECONDS_PER_DAY = 86400


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(text) -> datetime:
    """A GitLab or user time as an aware UTC ``datetime``; raises ``ValueError``.

    A date alone is midnight UTC; a time without an offset is UTC.
    """
    text = str(text).strip()
    if _DATE_ONLY.match(text):
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_option_time(value, option: str) -> datetime | None:
    """A time the user gave in ``option``; ``None`` when unset; :class:`OptionError` if empty or malformed.

    An empty value is refused rather than read as "no expiry": it is most often an undefined
    variable, and "never expires" is not a safe guess. Leave the option out for no expiry.
    """
    if value is None:
        return None
    if not str(value).strip():
        raise OptionError(option, f"is empty (an undefined variable?); give {ACCEPTED_FORMS}, or leave {option} out "
                                  "for no expiry")
    try:
        return parse_time(value)
    except ValueError:
        raise OptionError(option, f"must be {ACCEPTED_FORMS}, got {value!r}") from None


def format_time(value: datetime | None) -> str | None:
    """The form the collection sends and shows: ``2030-01-31T00:00:00Z``."""
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def same_moment(gitlab_value, wanted: datetime | None) -> bool:
    """Whether GitLab's time text (or ``None``) is the wanted moment (or ``None``)."""
    if wanted is None or gitlab_value is None:
        return wanted is None and gitlab_value is None
    return parse_time(gitlab_value) == wanted


def time_left(expires_at, now: datetime) -> timedelta | None:
    """Time before ``expires_at`` (GitLab's text) is reached; ``None`` if it never expires."""
    if not expires_at:
        return None
    return parse_time(expires_at) - now


def days_until(expires_at, now: datetime) -> int | None:
    """Whole days left, floored (negative once expired); ``None`` if it never expires."""
    left = time_left(expires_at, now)
    return None if left is None else int(left.total_seconds() // SECONDS_PER_DAY)


def has_expired(expires_at, now: datetime) -> bool:
    left = time_left(expires_at, now)
    return left is not None and left <= timedelta(0)


def age_days(created_at, now: datetime) -> int | None:
    """Whole days since ``created_at`` (GitLab's text), or ``None`` when GitLab did not say."""
    if not created_at:
        return None
    return (now - parse_time(created_at)).days


def days_text(value: timedelta) -> str:
    """``12.5`` (days, one decimal) for messages."""
    return f"{value.total_seconds() / SECONDS_PER_DAY:.1f}"
