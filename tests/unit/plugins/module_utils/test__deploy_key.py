# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure deploy key plan, matching and inventory: parametrized tables, no server."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key import (
    Desired,
    inventory,
    key_record,
    key_summary,
    match_deploy_key,
    plan,
    title_check_needs_admin,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import diff_for
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import parse_option_time


def parse_expires_at(value):
    return parse_option_time(value, "expires_at")


def new_key(comment="runner@host"):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return "%s %s" % (text, comment)


KEY = parse_public_key(new_key("fleet@ctl extra words"))
OTHER = parse_public_key(new_key("old"))
THIRD = parse_public_key(new_key("third"))


def record(key, id=1, title="runner-fleet", can_push=False, expires_at=None):
    # What GitLab lists: the sanitised text and the bare fingerprint.
    return key_record({"id": id, "title": title, "key": key.text, "fingerprint_sha256": key.fingerprint_sha256,
                       "can_push": can_push, "created_at": "2025-01-01T00:00:00.000Z", "expires_at": expires_at})


def desired(**kwargs):
    kwargs.setdefault("key", KEY)
    kwargs.setdefault("title", "runner-fleet")
    return Desired(**kwargs)


def kinds(the_plan):
    return [(a.kind, a.target) for a in the_plan.actions]


# --- plan: state present ------------------------------------------------------

@pytest.mark.parametrize(
    "current, want, expected",
    [
        pytest.param({"g/a": []}, desired(), [("create", "g/a")], id="new key on one project"),
        pytest.param({"g/a": [], "g/b": [], "g/c": []}, desired(),
                     [("create", "g/a"), ("enable", "g/b"), ("enable", "g/c")], id="created once, linked on siblings"),
        pytest.param({"g/a": [record(KEY)], "g/b": [record(KEY)]}, desired(), [], id="nothing to do"),
        pytest.param({"g/a": [record(KEY, title="other")]}, desired(title=None), [], id="title omitted is not compared"),
        pytest.param({"g/a": [], "g/b": [record(KEY, id=7)]}, desired(), [("enable", "g/a")], id="link key of a sibling"),
        pytest.param({"g/a": [record(KEY)]}, desired(can_push=True), [("update", "g/a")], id="can_push"),
        pytest.param({"g/a": [record(KEY, title="old")]}, desired(), [("update", "g/a")], id="title, one project"),
        pytest.param({"g/a": [record(OTHER, id=2, title="runner-old")]}, desired(purge_titles=["runner-*"]),
                     [("create", "g/a"), ("delete", "g/a")], id="rotation: new first, then purge"),
        pytest.param({"g/a": [record(KEY, title="runner-fleet")]}, desired(purge_titles=["runner-*"]), [],
                     id="purge never removes the declared key"),
        pytest.param({"g/a": [record(OTHER, id=2, title="ci-old")]}, desired(purge_titles=["runner-*"]),
                     [("create", "g/a")], id="purge leaves other titles"),
    ],
)
def test_plan_present(current, want, expected):
    assert kinds(plan(current, want)) == expected


def test_create_carries_the_title_and_siblings_link_the_created_key():
    the_plan = plan({"g/a": [], "g/b": []}, desired(can_push=True))
    create, enable = the_plan.actions
    assert create.data == {"diff_key": "SHA256:" + KEY.fingerprint_sha256, "then": "create", "title": "runner-fleet"}
    assert "key_id" not in enable.data  # filled from the create's answer at apply time
    assert create.after == {"id": None, "title": "runner-fleet", "fingerprint_sha256": "SHA256:" + KEY.fingerprint_sha256,
                            "can_push": True, "expires_at": None}


def test_link_uses_the_text_gitlab_stores():
    stored = record(KEY, id=7)
    (enable,) = plan({"g/a": [], "g/b": [stored]}, desired()).actions
    assert enable.data["key_id"] == 7
    assert enable.data["key_text"] == KEY.text == stored["key"]
    assert enable.after["id"] == 7


def test_new_key_title_defaults_to_the_comment():
    (create,) = plan({"g/a": []}, desired(title=None)).actions
    assert create.data["title"] == "fleet@ctl"


def test_new_key_without_title_or_comment_is_refused():
    bare = parse_public_key(" ".join(KEY.text.split()[:2]))
    with pytest.raises(GitlabModuleError, match="title is required"):
        plan({"g/a": []}, desired(key=bare, title=None))


@pytest.mark.parametrize(
    "is_admin, expected_actions, noted",
    [(True, [("update", "g/a")], False), (False, [], True), (None, [], True)],
)
def test_title_of_a_key_on_several_projects(is_admin, expected_actions, noted):
    current = {"g/a": [record(KEY, title="old")], "g/b": [record(KEY, title="old")]}
    assert title_check_needs_admin(current, desired())
    the_plan = plan(current, desired(), is_admin=is_admin)
    assert kinds(the_plan) == expected_actions
    if noted:
        assert the_plan.notes == ["GitLab kept title 'old' of deploy key SHA256:%s: the key is used in 2 projects "
                                  "and only an admin can rename it" % KEY.fingerprint_sha256]
    else:
        assert the_plan.actions[0].data["changes"] == {"title": "runner-fleet"}


def test_admin_check_costs_nothing_when_titles_agree():
    current = {"g/a": [record(KEY)], "g/b": [record(KEY)]}
    assert not title_check_needs_admin(current, desired())
    assert not title_check_needs_admin({"g/a": [record(KEY, title="x")]}, desired())


def test_title_and_can_push_in_one_put_only_on_one_project():
    current = {"g/a": [record(KEY, title="old")], "g/b": [record(KEY, title="old")]}
    the_plan = plan(current, desired(can_push=True), is_admin=True)
    assert [a.data["changes"] for a in the_plan.actions] == [{"can_push": True, "title": "runner-fleet"},
                                                             {"can_push": True}]


@pytest.mark.parametrize(
    "stored, wanted, differs",
    [
        (None, None, False),
        ("2030-01-31T00:00:00.000Z", "2030-01-31", False),
        ("2030-01-31T00:00:00Z", "2030-01-31T00:00:00+00:00", False),
        (None, "2030-01-31", True),
        ("2030-01-31T00:00:00.000Z", "2031-01-31", True),
    ],
)
def test_expiry_cannot_change_without_recreate(stored, wanted, differs):
    current = {"g/a": [record(KEY, expires_at=stored)]}
    the_plan = plan(current, desired(expires_at=parse_expires_at(wanted)))
    assert the_plan.actions == []
    assert bool(the_plan.notes) == differs
    if differs:
        assert "GitLab cannot change a key's expiry" in the_plan.notes[0] and "recreate: true" in the_plan.notes[0]


def test_recreate_removes_and_adds_again_everywhere():
    current = {"g/a": [record(KEY, id=3)], "g/b": [record(KEY, id=3)], "g/c": []}
    the_plan = plan(current, desired(expires_at=parse_expires_at("2031-01-01"), recreate=True))
    assert kinds(the_plan) == [("recreate", "g/a"), ("recreate", "g/b"), ("enable", "g/c")]
    assert [a.data["then"] for a in the_plan.actions] == ["create", "enable", "enable"]
    assert the_plan.actions[0].data["remove_id"] == 3
    assert the_plan.actions[0].after["expires_at"] == "2031-01-01T00:00:00Z"
    assert the_plan.context["key_id"] is None


# --- plan: state absent -------------------------------------------------------

@pytest.mark.parametrize(
    "current, want, expected",
    [
        pytest.param({"g/a": [record(KEY)], "g/b": []}, desired(state="absent"), [("delete", "g/a")], id="by key"),
        pytest.param({"g/a": [record(KEY, title="other")]}, desired(state="absent", title="runner-fleet"),
                     [("delete", "g/a")], id="by key, whatever the title"),
        pytest.param({"g/a": [record(OTHER, id=2, title="old"), record(THIRD, id=3, title="keep")]},
                     desired(state="absent", key=None, title="old"), [("delete", "g/a")], id="by title"),
        pytest.param({"g/a": []}, desired(state="absent"), [], id="already absent"),
        pytest.param({"g/a": [record(KEY), record(OTHER, id=2, title="runner-old")]},
                     desired(state="absent", purge_titles=["runner-*"]), [("delete", "g/a"), ("delete", "g/a")],
                     id="absent and purge"),
    ],
)
def test_plan_absent(current, want, expected):
    assert kinds(plan(current, want)) == expected


def test_diff_shows_before_and_after_per_project():
    current = {"g/a": [record(OTHER, id=2, title="runner-old")], "g/b": [record(KEY, id=5)]}
    actions = plan(current, desired(can_push=True, purge_titles=["runner-*"])).actions
    diff = diff_for(actions)
    assert [d["before_header"] for d in diff] == ["g/a", "g/b"]
    fp, old_fp = "SHA256:" + KEY.fingerprint_sha256, "SHA256:" + OTHER.fingerprint_sha256
    assert diff[0]["before"] == {old_fp: {"id": 2, "title": "runner-old", "fingerprint_sha256": old_fp,
                                          "can_push": False, "expires_at": None}}
    assert diff[0]["after"] == {fp: {"id": 5, "title": "runner-fleet", "fingerprint_sha256": fp,
                                     "can_push": True, "expires_at": None}}
    assert diff[1]["before"][fp]["can_push"] is False and diff[1]["after"][fp]["can_push"] is True


def test_key_summary_after_the_plan():
    current = {"g/a": [record(KEY, id=5)], "g/b": []}
    the_plan = plan(current, desired(can_push=True))
    summary = key_summary(current, the_plan.actions, desired(can_push=True))
    assert summary["id"] == 5 and summary["title"] == "runner-fleet"
    assert summary["projects"] == [{"project": "g/a", "can_push": True}, {"project": "g/b", "can_push": True}]


# --- matching (reused by protected_tag) -------------------------------------------

KEYS = [record(KEY, id=1, title="runner-fleet"), record(OTHER, id=2, title="runner-old"), record(THIRD, id=3, title="ci")]


@pytest.mark.parametrize(
    "criteria, ids",
    [
        (dict(key=KEY), [1]),
        (dict(key=" ".join(KEY.text.split()[:2]) + " another comment"), [1]),
        (dict(fingerprint="SHA256:" + OTHER.fingerprint_sha256), [2]),
        (dict(fingerprint=OTHER.fingerprint_sha256 + "="), [2]),
        (dict(title="runner-*"), [1, 2]),
        (dict(title="ci"), [3]),
        (dict(title="runner-*", fingerprint=THIRD.fingerprint_sha256), []),
        (dict(key=KEY, fingerprint=OTHER.fingerprint_sha256), []),
        (dict(fingerprint="SHA256:nope"), []),
    ],
)
def test_match_deploy_key(criteria, ids):
    assert [k["id"] for k in match_deploy_key(KEYS, **criteria)] == ids


def test_match_needs_a_criterion():
    with pytest.raises(ValueError):
        match_deploy_key(KEYS)


def test_key_record_computes_a_missing_fingerprint():
    rec = key_record({"id": 1, "title": "t", "key": KEY.text, "can_push": None})
    assert rec["fingerprint_sha256"] == KEY.fingerprint_sha256 and rec["can_push"] is False


# --- inventory (deploy_key_info) ---------------------------------------------------

def test_inventory_groups_by_key_with_age_and_projects():
    now = datetime.datetime(2025, 3, 2, 12, tzinfo=datetime.timezone.utc)
    current = {
        "g/a": [record(KEY, id=1, can_push=True), record(OTHER, id=2, expires_at="2025-02-01T00:00:00.000Z")],
        "g/b": [record(KEY, id=1)],
    }
    keys = inventory(current, now)
    assert [k["id"] for k in keys] == [1, 2]
    assert keys[0]["projects"] == [{"project": "g/a", "can_push": True}, {"project": "g/b", "can_push": False}]
    assert keys[0]["age_days"] == 60 and keys[0]["expired"] is False
    assert keys[1]["expired"] is True
    assert keys[0]["fingerprint_sha256"] == "SHA256:" + KEY.fingerprint_sha256


@pytest.mark.parametrize("value", ["31/01/2030", "tomorrow", "2030-13-01"])
def test_bad_expires_at_names_the_option(value):
    with pytest.raises(GitlabModuleError, match="expires_at must be a date"):
        parse_expires_at(value)


def test_lifetime_days_sets_the_expiry_of_a_new_key_only():
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    new = plan({"g/a": []}, desired(lifetime_days=90, now=now))
    assert new.actions[0].after["expires_at"] == "2030-04-01T00:00:00Z"
    # An existing key keeps its expiry: a rolling lifetime never asks to recreate it.
    existing = plan({"g/a": [record(KEY, expires_at="2030-02-01T00:00:00.000Z")]}, desired(lifetime_days=90, now=now))
    assert existing.actions == [] and existing.notes == []


def test_an_expired_key_is_never_reported_as_fine():
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    current = {"g/a": [record(KEY, id=3, expires_at="2029-12-31T00:00:00.000Z")]}
    with pytest.raises(GitlabModuleError, match="expired at 2029-12-31T00:00:00.000Z and no longer authenticates"):
        plan(current, desired(now=now))
    renewed = plan(current, desired(now=now, lifetime_days=30, recreate=True))
    assert [a.kind for a in renewed.actions] == ["recreate"]
    assert renewed.actions[0].after["expires_at"] == "2030-01-31T00:00:00Z"
