"""Roles, inheritance and the 401/403/404 rules (lib/api/deploy_keys.rb,
lib/api/deploy_tokens.rb, lib/api/protected_tags.rb, app/policies/project_policy.rb)."""

from __future__ import annotations

import gitlab
import pytest
import requests

from support import sshkeys


@pytest.fixture
def scenario(gitlab_target):
    group = gitlab_target.make_group("perm")
    project = gitlab_target.make_project("app", namespace_id=group.id)
    dev, dev_token = gitlab_target.make_user("dev")
    maint, maint_token = gitlab_target.make_user("maint")
    outsider, outsider_token = gitlab_target.make_user("outsider")
    gitlab_target.add_member(project, dev, 30)
    gitlab_target.add_member(group, maint, 40)        # inherited by the project
    return {"group": group, "project": project, "dev": dev_token, "maint": maint_token,
            "outsider": outsider_token}


def _get(target, path, token=None):
    headers = {"PRIVATE-TOKEN": token} if token else {}
    return requests.get(f"{target.url}/api/v4{path}", headers=headers, timeout=10)


def test_deploy_keys_need_maintainer(gitlab_target, scenario):
    pid = scenario["project"].id
    resp = _get(gitlab_target, f"/projects/{pid}/deploy_keys")
    assert (resp.status_code, resp.json()) == (401, {"message": "401 Unauthorized"})
    resp = _get(gitlab_target, f"/projects/{pid}/deploy_keys", scenario["dev"])
    assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden"})
    resp = _get(gitlab_target, f"/projects/{pid}/deploy_keys", scenario["outsider"])
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Project Not Found"})
    resp = _get(gitlab_target, f"/projects/{pid}/deploy_keys", scenario["maint"])
    assert resp.status_code == 200 and resp.json() == []


def test_inherited_maintainer_manages_deploy_keys_with_python_gitlab(gitlab_target, scenario):
    gl = gitlab_target.client(scenario["maint"])
    project = gl.projects.get(scenario["project"].id, lazy=True)
    key = project.keys.create({"title": "ci", "key": sshkeys.public_key()})
    assert key.id in [k.id for k in project.keys.list()]
    dev_project = gitlab_target.client(scenario["dev"]).projects.get(scenario["project"].id, lazy=True)
    with pytest.raises(gitlab.GitlabCreateError) as info:
        dev_project.keys.create({"title": "ci2", "key": sshkeys.public_key()})
    assert info.value.response_code == 403


def test_deploy_tokens_unauthenticated_private_is_404(gitlab_target, scenario):
    resp = _get(gitlab_target, f"/projects/{scenario['project'].id}/deploy_tokens")
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Project Not Found"})
    resp = _get(gitlab_target, f"/projects/{scenario['project'].id}/deploy_tokens", scenario["dev"])
    assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden"})


def test_protected_tags_developer_403_non_member_404(gitlab_target, scenario):
    pid = scenario["project"].id
    assert _get(gitlab_target, f"/projects/{pid}/protected_tags", scenario["dev"]).status_code == 403
    assert _get(gitlab_target, f"/projects/{pid}/protected_tags", scenario["outsider"]).json() == \
        {"message": "404 Project Not Found"}
    assert _get(gitlab_target, f"/projects/{pid}/protected_tags", scenario["maint"]).status_code == 200


def test_public_project_visible_to_anyone_but_still_guarded(gitlab_target, admin_gl):
    name = f"pub-{gitlab_target.make_user('pubname')[0].id}"
    project = admin_gl.projects.create({"name": name, "visibility": "public"})
    assert _get(gitlab_target, f"/projects/{project.id}").status_code == 200
    resp = _get(gitlab_target, f"/projects/{project.id}/deploy_tokens")
    assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden"})
    resp = _get(gitlab_target, f"/projects/{project.id}/deploy_keys")
    assert resp.status_code == 401


def test_admin_only_endpoints(gitlab_target, scenario):
    for path in ("/deploy_keys", "/deploy_tokens"):
        resp = _get(gitlab_target, path, scenario["maint"])
        assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden"})
    resp = requests.post(f"{gitlab_target.url}/api/v4/users", headers={"PRIVATE-TOKEN": scenario["maint"]},
                         json={"username": "x", "name": "x", "email": "x@example.test", "password": "x" * 12},
                         timeout=10)
    assert resp.status_code == 403


def test_members_listing_and_removal(gitlab_target, scenario, admin_gl):
    project = admin_gl.projects.get(scenario["project"].id)
    usernames = {m.username for m in project.members.list()}
    assert len(usernames) == 1
    all_members = {m.username: m.access_level for m in project.members_all.list(get_all=True)}
    assert 40 in all_members.values() and 30 in all_members.values()
    member = project.members.list()[0]
    project.members.delete(member.id)
    assert project.members.list() == []
