# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""project_set_info's main() against the GitLab test server (or a real GitLab)."""

from __future__ import annotations

import pytest

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.modules import project_set_info


def base(target, token=None, **kwargs):
    result = dict(api_url=target.url, api_token=token or target.admin_token, max_retries=3)
    result.update(kwargs)
    return result


@pytest.fixture
def fleet(gitlab_target, clean_target):
    """platform/{api, web, sandbox-1}, platform/backend/{worker}, tools/{lint}."""
    platform = gitlab_target.make_group("psplat")
    backend = gitlab_target.make_group("psback", parent_id=platform.id)
    tools = gitlab_target.make_group("pstools")
    projects = dict(
        api=gitlab_target.make_project("api", namespace_id=platform.id),
        web=gitlab_target.make_project("web", namespace_id=platform.id),
        sandbox=gitlab_target.make_project("sandbox", namespace_id=platform.id),
        worker=gitlab_target.make_project("worker", namespace_id=backend.id),
        lint=gitlab_target.make_project("lint", namespace_id=tools.id),
    )
    paths = {name: project.path_with_namespace for name, project in projects.items()}
    return dict(platform=platform, backend=backend, tools=tools, paths=paths)


def test_groups_with_and_without_subgroups_lists_and_exclusions(gitlab_target, fleet):
    paths = fleet["paths"]
    result = run_module(project_set_info.main, base(gitlab_target, sets={
        "platform": {"groups": [fleet["platform"].full_path], "projects": [paths["lint"]],
                     "exclude": [paths["sandbox"].upper()], "exclusive": True},
        "top": {"groups": [{"group": fleet["platform"].full_path, "subgroups": False}]},
        "no_backend": {"groups": [fleet["platform"].full_path], "exclude": [fleet["backend"].full_path + "/*"]},
    }))
    assert result["changed"] is False
    assert result["projects"]["platform"] == sorted([paths["api"], paths["web"], paths["worker"], paths["lint"]])
    assert result["projects"]["top"] == sorted([paths["api"], paths["web"], paths["sandbox"]])
    assert result["projects"]["no_backend"] == sorted([paths["api"], paths["web"], paths["sandbox"]])
    assert result["all_projects"] == sorted(paths.values())
    assert result["exclusive"] == ["platform"]


@pytest.mark.needs_control
def test_each_group_is_listed_once_per_run(gitlab_target, fleet):
    gitlab_target.clear_requests()
    run_module(project_set_info.main, base(gitlab_target, sets={
        "a": {"groups": [fleet["platform"].full_path]},
        "b": {"groups": [fleet["platform"].full_path], "exclude": ["*/web*"]},
        "c": {"groups": [fleet["tools"].full_path]},
    }))
    counts = gitlab_target.requests()
    assert counts["total"] == 2 and counts["writes"] == 0


def test_a_missing_group_fails_naming_it(gitlab_target, fleet):
    failure = run_module(project_set_info.main, base(gitlab_target, sets={
        "x": {"groups": [fleet["platform"].full_path, "no-such-group-ps"]}}), fail=True)
    assert "no-such-group-ps" in failure["msg"] and failure["changed"] is False
    assert "404" in failure["msg"]


def test_a_developer_sees_only_what_they_can_read(gitlab_target, fleet):
    user, token = gitlab_target.make_user("psdev")
    project = gitlab_target.admin_client().projects.get(fleet["paths"]["api"])
    gitlab_target.add_member(project, user, 30)
    result = run_module(project_set_info.main, base(gitlab_target, token=token, sets={
        "x": {"groups": [fleet["platform"].full_path]}}))
    assert result["projects"]["x"] == [fleet["paths"]["api"]]
