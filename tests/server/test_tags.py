"""Protected tags (lib/api/protected_tags.rb) and the tags API honouring them
(lib/api/tags.rb)."""

from __future__ import annotations

import gitlab
import pytest
import requests

from support import sshkeys

# The documented protected tag (doc/api/protected_tags.md).
PROTECTED_TAG_EXAMPLE = {"name": "release-1-0", "create_access_levels": [
    {"id": 1, "access_level": 40, "access_level_description": "Maintainers", "deploy_key_id": None},
    {"id": 2, "access_level": 40, "access_level_description": "ci key", "deploy_key_id": 7}]}


@pytest.fixture
def repo(gitlab_target):
    project = gitlab_target.make_project("tags")
    dev, dev_token = gitlab_target.make_user("tagdev")
    gitlab_target.add_member(project, dev, 30)
    dev_project = gitlab_target.client(dev_token).projects.get(project.id, lazy=True)
    return project, dev_project


def _api(target, method, path, token=None, **kwargs):
    headers = {"PRIVATE-TOKEN": token or target.admin_token}
    return requests.request(method, f"{target.url}/api/v4{path}", headers=headers, timeout=10, **kwargs)


def test_protect_shape_and_duplicate(gitlab_target, repo):
    project, dummy = repo
    key = project.keys.create({"title": "ci key", "key": sshkeys.public_key(), "can_push": True})
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                json={"name": "release-1-0", "create_access_level": 40,
                      "allowed_to_create": [{"deploy_key_id": key.id}]})
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == set(PROTECTED_TAG_EXAMPLE)
    assert len(body["create_access_levels"]) == 2
    for got, example in zip(body["create_access_levels"], PROTECTED_TAG_EXAMPLE["create_access_levels"]):
        assert set(example) <= set(got)
        assert (got["access_level"], got["access_level_description"]) == \
            (example["access_level"], example["access_level_description"])
    assert body["create_access_levels"][1]["deploy_key_id"] == key.id
    assert body["create_access_levels"][0]["deploy_key_id"] is None
    dup = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags", json={"name": "release-1-0"})
    assert (dup.status_code, dup.json()) == (422, {"message": ["Name has already been taken"]})


def test_defaults_and_deploy_key_only_rule(gitlab_target, repo):
    project, dummy = repo
    tag = project.protectedtags.create({"name": "v*"})
    assert [(a["access_level"], a["access_level_description"]) for a in tag.create_access_levels] == \
        [(40, "Maintainers")]
    key = project.keys.create({"title": "pusher", "key": sshkeys.public_key(), "can_push": True})
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                json={"name": "deploy-*", "allowed_to_create": [{"deploy_key_id": key.id}]})
    levels = resp.json()["create_access_levels"]
    assert [(lv["deploy_key_id"], lv["access_level_description"]) for lv in levels] == [(key.id, "pusher")]
    nobody = project.protectedtags.create({"name": "frozen", "create_access_level": 0})
    assert nobody.create_access_levels[0]["access_level_description"] == "No one"
    devs = project.protectedtags.create({"name": "dev-*", "create_access_level": 30})
    assert devs.create_access_levels[0]["access_level_description"] == "Developers + Maintainers"


def test_deploy_key_entry_must_be_enabled_with_push(gitlab_target, repo):
    project, dummy = repo
    ro = project.keys.create({"title": "ro", "key": sshkeys.public_key(), "can_push": False})
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                json={"name": "r*", "allowed_to_create": [{"deploy_key_id": ro.id}]})
    assert resp.status_code == 422
    assert isinstance(resp.json()["message"], list) and resp.json()["message"]
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                json={"name": "r*", "allowed_to_create": [{"deploy_key_id": 99999999}]})
    assert resp.status_code == 422


def test_bad_level_get_unprotect_and_patch(gitlab_target, repo):
    project, dummy = repo
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                json={"name": "x", "create_access_level": 20})
    assert resp.json() == {"error": "create_access_level does not have a valid value"}
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags", json={})
    assert resp.json() == {"error": "name is missing"}
    project.protectedtags.create({"name": "rel/*"})
    got = project.protectedtags.get("rel/*")
    assert got.name == "rel/*"
    resp = _api(gitlab_target, "GET", f"/projects/{project.id}/protected_tags/nope")
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Not found"})
    resp = _api(gitlab_target, "PATCH", f"/projects/{project.id}/protected_tags/rel%2F%2A", json={})
    assert (resp.status_code, resp.json()) == (405, {"error": "405 Not Allowed"})
    project.protectedtags.delete("rel/*")
    assert project.protectedtags.list() == []


def test_developer_blocked_by_protected_pattern(gitlab_target, repo):
    project, dev_project = repo
    project.protectedtags.create({"name": "v*"})
    with pytest.raises(gitlab.GitlabCreateError) as info:
        dev_project.tags.create({"tag_name": "v1.0.0", "ref": "main"})
    assert info.value.response_code == 400
    assert info.value.error_message == "You are not allowed to create this tag as it is protected."
    tag = dev_project.tags.create({"tag_name": "nightly-1", "ref": "main"})
    assert tag.protected is False
    maint_tag = project.tags.create({"tag_name": "v1.0.0", "ref": "main", "message": "release"})
    assert maint_tag.protected is True and maint_tag.message == "release"
    assert {t.name for t in dev_project.tags.list(get_all=True)} == {"v1.0.0", "nightly-1"}
    # Deleting a protected tag needs Maintainer.
    with pytest.raises(gitlab.GitlabDeleteError) as info:
        dev_project.tags.delete("v1.0.0")
    assert info.value.response_code == 403
    dev_project.tags.delete("nightly-1")
    project.tags.delete("v1.0.0")
    assert project.tags.list() == []


def test_most_permissive_matching_rule_wins(gitlab_target, repo):
    project, dev_project = repo
    project.protectedtags.create({"name": "*", "create_access_level": 40})
    project.protectedtags.create({"name": "rc-*", "create_access_level": 30})
    assert dev_project.tags.create({"tag_name": "rc-1", "ref": "main"}).protected is True
    with pytest.raises(gitlab.GitlabCreateError):
        dev_project.tags.create({"tag_name": "other", "ref": "main"})


def test_wildcards_match_slashes_and_empty(gitlab_target, repo):
    project, dev_project = repo
    project.protectedtags.create({"name": "*gitlab*"})
    for name in ("gitlab", "gitlab/v1", "my-gitlab-tag"):
        with pytest.raises(gitlab.GitlabCreateError):
            dev_project.tags.create({"tag_name": name, "ref": "main"})
    assert dev_project.tags.create({"tag_name": "gitla", "ref": "main"}).protected is False


def test_tag_api_errors(gitlab_target, repo):
    project, dummy = repo
    project.tags.create({"tag_name": "t1", "ref": "main"})
    for body, message in (({"tag_name": "t1", "ref": "main"}, "Tag t1 already exists"),
                          ({"tag_name": "t2", "ref": "nope"}, "Target nope is invalid"),
                          ({"tag_name": "bad..name", "ref": "main"}, "Tag name invalid")):
        resp = _api(gitlab_target, "POST", f"/projects/{project.id}/repository/tags", json=body)
        assert (resp.status_code, resp.json()) == (400, {"message": message})
    resp = _api(gitlab_target, "GET", f"/projects/{project.id}/repository/tags/none")
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Tag Not Found"})
    tag = _api(gitlab_target, "GET", f"/projects/{project.id}/repository/tags/t1").json()
    assert set(tag) >= {"name", "message", "target", "commit", "release", "protected", "created_at"}
    assert tag["commit"]["id"] == tag["target"]


def test_branches_list(gitlab_target, repo):
    project, dev_project = repo
    project.branches.create({"branch": "develop", "ref": "main"})
    names = [b.name for b in dev_project.branches.list(get_all=True)]
    assert names == ["develop", "main"]
    main = dev_project.branches.get("main")
    assert main.default is True and main.commit["id"]
    empty = gitlab_target.make_project("empty", initialize_with_readme=False)
    assert empty.branches.list() == []
    assert empty.empty_repo is True
