# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy tokens: input validation and the plan (pure), plus read/apply helpers.

GitLab facts this file is built on (gitlab-api-spec.md section 3):

* a deploy token cannot be edited: there is no PUT, no rotate and no revoke
  route. Changing a token means creating a successor; "revoking" through the
  API means DELETE, which revokes it at once;
* its secret (``token``) is returned by the create call only, never again;
* the entity has ``id``, ``name``, ``username``, ``expires_at``, ``scopes``,
  ``revoked``, ``expired`` and **no creation time**;
* ``expired`` is ``expires_at < Date.today``, so it lags: a token expiring at
  today's midnight UTC already fails to authenticate (``active`` is
  ``expires_at >= NOW()``) while ``expired`` still says false. This module
  therefore decides from ``expires_at`` against the clock, never from
  ``expired``.

Token age: since GitLab keeps no creation time, the module derives age only
from a convention it controls. With ``lifetime_days`` it creates tokens that
expire exactly ``lifetime_days`` after creation, so
``age = lifetime_days - time left``. Without ``lifetime_days`` a token's age
is unknown and only ``rotate_before_expiry_days`` (which needs nothing but
``expires_at``) and ``rotate`` apply.

Everything above the "read and apply" line is pure: no client, no module,
no I/O, and ``now`` is passed in, so plain pytest covers it.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import describe_error
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Action

# DeployToken::AVAILABLE_SCOPES (gitlab-api-spec.md 3.1). The two
# *_virtual_registry scopes exist from GitLab 18.x on; older GitLab rejects
# them with "scopes does not have a valid value".
SCOPES = (
    "read_repository",
    "read_registry",
    "write_registry",
    "read_package_registry",
    "write_package_registry",
    "read_virtual_registry",
    "write_virtual_registry",
)

# GitLab's username rule for deploy tokens (DeployToken model).
_USERNAME = re.compile(r"\A[a-zA-Z0-9.+_-]+\Z")
_DATE_ONLY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")

# A token created with lifetime_days expires lifetime_days after "now"; the
# slack absorbs rounding by GitLab and the time between planning and creating.
_LIFETIME_SLACK = timedelta(minutes=10)

PUBLIC_FIELDS = ("id", "name", "username", "scopes", "expires_at", "revoked", "expired")


def utcnow():
    return datetime.now(timezone.utc).replace(microsecond=0)


# --- time -----------------------------------------------------------------------

def parse_time(text):
    """A GitLab or user time (``2030-01-31``, ``2030-01-31T00:00:00.000Z``, offsets) as aware UTC.

    A date alone means midnight UTC, as in GitLab. Raises ``ValueError``.
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


def format_time(value):
    """The form the module sends and shows: ``2030-01-31T00:00:00Z``."""
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_in(token, now):
    """Time left before ``token`` stops working, or ``None`` if it never expires."""
    if not token.get("expires_at"):
        return None
    return parse_time(token["expires_at"]) - now


def days_until_expiry(token, now):
    """Whole days left (floored; negative once expired), or ``None`` if it never expires."""
    left = expires_in(token, now)
    if left is None:
        return None
    return int(left.total_seconds() // 86400)


def is_live(token, now):
    """Not revoked and not expired, judged by ``expires_at`` (GitLab's ``active``), not ``expired``."""
    if token.get("revoked"):
        return False
    left = expires_in(token, now)
    return left is None or left > timedelta(0)


def _days(value):
    return "%.1f" % (value.total_seconds() / 86400.0)


# --- desired state (input validation) --------------------------------------------

class Desired:
    """What the task asks for, validated; built only by :func:`desired_from_params`."""

    __slots__ = ("state", "name", "username", "scopes", "expires_at", "lifetime_days",
                 "rotate", "rotate_before_expiry_days", "rotate_after_days", "revoke_predecessors")

    def __init__(self, **values):
        for field in self.__slots__:
            setattr(self, field, values.get(field))


def _fail(option, text):
    raise GitlabModuleError("%s: %s. Nothing was sent to GitLab." % (option, text))


def desired_from_params(params, now):
    """Validate the module options and return a :class:`Desired`.

    Raises :class:`GitlabModuleError` naming the option and the fix, before
    any request is sent.
    """
    state = params.get("state") or "present"
    name = params.get("name")
    if not name or not str(name).strip():
        _fail("name", "must not be empty")
    if len(name) > 255:
        _fail("name", "is longer than GitLab's 255 characters")

    desired = Desired(state=state, name=name, rotate=bool(params.get("rotate")),
                      revoke_predecessors=bool(params.get("revoke_predecessors")))
    if state == "absent":
        return desired

    scopes = params.get("scopes") or []
    if not scopes:
        _fail("scopes", "name at least one scope (%s)" % ", ".join(SCOPES))
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        _fail("scopes", "unknown scope %s; GitLab's deploy token scopes are %s"
              % (", ".join(unknown), ", ".join(SCOPES)))
    desired.scopes = sorted(set(scopes))

    username = params.get("username")
    if username is not None:
        if not _USERNAME.match(username) or len(username) > 255:
            _fail("username", "%r is not valid; GitLab allows letters, digits, '_', '-', '+' and '.', "
                  "at most 255 characters" % username)
        desired.username = username

    expires_at = params.get("expires_at")
    lifetime_days = params.get("lifetime_days")
    if expires_at is not None and lifetime_days is not None:
        _fail("expires_at", "cannot be combined with lifetime_days; choose a fixed date or a lifetime")
    if expires_at is not None:
        try:
            when = parse_time(expires_at)
        except ValueError:
            _fail("expires_at", "%r is not a date; use YYYY-MM-DD (midnight UTC) or an ISO 8601 "
                  "date and time such as 2030-01-31T12:00:00Z" % expires_at)
        if when <= now:
            _fail("expires_at", "%s is in the past (now is %s UTC); GitLab would create a token that "
                  "is already expired" % (format_time(when), format_time(now)))
        desired.expires_at = when
    if lifetime_days is not None:
        if lifetime_days < 1:
            _fail("lifetime_days", "must be 1 or more, got %s" % lifetime_days)
        desired.lifetime_days = lifetime_days

    before = params.get("rotate_before_expiry_days")
    after = params.get("rotate_after_days")
    for option, value in (("rotate_before_expiry_days", before), ("rotate_after_days", after)):
        if value is None:
            continue
        if lifetime_days is None:
            _fail(option, "needs lifetime_days: a successor must get a later expiry than its predecessor "
                  "(GitLab reports no creation time, so the module knows a token's age only from the "
                  "lifetime it gave it)")
        if value < 0 or value >= lifetime_days:
            _fail(option, "must be between 0 and lifetime_days - 1 (%d), got %s" % (lifetime_days - 1, value))
    desired.rotate_before_expiry_days = before
    desired.rotate_after_days = after
    return desired


# --- plan ---------------------------------------------------------------------------

def token_view(raw):
    """The public fields of a token as GitLab returns them (never ``token``)."""
    view = {field: raw.get(field) for field in PUBLIC_FIELDS}
    view["scopes"] = sorted(view["scopes"] or [])
    view["revoked"] = bool(view["revoked"])
    view["expired"] = bool(view["expired"])
    return view


def mismatches(token, desired, now):
    """The options in which ``token`` differs from ``desired`` (empty: it matches)."""
    found = []
    if token["scopes"] != desired.scopes:
        found.append("scopes")
    if desired.username is not None and token["username"] != desired.username:
        found.append("username")
    if desired.expires_at is not None:
        if not token["expires_at"] or parse_time(token["expires_at"]) != desired.expires_at:
            found.append("expires_at")
    elif desired.lifetime_days is not None:
        left = expires_in(token, now)
        if left is None or left > timedelta(days=desired.lifetime_days) + _LIFETIME_SLACK:
            found.append("lifetime_days")
    elif token["expires_at"]:
        found.append("expires_at")
    return found


def rotation_due(token, desired, now):
    """Why ``token`` must be rotated now, or ``None``."""
    if desired.rotate:
        return "rotate=true"
    left = expires_in(token, now)
    if left is None:
        return None
    if desired.rotate_before_expiry_days is not None and left <= timedelta(days=desired.rotate_before_expiry_days):
        return "token #%s expires in %s days (rotate_before_expiry_days=%d)" % (
            token["id"], _days(left), desired.rotate_before_expiry_days)
    if desired.rotate_after_days is not None:
        age = timedelta(days=desired.lifetime_days) - left
        if age >= timedelta(days=desired.rotate_after_days):
            return "token #%s is %s days old (lifetime_days=%d minus %s days left; rotate_after_days=%d)" % (
                token["id"], _days(age), desired.lifetime_days, _days(left), desired.rotate_after_days)
    return None


def _shown(token):
    """A token as the diff and ``actions`` show it: no secret, no GitLab flags."""
    return {field: token.get(field) for field in ("id", "name", "username", "scopes", "expires_at")}


def plan(target, tokens, desired, now):
    """Actions for one project or group, and what the task keeps there.

    ``tokens`` are :func:`token_view` dicts of every deploy token on
    ``target``. Returns ``(actions, keep, predecessors)``: ``keep`` is the
    live token that satisfies the task (``None`` when one will be created or
    for ``state=absent``); ``predecessors`` are the other tokens with the same
    name, which stay unless ``revoke_predecessors``.
    """
    named = sorted((t for t in tokens if t["name"] == desired.name), key=lambda t: t["id"])
    if desired.state == "absent":
        return [_delete(target, token, "state=absent") for token in named], None, []

    matching = [t for t in named if is_live(t, now) and not mismatches(t, desired, now)]
    keep = matching[-1] if matching else None
    actions = []
    reason = rotation_due(keep, desired, now) if keep else None
    if keep is None:
        live = [t for t in named if is_live(t, now)]
        if live:
            newest = live[-1]
            reason = "token #%s differs in %s; deploy tokens cannot be edited" % (
                newest["id"], ", ".join(mismatches(newest, desired, now)))
        elif named:
            reason = "every token named %s is expired or revoked" % desired.name
        else:
            reason = "no token named %s" % desired.name
    if reason:
        actions.append(_create(target, desired, now, reason, [t["id"] for t in tokens]))
        keep = None

    predecessors = [t for t in named if keep is None or t["id"] != keep["id"]]
    if desired.revoke_predecessors:
        successor = "#%s" % keep["id"] if keep else "the new token"
        actions.extend(_delete(target, token, "predecessor of %s (revoke_predecessors=true)" % successor)
                       for token in predecessors)
    return actions, keep, predecessors


def _create(target, desired, now, reason, known_ids):
    expires_at = desired.expires_at
    if desired.lifetime_days is not None:
        expires_at = now + timedelta(days=desired.lifetime_days)
    params = {"name": desired.name, "scopes": list(desired.scopes)}
    if expires_at is not None:
        params["expires_at"] = format_time(expires_at)
    if desired.username is not None:
        params["username"] = desired.username
    after = {"id": None, "name": desired.name, "username": desired.username,
             "scopes": list(desired.scopes), "expires_at": format_time(expires_at)}
    return Action("create", target, before=None, after=after, note=reason,
                  data={"diff_key": "%s (new)" % desired.name, "params": params, "known_ids": known_ids})


def _delete(target, token, reason):
    return Action("delete", target, before=_shown(token), after=None, note=reason,
                  data={"diff_key": "%s #%s" % (token["name"], token["id"]), "token_id": token["id"]})


def target_result(kind, target, keep, predecessors, created=None, deleted_ids=(), now=None):
    """The per-project (or per-group) entry of the module's ``deploy_tokens`` return value.

    ``created`` is the create call's answer (with its ``token`` secret) or, in
    check mode, the would-be token; ``keep`` the existing token otherwise.
    """
    deleted_ids = sorted(deleted_ids)
    entry = {kind: target}
    token = created if created is not None else keep
    for field in PUBLIC_FIELDS:
        entry[field] = token.get(field) if token else None
    if token is not None:
        entry["scopes"] = sorted(entry["scopes"] or [])
        entry["revoked"] = bool(entry["revoked"])
        entry["expired"] = bool(entry["expired"])
        entry["days_until_expiry"] = days_until_expiry(token, now) if now else None
    if created is not None and "token" in created:
        entry["token"] = created["token"]
    entry["created"] = created is not None
    entry["predecessor_ids"] = [t["id"] for t in predecessors if t["id"] not in deleted_ids]
    entry["deleted_ids"] = deleted_ids
    return entry


# --- read and apply (these take a GitlabClient; everything above is pure) ----------

def _manager(client, kind, target):
    parent = client.project(target) if kind == "project" else client.group(target)
    return parent.deploytokens


def read_tokens(client, kind, target):
    """Every deploy token of one project or group: one list request (100 a page)."""
    action = "list the deploy tokens of %s %s" % (kind, target)
    items = client.call(action, target, client.list_all, _manager(client, kind, target))
    return [token_view(item.attributes) for item in items]


def delete_token(client, kind, target, token_id):
    """Delete (and so revoke) one token. Already gone counts as done: a DELETE
    retried after a lost answer meets 404."""
    manager = _manager(client, kind, target)
    try:
        client.call("delete deploy token #%s" % token_id, target, manager.delete, token_id)
    except GitlabModuleError as exc:
        if exc.status != 404:
            raise


def _is_transient(exc):
    # Imported here so the pure code above never needs python-gitlab.
    import gitlab.const
    import gitlab.exceptions
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.ChunkedEncodingError)):
        return True
    return (isinstance(exc, gitlab.exceptions.GitlabError)
            and exc.response_code in gitlab.const.RETRYABLE_TRANSIENT_ERROR_CODES)


def create_token(client, kind, target, params, known_ids, sleep=time.sleep):
    """Create one token and return GitLab's answer, with its ``token`` secret.

    A create is not idempotent, so it is NOT retried blindly the way the
    client retries every other request: a 5xx, a timeout or a dropped
    connection may come after GitLab created the token, and a second POST
    would then leave a token whose secret nobody ever saw. So:

    * the POST is sent with ``retry_transient_errors=False``; python-gitlab
      still retries HTTP 429, which GitLab answers before doing anything;
    * after a transient failure the tokens are listed again; one with this
      name that was not there before (not in ``known_ids``) is this POST's
      orphan, whose secret is lost: it is deleted, then the POST is retried,
      at most ``max_retries`` times.

    Limit: a GitLab that is still working on the POST when the re-list
    arrives (a client timeout shorter than GitLab's) can create the orphan
    later; ``deploy_token_info`` shows it and ``revoke_predecessors`` removes
    it once the token you hold is the newest.
    """
    manager = _manager(client, kind, target)
    action = "create deploy token %s" % params["name"]
    attempt = 0
    while True:
        try:
            created = manager.create(dict(params), retry_transient_errors=False)
            return created.attributes
        except Exception as exc:  # describe_error re-raises what is not a GitLab/HTTP error
            if not _is_transient(exc) or attempt >= client.max_retries:
                raise describe_error(exc, action, target)
        attempt += 1
        orphans = [t for t in read_tokens(client, kind, target)
                   if t["name"] == params["name"] and t["id"] not in known_ids]
        for orphan in orphans:
            delete_token(client, kind, target, orphan["id"])
        sleep(0.1 * 2 ** attempt)
