"""The server's notion of "now" (shiftable by the control API, see control.py)
and GitLab's time rendering."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone


class Clock:
    """UTC "now" plus an offset in days (``PUT /-/test/clock``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.offset_days = 0

    def set_offset(self, days: int) -> None:
        with self._lock:
            self.offset_days = int(days)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(days=self.offset_days)

    def today(self) -> date:
        # GitLab compares expiry dates with Date.today (UTC on GitLab.com and
        # in the default Omnibus config).
        return self.now().date()


def fmt_time(value: datetime | None) -> str | None:
    """Rails' JSON rendering of a UTC timestamp: ``2021-01-01T00:00:00.000Z``."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(text: str | None) -> datetime | None:
    """Parse an ISO 8601 datetime or date (date-only means midnight UTC).

    Returns None when the text does not parse, so callers can report Grape's
    ``"<attr> is invalid"``.
    """
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def stored_date(text: str | None) -> date | None:
    """The date part of a stored ``fmt_time`` string."""
    if not text:
        return None
    return date.fromisoformat(text[:10])
