# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_key_info's main() against the GitLab test server (or a real GitLab)."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key_info


def new_key(comment="audit@ctl"):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return "%s %s" % (text, comment)


def args(target, projects=None, **kwargs):
    result = dict(api_url=target.url, api_token=target.admin_token)
    if projects is not None:
        result["projects"] = projects
    result.update(kwargs)
    return result


@pytest.fixture
def seeded(gitlab_target, clean_target):
    gl = gitlab_target.admin_client()
    projects = [gitlab_target.make_project("dki") for dummy in range(2)]
    fleet, old = new_key(), new_key()
    keys = [gl.projects.get(p.id).keys for p in projects]
    fleet_id = keys[0].create({"title": "runner-fleet", "key": fleet, "can_push": True}).id
    keys[1].create({"title": "runner-fleet", "key": fleet, "can_push": False})
    old_id = keys[1].create({"title": "ci-old", "key": old}).id
    return projects, fleet, fleet_id, old, old_id


def test_lists_each_key_once_with_its_projects(gitlab_target, seeded):
    projects, fleet, fleet_id, old, old_id = seeded
    names = [p.path_with_namespace for p in projects]
    gitlab_target.clear_requests()
    result = run_module(deploy_key_info.main, args(gitlab_target, names))
    assert result["changed"] is False
    keys = {k["id"]: k for k in result["deploy_keys"]}
    assert set(keys) == {fleet_id, old_id}
    assert keys[fleet_id]["projects"] == [{"project": names[0], "can_push": True},
                                          {"project": names[1], "can_push": False}]
    assert keys[fleet_id]["fingerprint_sha256"] == "SHA256:" + parse_public_key(fleet).fingerprint_sha256
    assert keys[old_id]["projects"] == [{"project": names[1], "can_push": False}]
    assert keys[fleet_id]["age_days"] == 0 and keys[fleet_id]["expired"] is False
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["reads"] == 2 and gitlab_target.requests()["writes"] == 0


@pytest.mark.parametrize(
    "criteria, expected",
    [
        (lambda fleet, old: dict(title="runner-*"), "fleet"),
        (lambda fleet, old: dict(key=old.replace("audit@ctl", "another comment")), "old"),
        (lambda fleet, old: dict(fingerprint="SHA256:" + parse_public_key(fleet).fingerprint_sha256), "fleet"),
        (lambda fleet, old: dict(title="nothing-*"), None),
    ],
    ids=["title glob", "key", "fingerprint", "no match"],
)
def test_filters(gitlab_target, seeded, criteria, expected):
    projects, fleet, fleet_id, old, old_id = seeded
    result = run_module(deploy_key_info.main, args(gitlab_target, [p.id for p in projects], **criteria(fleet, old)))
    wanted = {"fleet": [fleet_id], "old": [old_id], None: []}[expected]
    assert [k["id"] for k in result["deploy_keys"]] == wanted


@pytest.mark.needs_control
def test_age_in_days(gitlab_target, seeded):
    projects, fleet, fleet_id, old, old_id = seeded
    created = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=120, hours=1))
    gitlab_target.backdate("deploy_keys", old_id, created.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    result = run_module(deploy_key_info.main, args(gitlab_target, [projects[1].id], title="ci-old"))
    assert [k["age_days"] for k in result["deploy_keys"]] == [120]


def test_instance_listing_for_an_admin(gitlab_target, seeded):
    projects, fleet, fleet_id, old, old_id = seeded
    result = run_module(deploy_key_info.main, args(gitlab_target, title="runner-fleet"))
    (entry,) = [k for k in result["deploy_keys"] if k["id"] == fleet_id]
    assert sorted((p["project"], p["can_push"]) for p in entry["projects"]) == sorted(
        [(projects[0].path_with_namespace, True), (projects[1].path_with_namespace, False)])


def test_missing_project_fails_naming_it(gitlab_target, seeded):
    projects = seeded[0]
    missing = projects[0].path_with_namespace + "-gone"
    error = run_module(deploy_key_info.main, args(gitlab_target, [projects[0].id, missing]), fail=True)
    assert "- %s: " % missing in error["msg"] and "404" in error["msg"]
