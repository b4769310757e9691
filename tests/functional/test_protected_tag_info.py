# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""protected_tag_info's main() against the GitLab test server, and both modules' docs."""

from __future__ import annotations

import pytest

from ansible_cli import ansible_doc
from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.modules import protected_tag_info

from test_protected_tag import DEVELOPER, MAINTAINER, add_key, args, new_key, paths, protect


@pytest.fixture
def project(gitlab_target, clean_target):
    return gitlab_target.make_project("pti")


def test_lists_protections_with_names_and_matching_tags(gitlab_target, project):
    gl_project = gitlab_target.admin_client().projects.get(project.id)
    for tag in ("v1.0.0", "version-9.1", "march-deploy", "other"):
        gl_project.tags.create({"tag_name": tag, "ref": gl_project.default_branch})
    key = add_key(gitlab_target, project, new_key())
    protect(gitlab_target, project, "v*", MAINTAINER, allowed_to_create=[{"deploy_key_id": key.id}])
    protect(gitlab_target, project, "*-deploy", DEVELOPER)
    protect(gitlab_target, project, "release-1.0", 0)
    gitlab_target.clear_requests()
    result = run_module(protected_tag_info.main, args(gitlab_target, paths(project)))
    assert result["changed"] is False
    by_name = {item["name"]: item for item in result["protected_tags"]}
    assert sorted(by_name) == ["*-deploy", "release-1.0", "v*"]
    v = by_name["v*"]
    assert v["project"] == project.path_with_namespace
    assert sorted(v["matching_tags"]) == ["v1.0.0", "version-9.1"]
    assert v["deploy_key_ids"] == [key.id]
    assert v["allowed_to_create"] == [{"access_level": "maintainer"},
                                      {"deploy_key_id": key.id, "deploy_key": "runner-fleet"}]
    names = sorted(row["access_level_name"] for row in v["create_access_levels"])
    assert names == ["deploy_key", "maintainer"]
    assert by_name["*-deploy"]["matching_tags"] == ["march-deploy"]
    assert by_name["*-deploy"]["create_access_levels"][0]["access_level_name"] == "developer"
    assert by_name["release-1.0"]["matching_tags"] == []
    assert by_name["release-1.0"]["allowed_to_create"] == [{"access_level": "no_one"}]
    counts = gitlab_target.requests()
    assert counts["writes"] == 0 and counts["reads"] == 2  # protections + tags


def test_name_filter_and_no_tag_listing(gitlab_target, project):
    protect(gitlab_target, project, "v*", MAINTAINER)
    protect(gitlab_target, project, "stable", 0)
    gitlab_target.clear_requests()
    result = run_module(protected_tag_info.main, args(gitlab_target, paths(project), name="stable", match_tags=False))
    assert [(i["name"], "matching_tags" in i) for i in result["protected_tags"]] == [("stable", False)]
    assert gitlab_target.requests()["reads"] == 1


def test_match_branches_names_the_branches_each_pattern_covers(gitlab_target, project):
    gl_project = gitlab_target.admin_client().projects.get(project.id)
    for branch in ("v2-maintenance", "release-candidate", "feature"):
        gl_project.branches.create({"branch": branch, "ref": gl_project.default_branch})
    protect(gitlab_target, project, "v*", MAINTAINER)
    protect(gitlab_target, project, "release-*", MAINTAINER)
    gitlab_target.clear_requests()
    result = run_module(protected_tag_info.main, args(gitlab_target, paths(project), match_tags=False,
                                                      match_branches=True))
    by_name = {item["name"]: item for item in result["protected_tags"]}
    assert by_name["v*"]["matching_branches"] == ["v2-maintenance"]
    assert by_name["release-*"]["matching_branches"] == ["release-candidate"]
    assert "matching_tags" not in by_name["v*"]
    assert gitlab_target.requests()["reads"] == 2  # protections + branches
    # Off by default: no branch listing, no field.
    result = run_module(protected_tag_info.main, args(gitlab_target, paths(project), match_tags=False))
    assert all("matching_branches" not in item for item in result["protected_tags"])


def test_missing_project_fails_naming_it(gitlab_target, project):
    failure = run_module(protected_tag_info.main, args(gitlab_target, [project.path_with_namespace, "no/such"]), fail=True)
    assert "- no/such: cannot list protected tags on no/such: HTTP 404" in failure["msg"]


@pytest.mark.parametrize("module", ["protected_tag", "protected_tag_info"])
def test_ansible_doc_renders(tmp_path, module):
    doc = ansible_doc(tmp_path, module)
    assert doc.returncode == 0, doc.stderr
    assert "runnercreds.gitlab.%s" % module in doc.stdout and "EXAMPLES" in doc.stdout
    assert "[WARNING]" not in doc.stderr and "ERROR" not in doc.stderr
