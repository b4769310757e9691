# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy tokens: input validation and the plan, all pure (``_deploy_token_api.py`` reads and applies).

GitLab facts this file is built on (lib/api/deploy_tokens.rb,
lib/api/entities/deploy_token.rb, app/models/deploy_token.rb):

* a deploy token cannot be edited: there is no PUT, no rotate and no revoke
  route. Changing a token means creating a successor; "revoking" through the
  API means DELETE, which revokes it at once;
* its secret (``token``) is returned by the create call only, never again;
* the entity has ``id``, ``name``, ``username``, ``expires_at``, ``scopes``,
  ``revoked``, ``expired`` and **no creation time**;
* ``expired`` compares ``expires_at`` with today's date, so it lags: a token
  expiring at today's midnight UTC already fails to authenticate while
  ``expired`` still says false. This module therefore decides from
  ``expires_at`` against the clock, never from ``expired``.

Token age: since GitLab keeps no creation time, the module derives age only
from a convention it controls. With ``lifetime_days`` it creates tokens that
expire exactly ``lifetime_days`` after creation, so
``age = lifetime_days - time left``. Without ``lifetime_days`` a token's age
is unknown and only ``rotate_before_expiry_days`` (which needs nothing but
``expires_at``) and ``rotate`` apply.
"""

from __future__ import annotations

import re
from datetime import timedelta

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._names import MAX_NAME, check_length
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Action, Plan, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import (
    days_text,
    days_until,
    format_time,
    parse_option_time,
    same_moment,
    time_left,
)

# DeployToken::AVAILABLE_SCOPES (app/models/deploy_token.rb). The two
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

# GitLab's username rule for deploy tokens (app/models/deploy_token.rb, validates :username format).
_USERNAME = re.compile(r"\A[a-zA-Z0-9.+_-]+\Z")

# A token created with lifetime_days expires lifetime_days after "now"; the
# slack absorbs rounding by GitLab and the time between planning and creating.
_LIFETIME_SLACK = timedelta(minutes=10)
# A predecessor younger than revoke_grace_minutes was most likely created and handed out by another
# run at the same moment (two overlapping rotations): revoke_predecessors leaves it to a later run.
DEFAULT_REVOKE_GRACE_MINUTES = 15

PUBLIC_FIELDS = ("id", "name", "username", "scopes", "expires_at", "revoked", "expired")


def days_until_expiry(token, now):
    """Whole days left (floored; negative once expired), or ``None`` if it never expires."""
    return days_until(token.get("expires_at"), now)


def is_live(token, now):
    """Not revoked and not expired, judged by ``expires_at`` (GitLab's ``active``), not ``expired``."""
    if token.get("revoked"):
        return False
    left = time_left(token.get("expires_at"), now)
    return left is None or left > timedelta(0)


# --- desired state (input validation) --------------------------------------------

class Desired:
    """What the task asks for, validated; built only by :func:`desired_from_params`."""

    __slots__ = ("state", "name", "username", "scopes", "expires_at", "lifetime_days",
                 "rotate", "rotate_before_expiry_days", "rotate_after_days", "revoke_predecessors",
                 "revoke_grace")

    def __init__(self, **values):
        for field in self.__slots__:
            setattr(self, field, values.get(field))


def desired_from_params(params, now):
    """Validate the module options and return a :class:`Desired`.

    Raises :class:`OptionError` naming the option and the fix, before any
    request is sent.
    """
    for option in ("projects", "groups"):
        if params.get(option) is not None and not params[option]:
            raise OptionError(option, f"is empty; give at least one {option[:-1]} id or full path")
    name = params.get("name")
    if not name or not str(name).strip():
        raise OptionError("name", "must not be empty; give the token's name, e.g. registry-pull (the module finds "
                                  "the token by it)")
    check_length(name, "name", "deploy token names")
    desired = Desired(state=params.get("state") or "present", name=name, rotate=bool(params.get("rotate")),
                      revoke_predecessors=bool(params.get("revoke_predecessors")),
                      revoke_grace=_revoke_grace(params.get("revoke_grace_minutes")))
    if desired.state == "present":
        desired.scopes = _scopes(params.get("scopes"))
        desired.username = _username(params.get("username"))
        desired.expires_at, desired.lifetime_days = _expiry(params, now)
        desired.rotate_before_expiry_days, desired.rotate_after_days = _rotation(params, desired.lifetime_days)
    return desired


def _revoke_grace(minutes):
    if minutes is None:
        minutes = DEFAULT_REVOKE_GRACE_MINUTES
    if minutes < 0:
        raise OptionError("revoke_grace_minutes", f"must be 0 or more, got {minutes}; 0 revokes every predecessor now")
    return timedelta(minutes=minutes)


def _scopes(scopes):
    if not scopes:
        raise OptionError("scopes", f"must name at least one scope ({', '.join(SCOPES)})")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise OptionError("scopes", f"has the unknown scope {', '.join(unknown)}; GitLab's deploy token scopes "
                                    f"are {', '.join(SCOPES)}")
    return sorted(set(scopes))


def _username(username):
    if username is not None and (not _USERNAME.match(username) or len(username) > MAX_NAME):
        raise OptionError("username", f"{username!r} is not valid; GitLab allows letters, digits, '_', '-', '+' "
                                      "and '.', at most 255 characters")
    return username


def _expiry(params, now):
    lifetime_days = params.get("lifetime_days")
    if params.get("expires_at") is not None and lifetime_days is not None:
        raise OptionError("expires_at", "cannot be combined with lifetime_days; choose a fixed date or a lifetime")
    when = parse_option_time(params.get("expires_at"), "expires_at")
    if when is not None and when <= now:
        raise OptionError("expires_at", f"is {format_time(when)}, which is in the past (now is {format_time(now)} "
                                        "UTC); GitLab would create a token that is already expired")
    if lifetime_days is not None and lifetime_days < 1:
        raise OptionError("lifetime_days", f"must be 1 or more, got {lifetime_days}")
    return when, lifetime_days


def _rotation(params, lifetime_days):
    before = params.get("rotate_before_expiry_days")
    after = params.get("rotate_after_days")
    for option, value in (("rotate_before_expiry_days", before), ("rotate_after_days", after)):
        if value is None:
            continue
        if lifetime_days is None:
            raise OptionError(option, "needs lifetime_days: a successor must get a later expiry than its "
                                      "predecessor (GitLab reports no creation time, so the module knows a "
                                      "token's age only from the lifetime it gave it)")
        if value < 0 or value >= lifetime_days:
            raise OptionError(option, f"must be between 0 and lifetime_days - 1 ({lifetime_days - 1}), got {value}")
    return before, after


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
        if not same_moment(token["expires_at"], desired.expires_at):
            found.append("expires_at")
    elif desired.lifetime_days is not None:
        left = time_left(token["expires_at"], now)
        if left is None or left > timedelta(days=desired.lifetime_days) + _LIFETIME_SLACK:
            found.append("lifetime_days")
    elif token["expires_at"]:
        found.append("expires_at")
    return found


def rotation_due(token, desired, now):
    """Why ``token`` must be rotated now, or ``None``."""
    if desired.rotate:
        return "rotate=true"
    left = time_left(token["expires_at"], now)
    if left is None:
        return None
    if desired.rotate_before_expiry_days is not None and left <= timedelta(days=desired.rotate_before_expiry_days):
        return (f"token #{token['id']} expires in {days_text(left)} days "
                f"(rotate_before_expiry_days={desired.rotate_before_expiry_days})")
    if desired.rotate_after_days is not None:
        age = timedelta(days=desired.lifetime_days) - left
        if age >= timedelta(days=desired.rotate_after_days):
            return (f"token #{token['id']} is {days_text(age)} days old (lifetime_days={desired.lifetime_days} "
                    f"minus {days_text(left)} days left; rotate_after_days={desired.rotate_after_days})")
    return None


def _shown(token):
    """A token as the diff and ``actions`` show it: no secret, no GitLab flags."""
    return {field: token.get(field) for field in ("id", "name", "username", "scopes", "expires_at")}


def plan(target, tokens, desired, now):
    """Actions for one project or group, and what the task keeps there.

    ``tokens`` are :func:`token_view` dicts of every deploy token on
    ``target``. The plan's context holds ``keep``, the live token that
    satisfies the task (``None`` when one will be created or for
    ``state=absent``), and ``predecessors``, the other tokens with the same
    name, which stay unless ``revoke_predecessors``.
    """
    named = sorted((t for t in tokens if t["name"] == desired.name), key=lambda t: t["id"])
    if desired.state == "absent":
        return Plan([_delete(target, token, "state=absent") for token in named],
                    context={"keep": None, "predecessors": []})

    matching = [t for t in named if is_live(t, now) and not mismatches(t, desired, now)]
    keep = matching[-1] if matching else None
    actions = []
    reason = rotation_due(keep, desired, now) if keep else None
    if keep is None:
        live = [t for t in named if is_live(t, now)]
        if live:
            newest = live[-1]
            differs = ", ".join(mismatches(newest, desired, now))
            reason = f"token #{newest['id']} differs in {differs}; deploy tokens cannot be edited"
        elif named:
            reason = f"every token named {desired.name} is expired or revoked"
        else:
            reason = f"no token named {desired.name}"
    if reason:
        actions.append(_create(target, desired, now, reason, [t["id"] for t in tokens]))
        keep = None

    predecessors = [t for t in named if keep is None or t["id"] != keep["id"]]
    notes = []
    if desired.revoke_predecessors:
        successor = f"#{keep['id']}" if keep else "the new token"
        for token in predecessors:
            age = token_age(token, desired, now)
            if age is not None and age < desired.revoke_grace:
                notes.append(f"token #{token['id']} on {label(target)} was created {days_text(age)} days ago, most "
                             "likely by another run at the same moment, which may have handed it out: it is not "
                             "revoked now (revoke_grace_minutes); a later run revokes it")
                continue
            actions.append(_delete(target, token, f"predecessor of {successor} (revoke_predecessors=true)"))
    return Plan(actions, notes, context={"keep": keep, "predecessors": predecessors})


def token_age(token, desired, now):
    """How old a token is, when its lifetime tells (GitLab records no creation time); else ``None``.

    Only for a token with the task's ``lifetime_days``: the module created it
    to expire exactly that long after its creation.
    """
    left = time_left(token.get("expires_at"), now)
    if desired.lifetime_days is None or left is None or "lifetime_days" in mismatches(token, desired, now):
        return None
    return max(timedelta(days=desired.lifetime_days) - left, timedelta(0))


def plan_targets(current, desired, now):
    """One :class:`Plan` for every target: ``current`` is ``{target: [token_view...]}`` in task order.

    The context maps each target to its own plan's context (``keep``, ``predecessors``).
    """
    plans = {target: plan(target, tokens, desired, now) for target, tokens in current.items()}
    return Plan([action for each in plans.values() for action in each.actions],
                [note for each in plans.values() for note in each.notes],
                context={target: each.context for target, each in plans.items()})


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
                  data={"diff_key": f"{desired.name} (new)", "params": params, "known_ids": known_ids})


def _delete(target, token, reason):
    return Action("delete", target, before=_shown(token), after=None, note=reason,
                  data={"diff_key": f"{token['name']} #{token['id']}", "token_id": token["id"]})


def target_result(kind, target, keep, predecessors, created=None, deleted_ids=(), now=None):
    """The per-project (or per-group) entry of the module's ``deploy_tokens`` return value.

    ``created`` is the create call's answer (with its ``token`` secret) or, in
    check mode, the would-be token; ``keep`` the existing token otherwise.
    """
    deleted_ids = sorted(deleted_ids)
    entry = {kind: label(target)}
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
