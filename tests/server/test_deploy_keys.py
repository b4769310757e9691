"""Deploy keys through python-gitlab and raw HTTP (lib/api/deploy_keys.rb)."""

from __future__ import annotations

import gitlab
import pytest
import requests

from support import sshkeys

# The documented DeployKeysProject list item (doc/api/deploy_keys.md).
DEPLOY_KEYS_PROJECT_EXAMPLE = {
    "id": 1, "title": "Public key", "created_at": "2013-10-02T10:12:29Z", "expires_at": None,
    "key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDNJAkI3W... comment", "usage_type": "auth_and_signing",
    "fingerprint": "4a:9d:64:15:ed:3a:e6:07:6e:89:36:b3:3b:03:05:d9",
    "fingerprint_sha256": "Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU", "can_push": False,
}


def _post(target, path, token, **body):
    return requests.post(f"{target.url}/api/v4{path}", headers={"PRIVATE-TOKEN": token}, json=body, timeout=10)


def test_crud_and_shape_match_documented_example(gitlab_target):
    project = gitlab_target.make_project("dk")
    key_text = sshkeys.public_key("ed25519", comment="ci@runner")
    key = project.keys.create({"title": "ci", "key": key_text, "can_push": True})
    raw = requests.get(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_keys/{key.id}",
                       headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10).json()
    assert set(raw) == set(DEPLOY_KEYS_PROJECT_EXAMPLE)
    for field, example in DEPLOY_KEYS_PROJECT_EXAMPLE.items():
        if example is not None:
            assert isinstance(raw[field], type(example)), field
    assert raw["created_at"].endswith("Z")
    assert raw["can_push"] is True and raw["key"] == key_text
    listed = project.keys.list(get_all=True)
    assert [k.id for k in listed] == [key.id]
    key.title = "ci-renamed"
    key.can_push = False
    key.save()
    again = project.keys.get(key.id)
    assert (again.title, again.can_push) == ("ci-renamed", False)
    project.keys.delete(key.id)
    assert project.keys.list() == []


def test_fingerprints_match_ssh_keygen(gitlab_target):
    project = gitlab_target.make_project("fp")
    for kind, bits in (("ed25519", None), ("rsa", 2048), ("ecdsa", 384)):
        key_text = sshkeys.public_key(kind, bits)
        sha, md5 = sshkeys.ssh_keygen_fingerprints(key_text)
        key = project.keys.create({"title": kind, "key": key_text})
        assert "SHA256:" + key.fingerprint_sha256 == sha
        assert not key.fingerprint_sha256.endswith("=")
        assert "MD5:" + key.fingerprint == md5


def test_enable_existing_key_on_second_project(gitlab_target):
    project1 = gitlab_target.make_project("one")
    project2 = gitlab_target.make_project("two")
    deploy_key = project1.keys.create({"title": "shared", "key": sshkeys.public_key()})
    enabled = project2.keys.enable(deploy_key.id)
    assert enabled["id"] == deploy_key.id and "can_push" not in enabled
    assert deploy_key in project2.keys.list()
    again = project2.keys.enable(deploy_key.id)          # idempotent
    assert again["id"] == deploy_key.id
    project2.keys.delete(deploy_key.id)
    assert deploy_key not in project2.keys.list()
    assert deploy_key in project1.keys.list()


def test_enable_unknown_key_is_404(gitlab_target):
    project = gitlab_target.make_project("en404")
    with pytest.raises(gitlab.GitlabProjectDeployKeyError) as info:
        project.keys.enable(99999999)
    assert info.value.response_code == 404
    assert info.value.error_message == "404 Deploy key Not Found"


def test_post_of_key_already_in_project_returns_it_unchanged(gitlab_target):
    project = gitlab_target.make_project("reuse")
    key_text = sshkeys.public_key(comment="one")
    first = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                  title="first", key=key_text, can_push=True)
    second = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                   title="other title", key=key_text + "\n", can_push=False)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.json()["title"] == "first" and second.json()["can_push"] is True


def test_post_of_accessible_key_links_same_id_keeps_title(gitlab_target):
    p1, p2 = gitlab_target.make_project("l1"), gitlab_target.make_project("l2")
    key_text = sshkeys.public_key()
    k1 = _post(gitlab_target, f"/projects/{p1.id}/deploy_keys", gitlab_target.admin_token,
               title="orig", key=key_text).json()
    resp = _post(gitlab_target, f"/projects/{p2.id}/deploy_keys", gitlab_target.admin_token,
                 title="ignored", key=key_text, can_push="true")
    assert resp.status_code == 201
    body = resp.json()
    assert (body["id"], body["title"], body["can_push"]) == (k1["id"], "orig", True)


def test_post_of_key_in_someone_elses_project_is_fingerprint_taken(gitlab_target):
    p_admin = gitlab_target.make_project("theirs")
    user, token = gitlab_target.make_user("other")
    p_user = gitlab_target.make_project("mine")
    gitlab_target.add_member(p_user, user, 40)
    key_text = sshkeys.public_key()
    assert _post(gitlab_target, f"/projects/{p_admin.id}/deploy_keys", gitlab_target.admin_token,
                 title="a", key=key_text).status_code == 201
    resp = _post(gitlab_target, f"/projects/{p_user.id}/deploy_keys", token, title="b", key=key_text)
    assert resp.status_code == 400
    assert resp.json() == {"message": {"deploy_key.fingerprint_sha256": ["has already been taken"]}}


def test_public_key_is_linked_for_any_maintainer(gitlab_target, admin_gl):
    key_text = sshkeys.public_key()
    public = admin_gl.deploykeys.create({"title": "instance", "key": key_text})
    user, token = gitlab_target.make_user("pk")
    project = gitlab_target.make_project("pk")
    gitlab_target.add_member(project, user, 40)
    resp = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", token, title="mine", key=key_text)
    assert resp.status_code == 201
    assert (resp.json()["id"], resp.json()["title"]) == (public.id, "instance")


def test_key_with_multi_word_comment_is_sanitised(gitlab_target):
    project = gitlab_target.make_project("san")
    bare = sshkeys.public_key(comment=None)
    resp = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                 title="t", key=f"  {bare} ci runner key\n")
    assert resp.status_code == 201
    assert resp.json()["key"] == f"{bare} ci"
    # python-gitlab#930: the same raw text misses the raw-string match and
    # collides with itself on the fingerprint.
    again = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                  title="t", key=f"{bare} ci runner key")
    assert again.status_code == 400
    assert again.json() == {"message": {"deploy_key.fingerprint_sha256": ["has already been taken"]}}


def test_validation_errors(gitlab_target):
    project = gitlab_target.make_project("val")
    path = f"/projects/{project.id}/deploy_keys"
    token = gitlab_target.admin_token
    resp = _post(gitlab_target, path, token)
    assert (resp.status_code, resp.json()) == (400, {"error": "key is missing, title is missing"})
    resp = _post(gitlab_target, path, token, key=sshkeys.public_key())
    assert resp.json() == {"error": "title is missing"}
    resp = _post(gitlab_target, path, token, key="ssh-rsa not-base64!!", title="bad")
    assert resp.status_code == 400
    body = resp.json()["message"]
    assert body["deploy_key.fingerprint_sha256"] == ["cannot be generated"]
    assert "deploy_key.key" in body
    resp = _post(gitlab_target, path, token, key=sshkeys.public_key(), title="")
    assert resp.json() == {"message": {"deploy_key.title": ["can't be blank"]}}
    resp = _post(gitlab_target, path, token, key=sshkeys.public_key(), title="x", expires_at="garbage")
    assert resp.json() == {"error": "expires_at is invalid"}


def test_expired_key_is_refused(gitlab_target):
    project = gitlab_target.make_project("exp")
    resp = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                 key=sshkeys.public_key(), title="old", expires_at="2020-01-01T00:00:00Z")
    assert resp.status_code == 400
    assert resp.json() == {"message": {"deploy_key.key": ["has expired"]}}
    future = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                   key=sshkeys.public_key(), title="new", expires_at="2999-01-01")
    assert future.status_code == 201
    assert future.json()["expires_at"] == "2999-01-01T00:00:00.000Z"


def test_update_needs_a_parameter(gitlab_target):
    project = gitlab_target.make_project("upd")
    key = project.keys.create({"title": "k", "key": sshkeys.public_key()})
    resp = requests.put(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_keys/{key.id}",
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, json={}, timeout=10)
    assert resp.status_code == 400
    assert resp.json() == {"error": "title, can_push are missing, at least one parameter must be provided"}
    resp = requests.put(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_keys/999999",
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, json={"title": "x"}, timeout=10)
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Not found"})
    resp = requests.delete(f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_keys/999999",
                           headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Deploy key Not Found"})


def test_title_change_ignored_for_shared_and_public_keys(gitlab_target, admin_gl):
    user, token = gitlab_target.make_user("titles")
    p1, p2 = gitlab_target.make_project("t1"), gitlab_target.make_project("t2")
    gitlab_target.add_member(p1, user, 40)
    gitlab_target.add_member(p2, user, 40)
    gl = gitlab_target.client(token)
    up1, up2 = gl.projects.get(p1.id, lazy=True), gl.projects.get(p2.id, lazy=True)
    # Private key in exactly one maintained project: title applies.
    key = up1.keys.create({"title": "solo", "key": sshkeys.public_key()})
    key.title = "solo-renamed"
    key.save()
    assert up1.keys.get(key.id).title == "solo-renamed"
    # Enabled in two projects: title silently ignored, can_push applied.
    up2.keys.enable(key.id)
    shared = up1.keys.get(key.id)
    shared.title = "nope"
    shared.can_push = True
    shared.save()
    fresh = up1.keys.get(key.id)
    assert (fresh.title, fresh.can_push) == ("solo-renamed", True)
    # A public key: maintainer gets 200, title unchanged.
    public = admin_gl.deploykeys.create({"title": "instance-key", "key": sshkeys.public_key()})
    up1.keys.enable(public.id)
    resp = requests.put(f"{gitlab_target.url}/api/v4/projects/{p1.id}/deploy_keys/{public.id}",
                        headers={"PRIVATE-TOKEN": token}, json={"title": "hijack"}, timeout=10)
    assert resp.status_code == 200 and resp.json()["title"] == "instance-key"
    # The admin may rename it.
    resp = requests.put(f"{gitlab_target.url}/api/v4/projects/{p1.id}/deploy_keys/{public.id}",
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, json={"title": "renamed"},
                        timeout=10)
    assert resp.json()["title"] == "renamed"


def test_orphaned_private_key_is_destroyed_public_survives(gitlab_target, admin_gl):
    project = gitlab_target.make_project("orph")
    private = project.keys.create({"title": "private", "key": sshkeys.public_key()})
    public = admin_gl.deploykeys.create({"title": "public", "key": sshkeys.public_key()})
    project.keys.enable(public.id)
    project.keys.delete(private.id)
    project.keys.delete(public.id)
    ids = {k.id for k in admin_gl.deploykeys.list(get_all=True)}
    assert private.id not in ids
    assert public.id in ids
    # The orphan is gone: enabling it again is a 404.
    with pytest.raises(gitlab.GitlabProjectDeployKeyError):
        project.keys.enable(private.id)


def test_admin_list_has_project_access_arrays(gitlab_target, admin_gl):
    p1, p2 = gitlab_target.make_project("a1"), gitlab_target.make_project("a2")
    key = p1.keys.create({"title": "rw", "key": sshkeys.public_key(), "can_push": True})
    p2.keys.enable(key.id)
    entry = next(k for k in admin_gl.deploykeys.list(get_all=True) if k.id == key.id)
    assert [p["id"] for p in entry.projects_with_write_access] == [p1.id]
    assert [p["id"] for p in entry.projects_with_readonly_access] == [p2.id]
    assert set(entry.projects_with_write_access[0]) == {
        "id", "description", "name", "name_with_namespace", "path", "path_with_namespace", "created_at"}
    public_only = admin_gl.deploykeys.list(public=True, get_all=True)
    assert key.id not in [k.id for k in public_only]


def test_admin_create_public_key_errors(gitlab_target, admin_gl):
    key_text = sshkeys.public_key()
    created = admin_gl.deploykeys.create({"title": "pub", "key": key_text})
    assert created.key == key_text and created.fingerprint_sha256
    resp = _post(gitlab_target, "/deploy_keys", gitlab_target.admin_token, title="dup", key=key_text)
    assert (resp.status_code, resp.json()) == (400, {"message": {"fingerprint_sha256": ["has already been taken"]}})
    resp = _post(gitlab_target, "/deploy_keys", gitlab_target.admin_token, key=key_text)
    assert resp.json() == {"error": "title is missing"}


def test_keys_lookup_by_fingerprint(gitlab_target, admin_gl):
    project = gitlab_target.make_project("kfp")
    key = project.keys.create({"title": "look", "key": sshkeys.public_key(), "can_push": True})
    found = admin_gl.keys.get(fingerprint=f"SHA256:{key.fingerprint_sha256}")
    assert found.id == key.id
    assert found.deploy_keys_projects[0]["project_id"] == project.id
    assert found.deploy_keys_projects[0]["can_push"] is True
    resp = requests.get(f"{gitlab_target.url}/api/v4/keys", params={"fingerprint": "SHA256:nope"},
                        headers={"PRIVATE-TOKEN": gitlab_target.admin_token}, timeout=10)
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Key Not Found"})


def test_key_type_restrictions_from_settings(gitlab_target, admin_gl):
    project = gitlab_target.make_project("restr")
    settings = admin_gl.settings.get()
    old = {"rsa_key_restriction": settings.rsa_key_restriction, "dsa_key_restriction": settings.dsa_key_restriction}
    try:
        settings.rsa_key_restriction = 3072
        settings.dsa_key_restriction = -1
        settings.save()
        resp = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                     title="small", key=sshkeys.public_key("rsa", 2048))
        assert resp.status_code == 400
        assert resp.json() == {"message": {"deploy_key.key": ["must be at least 3072 bits"]}}
        resp = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                     title="dsa", key=sshkeys.public_key("dsa", 1024))
        assert resp.json() == {"message": {"deploy_key.key": [
            "type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK"]}}
    finally:
        for name, value in old.items():
            setattr(settings, name, value)
        settings.save()


def test_user_ssh_key_blocks_same_deploy_key(gitlab_target):
    user, token = gitlab_target.make_user("sshuser")
    key_text = sshkeys.public_key()
    user.keys.create({"title": "laptop", "key": key_text})
    del token
    project = gitlab_target.make_project("clash")
    resp = _post(gitlab_target, f"/projects/{project.id}/deploy_keys", gitlab_target.admin_token,
                 title="ci", key=key_text)
    assert resp.status_code == 400
    assert resp.json() == {"message": {"deploy_key.fingerprint_sha256": ["has already been taken"]}}


def test_user_project_deploy_keys_lists_keys_of_maintained_projects(gitlab_target, clean_target):
    """GET /users/:id/project_deploy_keys: keys in projects the caller maintains (lib/api/users.rb)."""
    admin = gitlab_target.admin_client()
    user, token = gitlab_target.make_user("upk")
    mine = gitlab_target.make_project("upk-mine")
    other = gitlab_target.make_project("upk-other")
    gitlab_target.add_member(mine, user, 40)
    key_mine = sshkeys.public_key("ed25519", comment="upk-mine")
    key_other = sshkeys.public_key("ed25519", comment="upk-other")
    admin.projects.get(mine.id).keys.create({"title": "mine", "key": key_mine})
    admin.projects.get(other.id).keys.create({"title": "other", "key": key_other})
    client = gitlab_target.client(token)
    listed = client.http_list("/users/%d/project_deploy_keys" % user.id, get_all=True)
    assert [k["title"] for k in listed] == ["mine"]
    assert "can_push" not in listed[0] and listed[0]["fingerprint_sha256"]
    by_name = client.http_list("/users/%s/project_deploy_keys" % user.username, get_all=True)
    assert [k["id"] for k in by_name] == [k["id"] for k in listed]


def test_user_project_deploy_keys_errors(gitlab_target, clean_target):
    user, token = gitlab_target.make_user("upk-none")
    client = gitlab_target.client(token)
    with pytest.raises(gitlab.exceptions.GitlabHttpError) as info:
        client.http_list("/users/%d/project_deploy_keys" % user.id, get_all=True)
    assert info.value.response_code == 403
    assert info.value.error_message == "403 Forbidden - No common authorized project found"
    with pytest.raises(gitlab.exceptions.GitlabHttpError) as info:
        client.http_list("/users/no-such-user-xyz/project_deploy_keys", get_all=True)
    assert info.value.response_code == 404
    assert info.value.error_message == "404 User Not Found"
