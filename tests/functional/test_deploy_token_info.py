# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_token_info's main() against the GitLab test server (or a real GitLab)."""

from __future__ import annotations

import datetime

import pytest

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_token, deploy_token_info

DEVELOPER = 30


def base(target, token=None, **kwargs):
    result = dict(api_url=target.url, api_token=token or target.admin_token, max_retries=3)
    result.update(kwargs)
    return result


def in_days(days):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def projects(gitlab_target, clean_target):
    return [gitlab_target.make_project("dti") for _index in range(2)]


def test_lists_tokens_with_expiry_judgement_and_never_a_secret(gitlab_target, projects):
    a, b = projects
    created = run_module(deploy_token.main, base(gitlab_target, projects=[a.path_with_namespace], name="pull",
                                                 scopes=["read_registry"], lifetime_days=10, _ansible_no_log=True))
    gl = gitlab_target.admin_client()
    old = gl.projects.get(b.id).deploytokens.create({"name": "old", "scopes": ["read_repository"],
                                                     "expires_at": in_days(-2)})
    forever = gl.projects.get(b.id).deploytokens.create({"name": "forever", "scopes": ["read_repository"]})

    result = run_module(deploy_token_info.main,
                        base(gitlab_target, projects=[a.path_with_namespace, b.path_with_namespace]))
    assert result["changed"] is False
    rows = result["deploy_tokens"]
    assert [(r["project"], r["name"]) for r in rows] == [
        (a.path_with_namespace, "pull"), (b.path_with_namespace, "old"), (b.path_with_namespace, "forever")]
    assert all("token" not in r for r in rows)
    secret = created["deploy_token"]["token"]
    assert secret not in repr(result)
    pull, dead, eternal = rows
    assert pull["id"] == created["deploy_token"]["id"] and pull["active"] is True
    assert pull["days_until_expiry"] in (9, 10) and pull["scopes"] == ["read_registry"]
    assert dead["id"] == old.id and dead["active"] is False and dead["days_until_expiry"] in (-2, -3)
    assert eternal["id"] == forever.id and eternal["active"] is True and eternal["days_until_expiry"] is None
    assert set(pull) == {"project", "id", "name", "username", "scopes", "expires_at", "revoked", "expired",
                         "active", "days_until_expiry"}

    live = run_module(deploy_token_info.main, base(gitlab_target, project=b.path_with_namespace, active=True))
    assert [r["id"] for r in live["deploy_tokens"]] == [forever.id]
    named = run_module(deploy_token_info.main, base(gitlab_target, projects=[b.path_with_namespace], name="old"))
    assert [r["id"] for r in named["deploy_tokens"]] == [old.id]


def test_group_and_instance_wide(gitlab_target, clean_target):
    group = gitlab_target.make_group("dtig")
    token = gitlab_target.admin_client().groups.get(group.id).deploytokens.create(
        {"name": "group-pull", "scopes": ["read_registry"]})
    result = run_module(deploy_token_info.main, base(gitlab_target, group=group.full_path))
    assert [(r["group"], r["id"]) for r in result["deploy_tokens"]] == [(group.full_path, token.id)]

    everything = run_module(deploy_token_info.main, base(gitlab_target, name="group-pull"))
    assert token.id in [r["id"] for r in everything["deploy_tokens"]]
    assert all(r["project"] is None for r in everything["deploy_tokens"])


@pytest.mark.needs_control
def test_one_read_per_project(gitlab_target, projects):
    gitlab_target.clear_requests()
    run_module(deploy_token_info.main, base(gitlab_target, projects=[p.path_with_namespace for p in projects]))
    counts = gitlab_target.requests()
    assert counts["total"] == 2 and counts["writes"] == 0


def test_a_developer_is_told_what_is_missing(gitlab_target, projects):
    user, token = gitlab_target.make_user("dtidev")
    gitlab_target.add_member(projects[0], user, DEVELOPER)
    failure = run_module(deploy_token_info.main, base(gitlab_target, token=token,
                                                      projects=[projects[0].path_with_namespace]), fail=True)
    assert failure["status"] == 403 and projects[0].path_with_namespace in failure["msg"]

    not_admin = run_module(deploy_token_info.main, base(gitlab_target, token=token), fail=True)
    assert not_admin["status"] == 403 and "administrators only" in not_admin["msg"]
