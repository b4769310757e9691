# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Protected tags: the pure parts (levels, matcher, entries, input, plan), with tables."""

from __future__ import annotations

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _protected_tag as pt
from ansible_collections.runnercreds.gitlab.plugins.module_utils._access_levels import parse_access_level
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import diff_for

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl runner@fleet"


# --- access levels ------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("no_one", 0), ("developer", 30), ("maintainer", 40), ("admin", 60),
    ("Maintainer", 40), ("no-one", 0), ("No one", 0), ("0", 0), ("30", 30), (40, 40), ("60", 60),
])
def test_parse_access_level(value, expected):
    assert parse_access_level(value) == expected


@pytest.mark.parametrize("value", ["owner", "50", "10", "-1", "", "maintainers"])
def test_parse_access_level_refuses_naming_option_and_choices(value):
    with pytest.raises(GitlabModuleError) as err:
        parse_access_level(value, "tags[1].create_access_level")
    assert err.value.msg.startswith("tags[1].create_access_level must be one of no_one, developer, maintainer, admin")


# --- GitLab's wildcard matcher (the docs' own table, spec §4.3) ------------------------

@pytest.mark.parametrize("pattern, tag, expected", [
    ("v*", "v1.0.0", True),
    ("v*", "version-9.1", True),
    ("v*", "v", True),
    ("v*", "av1", False),
    ("*-deploy", "march-deploy", True),
    ("*-deploy", "1.0-deploy", True),
    ("*-deploy", "deploy", False),
    ("*gitlab*", "gitlab", True),
    ("*gitlab*", "gitlab/v1", True),
    ("*", "v1.0.1rc2", True),
    ("*", "accidental-tag", True),
    ("release-1.0", "release-1.0", True),
    ("release-1.0", "release-1x0", False),  # '.' is literal
    ("release-1.0", "release-1.0.1", False),
    ("v?", "v1", False),  # no '?' wildcard
    ("v?", "v?", True),
    ("v[0-9]*", "v1", False),  # no character classes
    ("v[0-9]*", "v[0-9]x", True),
    ("*-stable", "production-stable", True),
    ("production-*", "production-stable", True),
    ("a*b*c", "a/x/b/y/c", True),
    ("a*b*c", "acb", False),
])
def test_tag_matches(pattern, tag, expected):
    assert pt.tag_matches(pattern, tag) is expected


def test_matching_tags_keeps_order():
    assert pt.matching_tags("v*", ["v2", "main", "v1", "xv"]) == ["v2", "v1"]


# --- entries and GitLab's defaulting ----------------------------------------------

ROLE40 = {"id": 1, "access_level": 40, "access_level_description": "Maintainers", "deploy_key_id": None}
ROLE0 = {"id": 2, "access_level": 0, "access_level_description": "No one"}
KEY7 = {"id": 3, "access_level": 40, "access_level_description": "runner-fleet", "deploy_key_id": 7}
USER5 = {"id": 4, "access_level": None, "access_level_description": "Alice", "user_id": 5, "group_id": None}
GROUP9 = {"id": 5, "access_level": None, "access_level_description": "Ops", "group_id": 9}


@pytest.mark.parametrize("rows, expected", [
    ([], set()),
    ([ROLE40], {("access_level", 40)}),
    ([KEY7], {("deploy_key_id", 7)}),  # the key row's access_level does not count
    ([ROLE40, KEY7], {("access_level", 40), ("deploy_key_id", 7)}),
    ([KEY7, ROLE40], {("access_level", 40), ("deploy_key_id", 7)}),
    ([USER5, GROUP9, ROLE0], {("user_id", 5), ("group_id", 9), ("access_level", 0)}),
])
def test_entries_from_gitlab(rows, expected):
    entries, labels = pt.entries_from_gitlab(rows)
    assert entries == frozenset(expected)
    if KEY7 in rows:
        assert labels[("deploy_key_id", 7)] == "runner-fleet"


@pytest.mark.parametrize("level, allowed, expected", [
    (None, [], {("access_level", 40)}),  # GitLab's default
    (0, [], {("access_level", 0)}),
    (None, [("deploy_key_id", 7)], {("deploy_key_id", 7)}),  # no default with a key
    (40, [("deploy_key_id", 7)], {("access_level", 40), ("deploy_key_id", 7)}),
    (None, [("user_id", 5)], {("user_id", 5)}),  # Premium: no default with granular entries
    (None, [("access_level", 30)], {("access_level", 30)}),
    (40, [("access_level", 30)], {("access_level", 30), ("access_level", 40)}),
])
def test_desired_entries_applies_gitlabs_defaulting(level, allowed, expected):
    assert pt.desired_entries(level, allowed) == frozenset(expected)


@pytest.mark.parametrize("entries, expected", [
    ({("access_level", 40)}, {"name": "v*", "create_access_level": 40}),
    ({("deploy_key_id", 7)}, {"name": "v*", "allowed_to_create": [{"deploy_key_id": 7}]}),
    ({("access_level", 0), ("deploy_key_id", 7)},
     {"name": "v*", "create_access_level": 0, "allowed_to_create": [{"deploy_key_id": 7}]}),
    ({("access_level", 40), ("access_level", 30), ("user_id", 5), ("group_id", 9)},
     {"name": "v*", "create_access_level": 30,
      "allowed_to_create": [{"access_level": 40}, {"user_id": 5}, {"group_id": 9}]}),
])
def test_protect_params(entries, expected):
    assert pt.protect_params("v*", frozenset(entries)) == expected


@pytest.mark.parametrize("entries", [
    {("access_level", 40)}, {("deploy_key_id", 7)}, {("access_level", 0), ("deploy_key_id", 7)},
    {("user_id", 5)}, {("access_level", 30), ("group_id", 9), ("deploy_key_id", 8)},
])
def test_protect_params_round_trips_through_gitlabs_defaulting(entries):
    """What protect_params sends, resolved GitLab's (Premium) way, is the entry set itself."""
    params = pt.protect_params("v*", frozenset(entries))
    allowed = [(k, v) for row in params.get("allowed_to_create", []) for k, v in row.items()]
    assert pt.desired_entries(params.get("create_access_level"), allowed) == frozenset(entries)


def test_view_entries_sorted_and_named():
    entries = {("deploy_key_id", 7), ("access_level", 40), ("user_id", 5)}
    assert pt.view_entries(entries, {("deploy_key_id", 7): "runner-fleet", ("user_id", 5): "alice"}) == [
        {"access_level": "maintainer"},
        {"deploy_key_id": 7, "deploy_key": "runner-fleet"},
        {"user_id": 5, "user": "alice"},
    ]


# --- the task's input -----------------------------------------------------------------

def test_parse_tag_spec_reads_every_kind():
    spec = pt.parse_tag_spec({"name": " v* ", "create_access_level": "no_one", "allowed_to_create": [
        {"deploy_key": "runner-fleet"}, {"deploy_key": ED25519}, {"deploy_key": "SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU"},
        {"user": "alice"}, {"group": "/fleet/ops/"}, {"access_level": "developer"},
    ]}, "tags[0]")
    assert spec.name == "v*" and spec.create_access_level == 0
    kinds = [kind for kind, dummy in spec.allowed]
    assert kinds == ["deploy_key", "deploy_key", "deploy_key", "user", "group", "access_level"]
    title, key, fingerprint = (value for dummy, value in spec.allowed[:3])
    assert title.title == "runner-fleet" and title.key is None
    assert key.key is not None and key.describe().startswith("SHA256:")
    assert fingerprint.fingerprint == "Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU"  # GitLab's bare form
    assert spec.allowed[4] == ("group", "fleet/ops") and spec.allowed[5] == ("access_level", 30)


@pytest.mark.parametrize("item, option, message", [
    ({"name": ""}, None, "name is required"),
    ({"name": "v*", "allowed_to_create": [{}]}, None,
     "allowed_to_create[0] must name exactly one of access_level, deploy_key, user or group, got none"),
    ({"name": "v*", "allowed_to_create": [{"user": "a", "group": "g"}]}, "tags[3]",
     "tags[3].allowed_to_create[0] must name exactly one of access_level, deploy_key, user or group, got user, group"),
    ({"name": "v*", "create_access_level": "owner"}, "tags[1]", "tags[1].create_access_level must be one of"),
    ({"name": "v*", "allowed_to_create": [{"access_level": "x"}]}, None, "allowed_to_create[0].access_level must be"),
    ({"name": "v*", "allowed_to_create": [{"deploy_key": "ssh-ed25519 notbase64!"}]}, None,
     "allowed_to_create[0].deploy_key is not an OpenSSH public key"),
    ({"name": "v*", "allowed_to_create": [{"deploy_key": "-----BEGIN OPENSSH " + "PRIVATE KEY----- x"}]}, None,
     "PRIVATE key"),
])
def test_parse_tag_spec_errors_name_the_option(item, option, message):
    with pytest.raises(GitlabModuleError) as err:
        pt.parse_tag_spec(item, option)
    assert message in err.value.msg
    assert "BEGIN" not in err.value.msg


def test_guard_specs_skip_declared_and_duplicate_names():
    declared = [pt.TagSpec("main", 40)]
    specs = pt.guard_specs(["main", "qa", "qa", "stable"], declared)
    assert [(s.name, s.create_access_level, s.guard) for s in specs] == [("qa", 0, True), ("stable", 0, True)]


# --- deploy key resolution ----------------------------------------------------------

FAKE_FP = "Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfI%02d"  # 43 characters: a fingerprint's form


def _key(ident, title, can_push=True, fingerprint=None):
    return {"id": ident, "title": title, "key": None, "fingerprint_sha256": fingerprint or FAKE_FP % ident,
            "can_push": can_push}


def test_resolve_deploy_keys_by_title_fingerprint_and_key():
    from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
    real = parse_public_key(ED25519)
    keys = [_key(7, "runner-fleet"), _key(8, "other", fingerprint=real.fingerprint_sha256), _key(9, "x*")]
    refs = [pt.DeployKeyRef("runner-fleet", "d"), pt.DeployKeyRef(ED25519, "d"),
            pt.DeployKeyRef("SHA256:%s=" % (FAKE_FP % 7), "d"), pt.DeployKeyRef("x*", "d")]
    found = pt.resolve_deploy_keys("g/p", keys, refs)
    assert found == {"runner-fleet": [(7, "runner-fleet")], ED25519: [(8, "other")],
                     "SHA256:%s=" % (FAKE_FP % 7): [(7, "runner-fleet")], "x*": [(9, "x*")]}


def test_a_title_names_every_writable_key_with_that_title():
    """A host's predecessor and successor share the title during a rotation: both stay allowed."""
    keys = [_key(7, "runner:h1"), _key(8, "runner:h1"), _key(9, "runner:h1", can_push=False), _key(10, "runner:h2")]
    found = pt.resolve_deploy_keys("g/p", keys, [pt.DeployKeyRef("runner:h1", "d")])
    assert found == {"runner:h1": [(7, "runner:h1"), (8, "runner:h1")]}


@pytest.mark.parametrize("keys, ref, message", [
    ([], "runner-fleet", "deploy key 'runner-fleet' is not enabled on g/p; add it there first"),
    ([_key(7, "runner-fleet", can_push=False)], "runner-fleet", "without write access"),
    ([_key(7, "runner-fleet-2")], "runner-fleet*", "is not enabled on g/p"),  # titles match exactly, no glob
])
def test_resolve_deploy_keys_errors(keys, ref, message):
    with pytest.raises(GitlabModuleError) as err:
        pt.resolve_deploy_keys("g/p", keys, [pt.DeployKeyRef(ref, "d")])
    assert message in err.value.msg
    assert err.value.project == "g/p"


def test_resolve_spec_labels_and_defaulting():
    spec = pt.parse_tag_spec({"name": "v*", "allowed_to_create": [
        {"deploy_key": "runner-fleet"}, {"user": "alice"}, {"group": "fleet/ops"}]})
    protection = pt.resolve_spec(spec, {"alice": 5}, {"fleet/ops": (9, "fleet/ops")},
                                 {"runner-fleet": [(7, "runner-fleet")]})
    assert protection.entries == {("deploy_key_id", 7), ("user_id", 5), ("group_id", 9)}
    assert protection.view()["create_access_levels"] == [
        {"deploy_key_id": 7, "deploy_key": "runner-fleet"}, {"user_id": 5, "user": "alice"},
        {"group_id": 9, "group": "fleet/ops"}]


# --- the plan -----------------------------------------------------------------------

def _gitlab(name, *rows):
    return {"name": name, "create_access_levels": list(rows)}


def _want(name, *entries):
    return pt.Protection(name, entries)


@pytest.mark.parametrize("current, desired, absent, purge, expected", [
    # nothing there -> protect
    ([], [_want("v*", ("access_level", 40))], [], False, [("protect", "v*")]),
    # identical, order-insensitive, default applied -> nothing
    ([_gitlab("v*", ROLE40)], [_want("v*", ("access_level", 40))], [], False, []),
    ([_gitlab("v*", KEY7, ROLE40)], [_want("v*", ("access_level", 40), ("deploy_key_id", 7))], [], False, []),
    ([_gitlab("v*", KEY7)], [_want("v*", ("deploy_key_id", 7))], [], False, []),
    # different level -> update
    ([_gitlab("v*", ROLE40)], [_want("v*", ("access_level", 0))], [], False, [("update", "v*")]),
    # key added -> update
    ([_gitlab("v*", ROLE40)], [_want("v*", ("access_level", 40), ("deploy_key_id", 7))], [], False, [("update", "v*")]),
    # absent
    ([_gitlab("v*", ROLE40)], [], ["v*"], False, [("unprotect", "v*")]),
    ([], [], ["v*"], False, []),
    # additive by default: undeclared protections stay
    ([_gitlab("old", ROLE40)], [_want("v*", ("access_level", 40))], [], False, [("protect", "v*")]),
    # purge removes the undeclared, after protecting the declared
    ([_gitlab("old", ROLE40), _gitlab("v*", ROLE0)], [_want("v*", ("access_level", 40)), _want("new", ("access_level", 0))],
     [], True, [("protect", "new"), ("update", "v*"), ("unprotect", "old")]),
    ([_gitlab("v*", ROLE40)], [_want("v*", ("access_level", 40))], [], True, []),
])
def test_plan(current, desired, absent, purge, expected):
    actions = pt.plan("g/p", current, desired, absent=absent, purge=purge).actions
    assert [(a.kind, a.data["diff_key"]) for a in actions] == expected
    assert all(a.target == "g/p" for a in actions)


def test_plan_update_carries_the_new_settings_twice_and_the_note():
    current = [_gitlab("v*", ROLE40, KEY7)]
    desired = [pt.Protection("v*", {("deploy_key_id", 7)}, {("deploy_key_id", 7): "runner-fleet"})]
    (action,) = pt.plan("g/p", current, desired).actions
    assert action.kind == "update"
    assert action.data["params"] == {"name": "v*", "allowed_to_create": [{"deploy_key_id": 7}]}
    # The temporary rule that protects the same tags while v* is re-created, with the new settings.
    assert action.data["carrier"] == "v**"
    assert action.data["carrier_params"] == {"name": "v**", "allowed_to_create": [{"deploy_key_id": 7}]}
    assert action.as_dict() == {
        "action": "update", "project": "g/p",
        "before": {"name": "v*", "create_access_levels": [
            {"access_level": "maintainer"}, {"deploy_key_id": 7, "deploy_key": "runner-fleet"}]},
        "after": {"name": "v*", "create_access_levels": [{"deploy_key_id": 7, "deploy_key": "runner-fleet"}]},
        "note": pt.UPDATE_NOTE,
    }


def test_plan_diff_has_one_entry_per_project_keyed_by_pattern():
    current = [_gitlab("old", ROLE40), _gitlab("v*", ROLE0)]
    actions = pt.plan("g/p", current, [_want("v*", ("access_level", 40)), _want("stable", ("access_level", 0))],
                      purge=True).actions
    (diff,) = diff_for(actions)
    assert diff["before"] == {"v*": {"name": "v*", "create_access_levels": [{"access_level": "no_one"}]},
                              "old": {"name": "old", "create_access_levels": [{"access_level": "maintainer"}]}}
    assert diff["after"] == {"v*": {"name": "v*", "create_access_levels": [{"access_level": "maintainer"}]},
                             "stable": {"name": "stable", "create_access_levels": [{"access_level": "no_one"}]}}


@pytest.mark.parametrize("asked, rows, expected", [
    ({("access_level", 40)}, [ROLE40], None),
    ({("user_id", 5)}, [ROLE40], [{"access_level": "maintainer"}]),  # GitLab Free: user ignored, default added
    ({("deploy_key_id", 7)}, [KEY7], None),
])
def test_mismatch(asked, rows, expected):
    assert pt.mismatch(frozenset(asked), {"create_access_levels": rows}) == expected


def test_describe_levels_names_each_row():
    assert [row["access_level_name"] for row in pt.describe_levels([ROLE40, ROLE0, KEY7, USER5, GROUP9])] == [
        "maintainer", "no_one", "deploy_key", "user", "group"]
    assert pt.describe_levels([KEY7])[0]["deploy_key_id"] == 7


@pytest.mark.parametrize("name, taken, carrier", [
    ("v*", set(), "v**"),
    ("v*", {"v*", "v**"}, "v***"),
    ("release-1.0", set(), "release-1.0*"),
    ("*-stable", {"*-stable"}, "*-stable*"),
])
def test_carrier_name_is_free_and_matches_every_tag_the_rule_matches(name, taken, carrier):
    assert pt.carrier_name(name, taken) == carrier
    tags = ["v1", "v", "version-9.1", "release-1.0", "release-1.0.1", "1-stable", "x"]
    assert set(pt.matching_tags(name, tags)) <= set(pt.matching_tags(carrier, tags))
    if "*" in name:  # a wildcard rule's carrier matches exactly the same tags
        assert pt.matching_tags(name, tags) == pt.matching_tags(carrier, tags)


def _row(row, ident):
    return dict(row, id=ident)


def test_a_rule_left_by_an_interrupted_update_is_removed_once_the_rule_was_re_created_after_it():
    declared = [_want("v*", ("deploy_key_id", 7))]
    # v* (ids 20, 21) was protected after v** (id 10): the update that made v** is over.
    left = [_gitlab("v*", _row(KEY7, 20)), _gitlab("v**", _row(KEY7, 10)), _gitlab("v***", _row(ROLE40, 11)),
            _gitlab("vx*", _row(KEY7, 12))]
    actions = pt.plan("g/p", left, declared).actions
    # v** holds exactly the declared settings: it grants nothing v* does not. v*** (other settings)
    # and vx* (another pattern) are not the task's to remove.
    assert [(a.kind, a.data["diff_key"]) for a in actions] == [("unprotect", "v**")]
    assert "interrupted update of v*" in actions[0].note


@pytest.mark.parametrize("rule, expected", [
    pytest.param(None, [("protect", "v*")], id="rule-absent"),
    pytest.param(_gitlab("v*", _row(ROLE40, 5)), [("update", "v*")], id="rule-older-old-settings"),
    pytest.param(_gitlab("v*", _row(KEY7, 5)), [], id="rule-older-declared-settings"),
    pytest.param(_gitlab("v*", _row(KEY7, 15), _row(ROLE40, 9)), [("update", "v*")], id="rule-partly-older"),
    pytest.param(_gitlab("v*", {k: v for k, v in KEY7.items() if k != "id"}), [], id="rule-without-ids"),
])
def test_a_temporary_rule_not_older_than_the_rule_stays_it_may_be_another_runs(rule, expected):
    """Another run may have protected v** and not yet unprotected v*: removing v** now would let that
    run's pending unprotect leave the v* tags without any rule."""
    declared = [_want("v*", ("deploy_key_id", 7))]
    current = [_gitlab("v**", _row(KEY7, 10))] + ([rule] if rule else [])
    actions = pt.plan("g/p", current, declared).actions
    assert [(a.kind, a.data["diff_key"]) for a in actions] == expected
    for action in actions:
        if action.kind == "update":  # its own temporary rule, beside the one it keeps
            assert action.data["carrier"] == "v***"


def test_a_temporary_rule_without_ids_stays():
    declared = [_want("v*", ("deploy_key_id", 7))]
    no_id = {k: v for k, v in KEY7.items() if k != "id"}
    assert pt.plan("g/p", [_gitlab("v*", _row(KEY7, 20)), _gitlab("v**", no_id)], declared).actions == []


@pytest.mark.parametrize("rows, expected", [
    ([ROLE40, KEY7], [1, 3]),
    ([], None),
    ([{"access_level": 40}], None),
    ([ROLE40, {"access_level": 40}], None),
    ([{"id": True, "access_level": 40}], None),
    ([{"id": "4", "access_level": 40}], None),
])
def test_access_level_ids(rows, expected):
    assert pt.access_level_ids({"name": "v*", "create_access_levels": rows}) == expected


@pytest.mark.parametrize("retire, expected", [
    (False, {("deploy_key_id", 7), ("deploy_key_id", 9), ("access_level", 40)}),
    (True, {("deploy_key_id", 9), ("access_level", 40)}),
])
def test_carry_deploy_key_adds_the_successor_where_the_predecessor_is_allowed(retire, expected):
    current = [_gitlab("v*", ROLE40, KEY7), _gitlab("stable", ROLE40)]
    (wanted,) = pt.carry_deploy_key(current, 7, 9, "runner:h1", retire)
    assert wanted.name == "v*" and wanted.entries == expected
    assert wanted.labels[("deploy_key_id", 9)] == "runner:h1"
