# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet rules: kinds per host, project-set expansion, expectations, what an exclusive set prunes."""

from __future__ import annotations

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils._fleet import (
    FleetError,
    expand_projects,
    expectations,
    host_kinds,
    prune_plan,
    tag_policies,
)

SETS = {"platform": ["platform/api", "platform/web"], "tools": ["tools/lint", "platform/api"]}


def test_kinds_default_to_what_the_host_is_given():
    assert host_kinds("h", {"runner_ssh_key_projects": [{"project": "a/b"}]}) == ["ssh_key"]
    assert host_kinds("h", {"runner_deploy_token_tokens": [{"name": "t"}]}) == ["deploy_token"]
    assert host_kinds("h", {}) == []
    assert host_kinds("h", {"runnercreds_credentials": ["deploy_token", "deploy_token"],
                            "runner_ssh_key_projects": [{"project": "a/b"}]}) == ["deploy_token"]
    with pytest.raises(FleetError, match="runnercreds_credentials must be a list"):
        host_kinds("h", {"runnercreds_credentials": "ssh_key"})


def test_sets_expand_and_conflicting_can_push_is_refused():
    entries = [{"project_set": "platform", "can_push": True}, {"project": "ops/x"}]
    assert expand_projects("h", entries, SETS) == [
        {"project": "platform/api", "can_push": True}, {"project": "platform/web", "can_push": True},
        {"project": "ops/x", "can_push": False}]
    with pytest.raises(FleetError, match=r"runner_ssh_key_projects\[0\] and runner_ssh_key_projects\[1\] give "
                                         r"platform/api different can_push"):
        expand_projects("h", [{"project_set": "platform", "can_push": True}, {"project_set": "tools"}], SETS)
    with pytest.raises(FleetError, match="not a project set"):
        expand_projects("h", [{"project_set": "nope"}], SETS)
    with pytest.raises(FleetError, match="both project and project_set"):
        expand_projects("h", [{"project_set": "tools", "project": "a/b"}], SETS)


def fleet():
    return expectations({
        "build-01": {"runner_ssh_key_projects": [{"project_set": "platform"}]},
        "release-01": {"runner_ssh_key_projects": [{"project_set": "platform", "can_push": True}]},
        "deploy-01": {"runnercreds_credentials": ["deploy_token"],
                      "runner_ssh_key_projects": [{"project_set": "platform"}],
                      "runner_deploy_token_tokens": [{"name": "pull", "group": "Platform"}]},
    }, SETS)


def test_expectations_name_every_hosts_key_and_token_where_it_belongs():
    expected = fleet()
    assert expected["keys"]["platform/api"] == {"runner:build-01": False, "runner:release-01": True}
    assert expected["hosts"]["deploy-01"]["key_title"] is None  # no SSH key for a host that needs none
    assert expected["tokens"] == {"group:platform": ["pull"]}


def test_prune_removes_only_what_no_inventory_host_uses_in_scope():
    keys = [
        {"title": "runner:build-01", "key": "k1", "fingerprint_sha256": "SHA256:1",
         "projects": [{"project": "platform/api"}, {"project": "platform/web"}]},
        {"title": "runner:gone", "key": "k2", "fingerprint_sha256": "SHA256:2",
         "projects": [{"project": "platform/api"}, {"project": "elsewhere/x"}]},
        {"title": "runner:deploy-01", "key": "k3", "fingerprint_sha256": "SHA256:3",
         "projects": [{"project": "Platform/Web"}]},
    ]
    tokens = [{"group": "platform", "name": "pull", "id": 1}, {"group": "platform", "name": "old", "id": 2},
              {"project": "platform/api", "name": "old", "id": 3},
              {"project": "platform/api", "name": "gone", "id": 4, "revoked": True}]
    plan = prune_plan(fleet(), ["platform/api", "platform/web"], keys, tokens, ["platform"])
    assert [(e["title"], e["projects"]) for e in plan["deploy_keys"]] == [
        ("runner:deploy-01", ["Platform/Web"]), ("runner:gone", ["platform/api"])]
    assert plan["deploy_tokens"] == [{"name": "old", "projects": ["platform/api"]},
                                     {"name": "old", "groups": ["platform"]}]


def test_tag_policies_expand_sets_and_deploy_keys_of_a_group():
    tasks = tag_policies([{"project_set": "platform", "projects": ["ops/x"], "name": "v*",
                           "allowed_to_create": [{"access_level": "maintainer"}, {"deploy_keys_of": "release"}]}],
                         fleet(), {"release": ["release-01"], "deploy": ["deploy-01"]}, SETS)
    assert tasks == [{"projects": ["ops/x", "platform/api", "platform/web"], "name": "v*",
                      "allowed_to_create": [{"access_level": "maintainer"}, {"deploy_key": "runner:release-01"}]}]
    with pytest.raises(FleetError, match="no host of group 'deploy' gets an SSH key"):
        tag_policies([{"projects": ["a/b"], "name": "v*", "allowed_to_create": [{"deploy_keys_of": "deploy"}]}],
                     fleet(), {"deploy": ["deploy-01"]}, SETS)
    with pytest.raises(FleetError, match="not a key of a tag policy"):
        tag_policies([{"projects": ["a/b"], "nmae": "v*"}], fleet(), {}, SETS)
