"""Deploy tokens: lib/api/deploy_tokens.rb, app/models/deploy_token.rb."""

from __future__ import annotations

import datetime

import gitlab
import pytest
import requests

# The documented create response (doc/api/deploy_tokens.md).
TOKEN_EXAMPLE = {"id": 1, "name": "My deploy token", "username": "custom-user",
                 "expires_at": "2021-01-01T00:00:00.000Z", "token": "gldt-...", "revoked": False,
                 "expired": False, "scopes": ["read_repository"]}


def test_create_returns_token_once_list_never(gitlab_target):
    project = gitlab_target.make_project("dt")
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    resp = requests.post(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_tokens",
                         headers={"PRIVATE-TOKEN": gitlab_target.admin_token},
                         json={"name": "My deploy token", "scopes": ["read_repository"], "expires_at": tomorrow,
                               "username": "custom-user"}, timeout=10)
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == set(TOKEN_EXAMPLE)
    for field, example in TOKEN_EXAMPLE.items():
        assert isinstance(body[field], type(example)), field
    assert body["token"].startswith("gldt-")
    assert body["expires_at"] == f"{tomorrow}T00:00:00.000Z"
    listed = project.deploytokens.list(get_all=True)
    assert [t.id for t in listed] == [body["id"]]
    assert "token" not in listed[0].attributes
    assert "token" not in project.deploytokens.get(body["id"]).attributes


def test_default_username_uses_token_id_and_scopes_string(gitlab_target):
    project = gitlab_target.make_project("dtu")
    resp = requests.post(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_tokens",
                         headers={"PRIVATE-TOKEN": gitlab_target.admin_token},
                         data={"name": "t", "scopes": "read_registry, write_registry"}, timeout=10)
    assert resp.status_code == 201
    body = resp.json()
    assert body["username"] == f"gitlab+deploy-token-{body['id']}"
    assert body["scopes"] == ["read_registry", "write_registry"]
    assert body["expires_at"] is None and body["expired"] is False


def test_scope_and_date_validation(gitlab_target):
    project = gitlab_target.make_project("dtv")
    url = f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_tokens"
    h = {"PRIVATE-TOKEN": gitlab_target.admin_token}
    resp = requests.post(url, headers=h, json={"name": "t", "scopes": ["write_repository"]}, timeout=10)
    assert (resp.status_code, resp.json()) == (400, {"error": "scopes does not have a valid value"})
    resp = requests.post(url, headers=h, json={"name": "t", "scopes": ["read_repository"], "expires_at": "soon"},
                         timeout=10)
    assert resp.json() == {"error": "expires_at is invalid"}
    resp = requests.post(url, headers=h, json={}, timeout=10)
    assert resp.json() == {"error": "name is missing, scopes is missing"}
    resp = requests.post(url, headers=h, json={"name": "t", "scopes": []}, timeout=10)
    assert (resp.status_code, resp.json()) == (400, {"message": "Scopes can't be blank"})
    resp = requests.post(url, headers=h, json={"name": "t", "scopes": ["read_repository"], "username": "bad user"},
                         timeout=10)
    assert resp.json() == {"message": "Username can contain only letters, digits, '_', '-', '+', and '.'"}


def test_expired_is_computed_against_today(gitlab_target):
    project = gitlab_target.make_project("dte")
    today = datetime.date.today().isoformat()
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    t_today = project.deploytokens.create({"name": "today", "scopes": ["read_repository"], "expires_at": today})
    t_past = project.deploytokens.create({"name": "past", "scopes": ["read_repository"], "expires_at": yesterday})
    assert t_today.expired is False
    assert t_past.expired is True
    # active=true is DeployToken.active, expires_at >= NOW() on the timestamp
    # (app/models/deploy_token.rb): today at 00:00 has passed, so the token
    # that is not "expired" yet is not active either.
    active = [t.id for t in project.deploytokens.list(active=True, get_all=True)]
    assert t_today.id not in active and t_past.id not in active


def test_delete_and_not_found(gitlab_target):
    project = gitlab_target.make_project("dtd")
    token = project.deploytokens.create({"name": "gone", "scopes": ["read_repository"]})
    project.deploytokens.delete(token.id)
    assert project.deploytokens.list() == []
    resp = requests.get(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_tokens/{token.id}",
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Not found"})


def test_group_tokens_need_owner(gitlab_target):
    group = gitlab_target.make_group("dtg")
    maint, maint_token = gitlab_target.make_user("gmaint")
    owner, owner_token = gitlab_target.make_user("gowner")
    gitlab_target.add_member(group, maint, 40)
    gitlab_target.add_member(group, owner, 50)
    as_maint = gitlab_target.client(maint_token).groups.get(group.id, lazy=True)
    as_owner = gitlab_target.client(owner_token).groups.get(group.id, lazy=True)
    with pytest.raises(gitlab.GitlabCreateError) as info:
        as_maint.deploytokens.create({"name": "x", "scopes": ["read_registry"]})
    assert info.value.response_code == 403
    token = as_owner.deploytokens.create({"name": "x", "scopes": ["read_registry"]})
    assert token.token.startswith("gldt-")
    assert [t.id for t in as_maint.deploytokens.list()] == [token.id]     # Maintainer may read
    with pytest.raises(gitlab.GitlabDeleteError) as info:
        as_maint.deploytokens.delete(token.id)
    assert info.value.response_code == 403
    as_owner.deploytokens.delete(token.id)


def test_instance_list_is_admin_only(gitlab_target, admin_gl):
    project = gitlab_target.make_project("dti")
    token = project.deploytokens.create({"name": "inst", "scopes": ["read_repository"]})
    assert token.id in [t.id for t in admin_gl.deploytokens.list(get_all=True)]
    dummy, user_token = gitlab_target.make_user("dtiu")
    with pytest.raises(gitlab.GitlabListError) as info:
        gitlab_target.client(user_token).deploytokens.list()
    assert info.value.response_code == 403
