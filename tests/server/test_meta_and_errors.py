"""/version, /user, authentication and GitLab's error shapes (lib/api/helpers.rb,
lib/api/api.rb, doc/api/rest/authentication.md)."""

from __future__ import annotations

import requests

# The documented example responses (doc/api/metadata.md).
VERSION_EXAMPLE = {"version": "17.5.0", "revision": "c401a659d0c",
                   "kas": {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None, "version": None},
                   "enterprise": False}


def _types(doc: dict) -> dict:
    return {k: (type(v).__name__ if not isinstance(v, dict) else _types(v)) for k, v in doc.items()}


def test_version_matches_documented_example(gitlab_target, admin_gl):
    resp = requests.get(f"{gitlab_target.url}/api/v4/version",
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == set(VERSION_EXAMPLE)
    assert set(body["kas"]) == set(VERSION_EXAMPLE["kas"])
    assert isinstance(body["version"], str) and isinstance(body["revision"], str)
    assert isinstance(body["enterprise"], bool)
    version, revision = admin_gl.version()
    assert version == body["version"] and revision == body["revision"]
    metadata = requests.get(f"{gitlab_target.url}/api/v4/metadata",
                            headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert metadata.json() == body


def test_version_requires_authentication(gitlab_target):
    resp = requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"message": "401 Unauthorized"}


def test_current_user_via_python_gitlab(gitlab_target, admin_gl):
    admin_gl.auth()
    me = admin_gl.user
    assert me.is_admin is True
    assert me.web_url == f"{gitlab_target.url}/{me.username}"


def test_every_token_transport_is_accepted(gitlab_target):
    user, token = gitlab_target.make_user("transport")
    url = f"{gitlab_target.url}/api/v4/user"
    for kwargs in ({"headers": {"PRIVATE-TOKEN": token}}, {"params": {"private_token": token}},
                   {"headers": {"Authorization": f"Bearer {token}"}}):
        resp = requests.get(url, timeout=10, **kwargs)
        assert resp.status_code == 200, kwargs
        assert resp.json()["username"] == user.username
        assert "is_admin" not in resp.json()


def test_job_token_is_ignored_so_the_request_is_unauthenticated(gitlab_target):
    resp = requests.get(f"{gitlab_target.url}/api/v4/user", headers={"JOB-TOKEN": gitlab_target.admin_token},
                        timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"message": "401 Unauthorized"}


def test_invalid_token_is_401_with_message_body(gitlab_target):
    resp = requests.get(f"{gitlab_target.url}/api/v4/user", headers={"PRIVATE-TOKEN": "nope"}, timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"message": "401 Unauthorized"}


def test_security_headers_on_every_response(gitlab_target):
    for path in ("/api/v4/version", "/api/v4/no/such/route", "/api/v4/user"):
        resp = requests.get(gitlab_target.url + path, timeout=10)
        assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Type"].startswith("application/json")


def test_unknown_route_is_404_error_shape(gitlab_target):
    resp = requests.get(f"{gitlab_target.url}/api/v4/no/such/route",
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert resp.status_code == 404
    assert resp.json() == {"error": "404 Not Found"}


def test_wrong_method_on_known_path_is_405_with_allow(gitlab_target):
    project = gitlab_target.make_project("m405")
    resp = requests.patch(f"{gitlab_target.url}/api/v4/projects/{project.id}/protected_tags/v1",
                          headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert resp.status_code == 405
    assert resp.json() == {"error": "405 Not Allowed"}
    allow = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert {"GET", "DELETE"} <= allow and "PATCH" not in allow


def test_api_v3_is_gone(gitlab_target):
    resp = requests.get(f"{gitlab_target.url}/api/v3/projects", timeout=10)
    assert resp.status_code == 410
    assert resp.json() == {"error": "API V3 is no longer supported. Use API V4 instead."}


def test_missing_project_messages(gitlab_target):
    h = {"PRIVATE-TOKEN": gitlab_target.admin_token}
    for ref in ("999999", "no-such%2Fproject"):
        resp = requests.get(f"{gitlab_target.url}/api/v4/projects/{ref}/deploy_keys", headers=h, timeout=10)
        assert resp.status_code == 404
        assert resp.json() == {"message": "404 Project Not Found"}
    resp = requests.get(f"{gitlab_target.url}/api/v4/groups/no-such-group-x", headers=h, timeout=10)
    assert resp.json() == {"message": "404 Group Not Found"}
    resp = requests.get(f"{gitlab_target.url}/api/v4/users/999999", headers=h, timeout=10)
    assert resp.status_code == 404 and resp.json() == {"message": "404 User Not Found"}


def test_project_by_url_encoded_path_and_group_by_path(gitlab_target, admin_gl):
    group = gitlab_target.make_group("enc")
    sub = gitlab_target.make_group("sub", parent_id=group.id)
    project = gitlab_target.make_project("p", namespace_id=sub.id)
    assert project.path_with_namespace == f"{group.path}/{sub.path}/{project.path}"
    same = admin_gl.projects.get(project.path_with_namespace)
    assert same.id == project.id
    raw = requests.get(f"{gitlab_target.url}/api/v4/projects/{group.path}%2F{sub.path}%2F{project.path}",
                       headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert raw.status_code == 200 and raw.json()["id"] == project.id
    assert admin_gl.groups.get(sub.full_path).id == sub.id
    assert admin_gl.groups.get(f"{group.path}/{sub.path}").full_name == f"{group.name} / {sub.name}"


def test_users_lookup_by_username(gitlab_target, admin_gl):
    user, dummy = gitlab_target.make_user("lookup")
    found = admin_gl.users.list(username=user.username)
    assert [u.id for u in found] == [user.id]
    assert admin_gl.users.get(user.id).username == user.username
    assert admin_gl.users.list(username="no-such-user-zz") == []


def test_delete_project_is_202_accepted(gitlab_target):
    project = gitlab_target.make_project("del")
    h = {"PRIVATE-TOKEN": gitlab_target.admin_token}
    resp = requests.delete(f"{gitlab_target.url}/api/v4/projects/{project.id}", headers=h, timeout=10)
    assert resp.status_code == 202
    assert resp.json() == {"message": "202 Accepted"}
