# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure half of _deploy_token: validation, matching, rotation, the plan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _deploy_token as dt
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import diff_for
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import parse_time

NOW = datetime(2030, 6, 15, 12, 0, 0, tzinfo=timezone.utc)


def params(**overrides):
    base = dict(state="present", name="pull", username=None, scopes=["read_registry"], expires_at=None,
                lifetime_days=None, rotate=False, rotate_before_expiry_days=None, rotate_after_days=None,
                revoke_predecessors=False)
    base.update(overrides)
    return base


def desired(**overrides):
    return dt.desired_from_params(params(**overrides), NOW)


def token(id, name="pull", scopes=("read_registry",), expires_at=None, revoked=False, expired=False,
          username=None):
    return dt.token_view(dict(id=id, name=name, username=username or "gitlab+deploy-token-%d" % id,
                              scopes=list(scopes), expires_at=expires_at, revoked=revoked, expired=expired))


def at(**delta):
    """GitLab's rendering of NOW + delta."""
    return (NOW + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- time -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2030-01-31", datetime(2030, 1, 31, tzinfo=timezone.utc)),
    ("2030-01-31T00:00:00.000Z", datetime(2030, 1, 31, tzinfo=timezone.utc)),
    ("2030-01-31T12:30:00Z", datetime(2030, 1, 31, 12, 30, tzinfo=timezone.utc)),
    ("2030-01-31T14:30:00+02:00", datetime(2030, 1, 31, 12, 30, tzinfo=timezone.utc)),
    ("2030-01-31T12:30:00", datetime(2030, 1, 31, 12, 30, tzinfo=timezone.utc)),
])
def test_parse_time_reads_gitlab_and_user_forms(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("expires_at, revoked, live, days", [
    (None, False, True, None),
    (None, True, False, None),
    ("2030-06-16T12:00:00.000Z", False, True, 1),
    ("2030-06-15T12:00:01.000Z", False, True, 0),
    # Expired at today's midnight: GitLab's `expired` flag still says false
    # (expires_at < Date.today is false) but the token no longer works.
    ("2030-06-15T00:00:00.000Z", False, False, -1),
    ("2030-06-15T12:00:00.000Z", False, False, 0),
])
def test_liveness_is_decided_by_expires_at_not_gitlabs_flag(expires_at, revoked, live, days):
    t = token(1, expires_at=expires_at, revoked=revoked, expired=False)
    assert dt.is_live(t, NOW) is live
    assert dt.days_until_expiry(t, NOW) == days


# --- validation -----------------------------------------------------------------

@pytest.mark.parametrize("overrides, option, words", [
    (dict(scopes=["read_registry", "write_repository"]), "scopes", "unknown scope write_repository"),
    (dict(scopes=[]), "scopes", "at least one scope"),
    (dict(expires_at="2030-06-01"), "expires_at", "in the past"),
    (dict(expires_at="2030-06-15T12:00:00Z"), "expires_at", "in the past"),
    (dict(expires_at="next tuesday"), "expires_at", "must be a date"),
    (dict(expires_at="2030-02-30"), "expires_at", "must be a date"),
    (dict(expires_at="2031-01-01", lifetime_days=30), "expires_at", "lifetime_days"),
    (dict(username="no spaces please"), "username", "not valid"),
    (dict(name=" "), "name", "must not be empty"),
    (dict(lifetime_days=0), "lifetime_days", "1 or more"),
    (dict(rotate_before_expiry_days=7), "rotate_before_expiry_days", "needs lifetime_days"),
    (dict(rotate_after_days=60), "rotate_after_days", "needs lifetime_days"),
    (dict(lifetime_days=30, rotate_after_days=30), "rotate_after_days", "between 0 and"),
    (dict(lifetime_days=30, rotate_before_expiry_days=-1), "rotate_before_expiry_days", "between 0 and"),
    (dict(revoke_grace_minutes=-1), "revoke_grace_minutes", "0 revokes every predecessor now"),
])
def test_bad_input_fails_naming_the_option(overrides, option, words):
    with pytest.raises(GitlabModuleError) as raised:
        desired(**overrides)
    assert raised.value.msg.startswith(option + " ")
    assert words in raised.value.msg
    assert "Nothing was sent" in raised.value.msg


def test_good_input_is_normalised():
    d = desired(scopes=["write_registry", "read_registry", "read_registry"], expires_at="2031-01-01")
    assert d.scopes == ["read_registry", "write_registry"]
    assert d.expires_at == datetime(2031, 1, 1, tzinfo=timezone.utc)


def test_absent_needs_no_scopes():
    assert desired(state="absent", scopes=None).state == "absent"


# --- matching and rotation -------------------------------------------------------

@pytest.mark.parametrize("overrides, tok, expected", [
    (dict(), token(1), []),
    (dict(scopes=["read_registry", "write_registry"]), token(1), ["scopes"]),
    (dict(username="fleet"), token(1), ["username"]),
    (dict(username="fleet"), token(1, username="fleet"), []),
    (dict(), token(1, expires_at=at(days=5)), ["expires_at"]),
    (dict(expires_at="2031-01-01"), token(1, expires_at="2031-01-01T00:00:00.000Z"), []),
    (dict(expires_at="2031-01-01"), token(1, expires_at="2031-01-02T00:00:00.000Z"), ["expires_at"]),
    (dict(expires_at="2031-01-01"), token(1), ["expires_at"]),
    (dict(lifetime_days=30), token(1, expires_at=at(days=29)), []),
    (dict(lifetime_days=30), token(1, expires_at=at(days=30)), []),
    (dict(lifetime_days=30), token(1, expires_at=at(days=31)), ["lifetime_days"]),
    (dict(lifetime_days=30), token(1), ["lifetime_days"]),
])
def test_mismatches(overrides, tok, expected):
    assert dt.mismatches(tok, desired(**overrides), NOW) == expected


@pytest.mark.parametrize("overrides, expires_at, due", [
    (dict(lifetime_days=90, rotate_before_expiry_days=7), at(days=8), None),
    (dict(lifetime_days=90, rotate_before_expiry_days=7), at(days=7), "expires in 7.0 days"),
    (dict(lifetime_days=90, rotate_before_expiry_days=7), at(days=2), "expires in 2.0 days"),
    # age = lifetime - left: 90 - 31 = 59 days old, not yet 60
    (dict(lifetime_days=90, rotate_after_days=60), at(days=31), None),
    (dict(lifetime_days=90, rotate_after_days=60), at(days=30), "is 60.0 days old"),
    (dict(lifetime_days=90, rotate_after_days=60), at(days=1), "is 89.0 days old"),
    (dict(rotate=True), None, "rotate=true"),
    (dict(), None, None),
])
def test_rotation_due(overrides, expires_at, due):
    reason = dt.rotation_due(token(5, expires_at=expires_at), desired(**overrides), NOW)
    if due is None:
        assert reason is None
    else:
        assert due in reason


# --- the plan -----------------------------------------------------------------------

def kinds(actions):
    return [(a.kind, a.data.get("token_id")) for a in actions]


@pytest.mark.parametrize("overrides, tokens, expected_actions, keep_id, predecessor_ids", [
    # absent -> create
    (dict(), [], [("create", None)], None, []),
    # present and matching -> nothing, whatever else lives in the project
    (dict(), [token(1), token(2, name="other")], [], 1, []),
    # two matching: the newest is kept, the older is a predecessor
    (dict(), [token(1), token(3)], [], 3, [1]),
    (dict(revoke_predecessors=True), [token(1), token(3)], [("delete", 1)], 3, [1]),
    # spec changed -> successor, predecessor kept unless asked
    (dict(scopes=["read_repository"]), [token(1)], [("create", None)], None, [1]),
    (dict(scopes=["read_repository"], revoke_predecessors=True), [token(1)],
     [("create", None), ("delete", 1)], None, [1]),
    # only revoked / expired tokens -> successor
    (dict(), [token(1, revoked=True)], [("create", None)], None, [1]),
    (dict(), [token(1, expires_at=at(hours=-1))], [("create", None)], None, [1]),
    # rotation due -> successor first; revoking is a separate step
    (dict(lifetime_days=90, rotate_before_expiry_days=7), [token(4, expires_at=at(days=3))],
     [("create", None)], None, [4]),
    (dict(lifetime_days=90, rotate_before_expiry_days=7),
     [token(4, expires_at=at(days=3)), token(9, expires_at=at(days=89))], [], 9, [4]),
    (dict(lifetime_days=90, rotate_before_expiry_days=7, revoke_predecessors=True),
     [token(4, expires_at=at(days=3)), token(9, expires_at=at(days=89))], [("delete", 4)], 9, [4]),
    # rotate now
    (dict(rotate=True), [token(1)], [("create", None)], None, [1]),
    # state=absent deletes every token with the name, revoked and expired too
    (dict(state="absent"), [token(1), token(2, revoked=True), token(3, name="other")],
     [("delete", 1), ("delete", 2)], None, []),
    (dict(state="absent"), [token(3, name="other")], [], None, []),
])
def test_plan(overrides, tokens, expected_actions, keep_id, predecessor_ids):
    the_plan = dt.plan("g/p", tokens, desired(**overrides), NOW)
    actions, keep, predecessors = the_plan.actions, the_plan.context["keep"], the_plan.context["predecessors"]
    assert kinds(actions) == expected_actions
    assert (keep["id"] if keep else None) == keep_id
    assert [t["id"] for t in predecessors] == predecessor_ids


def test_create_action_carries_the_request_and_the_known_ids():
    actions = dt.plan("g/p", [token(7, name="other")], desired(lifetime_days=30, username="fleet"), NOW).actions
    (create,) = actions
    assert create.data["params"] == {"name": "pull", "scopes": ["read_registry"],
                                     "expires_at": "2030-07-15T12:00:00Z", "username": "fleet"}
    assert create.data["known_ids"] == [7]
    assert create.note == "no token named pull"


def test_create_without_expiry_sends_no_expires_at():
    (create,) = dt.plan("g/p", [], desired(), NOW).actions
    assert "expires_at" not in create.data["params"]


def test_spec_change_note_names_the_differing_options():
    (create,) = dt.plan("g/p", [token(1)], desired(scopes=["read_repository"], username="x"), NOW).actions
    assert create.note == "token #1 differs in scopes, username; deploy tokens cannot be edited"


def test_diff_and_actions_show_ids_and_attributes_only():
    tokens = [token(1)]
    actions = dt.plan("g/p", tokens, desired(scopes=["read_repository"], revoke_predecessors=True), NOW).actions
    diff = diff_for(actions)
    assert diff == [{
        "before_header": "g/p", "after_header": "g/p",
        "before": {"pull #1": {"id": 1, "name": "pull", "username": "gitlab+deploy-token-1",
                               "scopes": ["read_registry"], "expires_at": None}},
        "after": {"pull (new)": {"id": None, "name": "pull", "username": None,
                                 "scopes": ["read_repository"], "expires_at": None}},
    }]
    for action in actions:
        assert "token" not in (action.as_dict()["before"] or {})
        assert "token" not in (action.as_dict()["after"] or {})


def test_target_result_returns_the_secret_only_for_a_created_token():
    created = dict(id=9, name="pull", username="u", scopes=["read_registry"], expires_at=None,
                   revoked=False, expired=False, token="gldt-secret")
    entry = dt.target_result("project", "g/p", None, [token(1)], created=created, now=NOW)
    assert entry["token"] == "gldt-secret" and entry["created"] is True
    assert entry["predecessor_ids"] == [1] and entry["deleted_ids"] == []

    entry = dt.target_result("project", "g/p", token(9), [token(1)], deleted_ids=[1], now=NOW)
    assert "token" not in entry and entry["created"] is False
    assert entry["id"] == 9 and entry["predecessor_ids"] == [] and entry["deleted_ids"] == [1]


def test_a_predecessor_another_run_just_created_is_not_revoked():
    """Two overlapping rotations: the other run's successor, minutes old, is left to a later run."""
    want = desired(lifetime_days=90, revoke_predecessors=True, rotate=True)
    fresh, old = token(7, expires_at=at(days=90, minutes=-3)), token(4, expires_at=at(days=30))
    the_plan = dt.plan("g/p", [old, fresh], want, NOW)
    assert [(a.kind, a.data.get("token_id")) for a in the_plan.actions] == [("create", None), ("delete", 4)]
    assert "token #7" in the_plan.notes[0] and "a later run revokes it" in the_plan.notes[0]


@pytest.mark.parametrize("grace, revoked", [(0, [7, 4]), (2, [7, 4]), (4, [4]), (15, [4])])
def test_revoke_grace_minutes_sets_how_young_a_spared_predecessor_is(grace, revoked):
    """Token #7 is 3 minutes old: a grace of 0 (after a leak) or 2 minutes revokes it too."""
    want = desired(lifetime_days=90, revoke_predecessors=True, rotate=True, revoke_grace_minutes=grace)
    fresh, old = token(7, expires_at=at(days=90, minutes=-3)), token(4, expires_at=at(days=30))
    the_plan = dt.plan("g/p", [old, fresh], want, NOW)
    assert sorted((a.data["token_id"] for a in the_plan.actions if a.kind == "delete"), reverse=True) == revoked
    assert bool(the_plan.notes) == (7 not in revoked)


def test_token_age_is_known_only_from_the_tasks_lifetime():
    assert dt.token_age(token(1, expires_at=at(days=80)), desired(lifetime_days=90), NOW) == timedelta(days=10)
    assert dt.token_age(token(1, expires_at=at(days=80)), desired(), NOW) is None
    assert dt.token_age(token(1), desired(lifetime_days=90), NOW) is None
