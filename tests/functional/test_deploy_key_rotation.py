# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_key_rotation against a GitLab: successor first on projects and protected tags, then retire."""

from __future__ import annotations

import pytest

from module_runner import run_module
from sshkeys import public_key

from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key_rotation, protected_tag
from test_protected_tag import add_key, protections


def fingerprint(text):
    return parse_public_key(text).fingerprint_sha256


def keys_on(target, project):
    """``{fingerprint: (id, title, can_push)}`` read with an independent client."""
    gl = target.admin_client()
    return {fingerprint(k.key): (k.id, k.title, k.can_push) for k in gl.projects.get(project.id).keys.list(get_all=True)}


def args(target, projects, key, successor, step, **kwargs):
    result = dict(api_url=target.url, api_token=target.admin_token, projects=projects, key=key, successor=successor,
                  step=step, max_retries=1)
    result.update(kwargs)
    return result


@pytest.fixture
def fleet(gitlab_target, clean_target):
    """A release project (the host's key may push, and v* names it) and a read-only project."""
    release, library = gitlab_target.make_project("rot"), gitlab_target.make_project("lib")
    old = public_key(comment="runner@h1")
    pred = add_key(gitlab_target, release, old, title="runner:h1", can_push=True)
    add_key(gitlab_target, library, old, title="runner:h1", can_push=False)
    gitlab_target.admin_client().projects.get(release.id).protectedtags.create(
        {"name": "v*", "allowed_to_create": [{"deploy_key_id": pred.id}]})
    return release, library, old, pred.id


def test_add_successor_keeps_access_and_carries_the_protected_tag(gitlab_target, fleet):
    release, library, old, pred_id = fleet
    new = public_key(comment="runner@h1-next")
    projects = [release.path_with_namespace, library.path_with_namespace]
    result = run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "add_successor",
                                                       lifetime_days=90))
    assert result["changed"] is True
    new_id = result["successor"]["id"]
    assert keys_on(gitlab_target, release)[fingerprint(new)] == (new_id, "runner:h1", True)
    assert keys_on(gitlab_target, library)[fingerprint(new)] == (new_id, "runner:h1", False)
    assert keys_on(gitlab_target, release)[fingerprint(old)][0] == pred_id  # the predecessor still works
    assert protections(gitlab_target, release) == {"v*": sorted([("deploy_key_id", pred_id), ("deploy_key_id", new_id)])}
    assert result["predecessor"]["projects"] == projects
    again = run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "add_successor",
                                                      lifetime_days=90))
    assert again["changed"] is False and again["actions"] == []


def test_retiring_before_the_successor_is_everywhere_is_refused(gitlab_target, fleet):
    release, library, old, dummy = fleet
    new = public_key()
    gitlab_target.clear_requests()
    failure = run_module(deploy_key_rotation.main, args(gitlab_target, [release.path_with_namespace,
                                                                        library.path_with_namespace],
                                                        old, new, "retire_predecessor"), fail=True)
    assert "is not on" in failure["msg"] and "run step add_successor first" in failure["msg"]
    assert failure["changed"] is False and gitlab_target.requests()["writes"] == 0


def test_retire_names_only_live_keys_and_removes_the_predecessor_last(gitlab_target, fleet):
    release, library, old, pred_id = fleet
    new = public_key()
    projects = [release.path_with_namespace, library.path_with_namespace]
    added = run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "add_successor"))
    new_id = added["successor"]["id"]
    gitlab_target.clear_requests()
    retired = run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "retire_predecessor"))
    assert retired["changed"] is True and retired["predecessor"]["projects"] == []
    assert fingerprint(old) not in keys_on(gitlab_target, release)
    assert fingerprint(old) not in keys_on(gitlab_target, library)
    assert protections(gitlab_target, release) == {"v*": [("deploy_key_id", new_id)]}
    writes = [e for e in gitlab_target.requests()["log"] if e["method"] != "GET"]
    key_deletes = [i for i, e in enumerate(writes) if e["method"] == "DELETE" and "/deploy_keys/" in e["path"]]
    tag_writes = [i for i, e in enumerate(writes) if "/protected_tags" in e["path"]]
    assert key_deletes and tag_writes and max(tag_writes) < min(key_deletes)  # tags first, keys last
    again = run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "retire_predecessor"))
    assert again["changed"] is False


def test_check_mode_shows_the_plan_and_writes_nothing(gitlab_target, fleet):
    release, library, old, dummy = fleet
    new = public_key()
    gitlab_target.clear_requests()
    result = run_module(deploy_key_rotation.main, args(gitlab_target, [release.path_with_namespace,
                                                                       library.path_with_namespace],
                                                       old, new, "add_successor"), check_mode=True, diff=True)
    assert result["changed"] is True and gitlab_target.requests()["writes"] == 0
    kinds = [(a["action"], a["project"]) for a in result["actions"]]
    assert kinds == [("create", release.path_with_namespace), ("enable", library.path_with_namespace),
                     ("update", release.path_with_namespace)]


def test_a_title_in_protected_tag_keeps_naming_the_hosts_key_through_the_rotation(gitlab_target, fleet):
    release, library, old, dummy = fleet
    new = public_key()
    projects = [release.path_with_namespace, library.path_with_namespace]
    task = dict(api_url=gitlab_target.url, api_token=gitlab_target.admin_token, projects=[release.path_with_namespace],
                name="v*", allowed_to_create=[{"deploy_key": "runner:h1"}])
    assert run_module(protected_tag.main, task)["changed"] is False
    run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "add_successor"))
    assert run_module(protected_tag.main, task)["changed"] is False  # both keys are titled runner:h1
    run_module(deploy_key_rotation.main, args(gitlab_target, projects, old, new, "retire_predecessor"))
    assert run_module(protected_tag.main, task)["changed"] is False


def test_the_same_key_twice_is_refused(gitlab_target, fleet):
    release, dummy, old, dummy_id = fleet
    failure = run_module(deploy_key_rotation.main, args(gitlab_target, [release.path_with_namespace], old,
                                                        old.replace("runner@h1", "other comment"), "add_successor"),
                         fail=True)
    assert failure["msg"].startswith("deploy_key_rotation: successor is the same key as key")
