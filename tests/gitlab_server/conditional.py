"""``destroy_conditionally!`` (lib/api/helpers.rb): a DELETE that sends
``If-Unmodified-Since`` older than the resource's last change gets 412
``{"message":"412 Precondition Failed"}`` and nothing is deleted.

GitLab calls it after finding the resource (so a missing one is still 404)
and compares::

    if_unmodified_since = Time.parse(headers['If-Unmodified-Since']) rescue nil
    if if_unmodified_since && last_modified && last_modified > if_unmodified_since

``last_modified`` is ``resource.updated_at`` unless the endpoint passes
``last_updated:`` (the tags API passes the commit's ``authored_date``).
Endpoints that end with ``no_content!`` instead (the deploy-token DELETEs in
lib/api/deploy_tokens.rb) ignore the header.  A header that does not parse is
ignored.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from . import errors
from .clock import parse_time


def _parse(text: str | None) -> datetime | None:
    """``Time.parse``: an HTTP date (RFC 7231) or an ISO 8601 time; a time
    without a zone counts as UTC (the zone GitLab's servers run in)."""
    if not text or not text.strip():
        return None
    try:
        value = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        value = parse_time(text)
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def check_unmodified_since(req, last_modified) -> None:
    """``check_unmodified_since!``: ``last_modified`` is a stored time string
    (``fmt_time``/ISO 8601) or a datetime; None skips the check."""
    since = _parse(req.headers.get("If-Unmodified-Since"))
    if since is None or last_modified is None:
        return
    if isinstance(last_modified, str):
        last_modified = parse_time(last_modified)
        if last_modified is None:
            return
    if last_modified > since:
        raise errors.message(412, "412 Precondition Failed")
