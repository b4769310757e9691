# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time and expiry: the one place moments are parsed, formatted and compared."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _time
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=timezone.utc)


def test_unset_is_none():
    assert _time.parse_option_time(None, "expires_at") is None


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_is_refused_not_read_as_never(value):
    with pytest.raises(OptionError, match="expires_at is empty .*leave expires_at out for no expiry"):
        _time.parse_option_time(value, "expires_at")


@pytest.mark.parametrize("value", ["31/01/2030", "tomorrow", "2030-13-01", "2030-02-30"])
def test_bad_times_name_the_option_and_the_accepted_forms(value):
    with pytest.raises(OptionError) as raised:
        _time.parse_option_time(value, "expires_at")
    assert raised.value.msg.startswith("expires_at must be a date (2030-01-31, midnight UTC) or an ISO 8601")
    assert repr(value) in raised.value.msg


def test_format_and_compare():
    moment = _time.parse_time("2030-01-31T14:30:00+02:00")
    assert _time.format_time(moment) == "2030-01-31T12:30:00Z"
    assert _time.same_moment("2030-01-31T12:30:00.000Z", moment)
    assert _time.same_moment(None, None) and not _time.same_moment(None, moment)
    assert not _time.same_moment("2030-01-31T12:30:00.000Z", None)


@pytest.mark.parametrize("expires_at, days, expired", [
    (None, None, False),
    ("2030-06-16T12:00:00.000Z", 1, False),
    ("2030-06-15T12:00:01Z", 0, False),
    ("2030-06-15T12:00:00Z", 0, True),
    ("2030-06-15", -1, True),  # midnight UTC today: already gone
])
def test_expiry(expires_at, days, expired):
    assert _time.days_until(expires_at, NOW) == days
    assert _time.has_expired(expires_at, NOW) is expired


def test_age_and_days_text():
    assert _time.age_days("2030-05-16T12:00:00Z", NOW) == 30
    assert _time.age_days(None, NOW) is None
    assert _time.days_text(timedelta(hours=36)) == "1.5"
