"""Fidelity to GitLab's own source (project issue 12): sudo, deploy-token
filters and model rules, Grape's parameter handling, conditional DELETEs,
``GET /users/:id`` and the foreign-key cascade from deploy keys to
protected-tag access levels.  Every expectation names the GitLab file it
comes from."""

from __future__ import annotations

import datetime
import secrets

import pytest
import requests

from support import sshkeys

OLD_HTTP_DATE = "Thu, 01 Jan 2015 00:00:00 GMT"
FUTURE_HTTP_DATE = "Fri, 01 Jan 2100 00:00:00 GMT"


def _api(target, method, path, token=None, headers=None, **kwargs):
    all_headers = {"PRIVATE-TOKEN": token or target.admin_token} if token is not False else {}
    all_headers.update(headers or {})
    return requests.request(method, f"{target.url}/api/v4{path}", headers=all_headers, timeout=10, **kwargs)


def _admin_with_token(target, scopes):
    """A second admin whose token has exactly ``scopes`` (public admin API)."""
    gl = target.admin_client()
    name = f"sudoer-{secrets.token_hex(4)}"
    user = gl.users.create({"username": name, "name": name, "email": f"{name}@example.test", "admin": True,
                            "password": secrets.token_urlsafe(18) + "aA1!", "skip_confirmation": True})
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    return user.personal_access_tokens.create({"name": "t", "scopes": scopes, "expires_at": expires}).token


# --- 1. Sudo (lib/api/helpers.rb sudo!, doc/api/rest/authentication.md) ----------------

def test_sudo_needs_an_admin(gitlab_target):
    target_user, dummy = gitlab_target.make_user("sudotarget")
    dummy, user_token = gitlab_target.make_user("notadmin")
    resp = _api(gitlab_target, "GET", "/user", user_token, headers={"Sudo": target_user.username})
    assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden - Must be admin to use sudo"})
    resp = _api(gitlab_target, "GET", "/user", False, headers={"Sudo": target_user.username})
    assert (resp.status_code, resp.json()) == (401, {"message": "401 Unauthorized"})


def test_sudo_needs_the_sudo_scope(gitlab_target):
    target_user, dummy = gitlab_target.make_user("sudoscope")
    api_only = _admin_with_token(gitlab_target, ["api"])
    resp = _api(gitlab_target, "GET", "/user", api_only, headers={"Sudo": str(target_user.id)})
    assert resp.status_code == 403
    assert resp.json() == {"error": "insufficient_scope",
                           "error_description": "The request requires higher privileges than provided by the "
                                                "access token.",
                           "scope": "sudo"}


def test_sudo_by_id_or_username_acts_as_that_user(gitlab_target):
    token = _admin_with_token(gitlab_target, ["api", "sudo"])
    user, dummy = gitlab_target.make_user("actas")
    for how in ({"headers": {"Sudo": user.username}}, {"headers": {"Sudo": user.username.upper()}},
                {"params": {"sudo": user.id}}):
        resp = _api(gitlab_target, "GET", "/user", token, **how)
        assert resp.status_code == 200, how
        assert resp.json()["id"] == user.id and "is_admin" not in resp.json()
    # The sudoed user's permissions apply: a private project they are not in is hidden.
    project = gitlab_target.make_project("sudohidden")
    resp = _api(gitlab_target, "GET", f"/projects/{project.id}", token, headers={"Sudo": user.username})
    assert (resp.status_code, resp.json()) == (404, {"message": "404 Project Not Found"})
    # ... and what they create is theirs.
    resp = _api(gitlab_target, "POST", "/projects", token, headers={"Sudo": user.username},
                json={"name": f"mine-{secrets.token_hex(3)}"})
    assert resp.status_code == 201 and resp.json()["namespace"]["path"] == user.username


def test_sudo_unknown_user_is_404(gitlab_target):
    token = _admin_with_token(gitlab_target, ["api", "sudo"])
    resp = _api(gitlab_target, "GET", "/user", token, headers={"Sudo": "123456789"})
    assert (resp.status_code, resp.json()) == (404, {"message": "404 User with ID or username '123456789' Not Found"})
    resp = _api(gitlab_target, "GET", "/user", token, params={"sudo": "no-such-user-x"})
    assert resp.json() == {"message": "404 User with ID or username 'no-such-user-x' Not Found"}


# --- 2. Deploy-token lists: active (app/finders/deploy_tokens/tokens_finder.rb) ---------

def test_active_false_is_no_filter_and_true_compares_timestamps(gitlab_target):
    project = gitlab_target.make_project("dtactive")
    now = datetime.datetime.now(datetime.timezone.utc)
    later = project.deploytokens.create({"name": "later", "scopes": ["read_repository"],
                                         "expires_at": (now + datetime.timedelta(hours=2)).isoformat()})
    earlier = project.deploytokens.create({"name": "earlier", "scopes": ["read_repository"],
                                           "expires_at": (now - datetime.timedelta(minutes=5)).isoformat()})
    forever = project.deploytokens.create({"name": "forever", "scopes": ["read_repository"]})
    everything = {t.id for t in project.deploytokens.list(get_all=True)}
    assert {t.id for t in project.deploytokens.list(active=False, get_all=True)} == everything
    assert {later.id, earlier.id, forever.id} <= everything
    active = {t.id for t in project.deploytokens.list(active=True, get_all=True)}
    assert later.id in active and forever.id in active and earlier.id not in active
    resp = _api(gitlab_target, "GET", f"/projects/{project.id}/deploy_tokens", params={"active": "maybe"})
    assert (resp.status_code, resp.json()) == (400, {"error": "active is invalid"})


# --- 3. Deploy-token scopes and name (app/models/deploy_token.rb) ------------------------

def test_scopes_in_gitlab_order_without_duplicates(gitlab_target):
    project = gitlab_target.make_project("dtscopes")
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/deploy_tokens",
                json={"name": "s", "scopes": ["write_registry", "read_repository", "write_registry",
                                              "read_registry,read_repository"]})
    assert resp.status_code == 201
    assert resp.json()["scopes"] == ["read_repository", "read_registry", "write_registry"]
    token_id = resp.json()["id"]
    got = _api(gitlab_target, "GET", f"/projects/{project.id}/deploy_tokens/{token_id}").json()
    assert got["scopes"] == ["read_repository", "read_registry", "write_registry"]
    # CommaSeparatedToArray keeps an empty middle field, which then fails values:.
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/deploy_tokens",
                data={"name": "s", "scopes": "read_repository,,read_registry"})
    assert (resp.status_code, resp.json()) == (400, {"error": "scopes does not have a valid value"})


def test_name_has_no_blank_check_but_a_length_limit(gitlab_target):
    project = gitlab_target.make_project("dtname")
    url = f"/projects/{project.id}/deploy_tokens"
    resp = _api(gitlab_target, "POST", url, json={"name": "", "scopes": ["read_repository"]})
    assert resp.status_code == 201 and resp.json()["name"] == ""
    resp = _api(gitlab_target, "POST", url, json={"name": "n" * 255, "scopes": ["read_repository"]})
    assert resp.status_code == 201
    resp = _api(gitlab_target, "POST", url, json={"name": "n" * 256, "scopes": ["read_repository"]})
    assert (resp.status_code, resp.json()) == (400, {"message": "Name is too long (maximum is 255 characters)"})
    resp = _api(gitlab_target, "POST", url, json={"name": "n" * 256, "scopes": [], "username": "bad user" * 40})
    assert resp.json() == {"message": "Scopes can't be blank, Username is too long (maximum is 255 characters), "
                                      "Username can contain only letters, digits, '_', '-', '+', and '.', and "
                                      "Name is too long (maximum is 255 characters)"}


# --- 4. Grape: "" is nil for non-String params (grape primitive_coercer.rb) -------------

def test_empty_string_is_nil_for_non_string_params(gitlab_target):
    project = gitlab_target.make_project("empty")
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/deploy_keys",
                data={"title": "e", "key": sshkeys.public_key(), "expires_at": "", "can_push": ""})
    assert resp.status_code == 201
    body = resp.json()
    assert body["expires_at"] is None and body["can_push"] is False
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/deploy_tokens",
                data={"name": "e", "scopes": "read_repository", "expires_at": ""})
    assert resp.status_code == 201 and resp.json()["expires_at"] is None
    # PUT copies a present can_push as it is (params.key?(:can_push)); nil
    # hits the NOT NULL column and GitLab answers 500 (lib/api/deploy_keys.rb,
    # db/structure.sql deploy_keys_projects.can_push).
    resp = _api(gitlab_target, "PUT", f"/projects/{project.id}/deploy_keys/{body['id']}", data={"can_push": ""})
    assert (resp.status_code, resp.json()) == (500, {"message": "500 Internal Server Error"})
    # at_least_one_of counts keys, not values: a present title="" reaches the model.
    resp = _api(gitlab_target, "PUT", f"/projects/{project.id}/deploy_keys/{body['id']}", data={"title": ""})
    assert (resp.status_code, resp.json()) == (400, {"message": {"deploy_key.title": ["can't be blank"]}})


# --- 5. Malformed booleans and integers: 400, never 500 ----------------------------------

@pytest.mark.parametrize("path, params, error", [
    ("/deploy_keys", {"public": "maybe"}, "public is invalid"),
    ("/projects", {"min_access_level": "abc"},
     "min_access_level is invalid, min_access_level does not have a valid value"),
    ("/groups", {"min_access_level": "5"}, "min_access_level does not have a valid value"),
    ("/users", {"active": "maybe"}, "active is invalid"),
    ("/deploy_tokens", {"page": "abc"}, "page is invalid"),
    ("/deploy_tokens", {"per_page": "0"}, "per_page has a value not allowed"),
    ("/deploy_tokens", {"page": "x", "per_page": "y", "active": "z"},
     "page is invalid, per_page is invalid, active is invalid"),
])
def test_malformed_query_params_are_400(gitlab_target, path, params, error):
    resp = _api(gitlab_target, "GET", path, params=params)
    assert (resp.status_code, resp.json()) == (400, {"error": error})


def test_malformed_body_params_and_project_pagination(gitlab_target):
    project = gitlab_target.make_project("malformed")
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/deploy_keys",
                json={"title": "m", "key": sshkeys.public_key(), "can_push": "maybe"})
    assert (resp.status_code, resp.json()) == (400, {"error": "can_push is invalid"})
    for params, error in (({"page": "abc"}, "page is invalid"), ({"per_page": "0"}, "per_page has a value not allowed")):
        resp = _api(gitlab_target, "GET", f"/projects/{project.id}/deploy_keys", params=params)
        assert (resp.status_code, resp.json()) == (400, {"error": error})
    resp = _api(gitlab_target, "GET", f"/projects/{project.id}/deploy_keys", params={"per_page": "-3"})
    assert resp.status_code == 200 and resp.headers["X-Per-Page"] == "20"     # Kaminari ignores it


# --- 6. If-Unmodified-Since (lib/api/helpers.rb destroy_conditionally!) -----------------

def test_conditional_delete_of_deploy_key_and_protected_tag(gitlab_target):
    project = gitlab_target.make_project("cond")
    key = project.keys.create({"title": "c", "key": sshkeys.public_key()})
    url = f"/projects/{project.id}/deploy_keys/{key.id}"
    resp = _api(gitlab_target, "DELETE", url, headers={"If-Unmodified-Since": OLD_HTTP_DATE})
    assert (resp.status_code, resp.json()) == (412, {"message": "412 Precondition Failed"})
    assert [k.id for k in project.keys.list()] == [key.id]
    assert _api(gitlab_target, "DELETE", url, headers={"If-Unmodified-Since": FUTURE_HTTP_DATE}).status_code == 204
    project.protectedtags.create({"name": "v*"})
    url = f"/projects/{project.id}/protected_tags/v%2A"
    resp = _api(gitlab_target, "DELETE", url, headers={"If-Unmodified-Since": OLD_HTTP_DATE})
    assert (resp.status_code, resp.json()) == (412, {"message": "412 Precondition Failed"})
    assert _api(gitlab_target, "DELETE", url, headers={"If-Unmodified-Since": "not a date"}).status_code == 204


def test_conditional_delete_of_tag_member_and_project(gitlab_target):
    project = gitlab_target.make_project("condmore")
    project.tags.create({"tag_name": "t1", "ref": "main"})
    resp = _api(gitlab_target, "DELETE", f"/projects/{project.id}/repository/tags/t1",
                headers={"If-Unmodified-Since": OLD_HTTP_DATE})             # the commit's authored_date
    assert (resp.status_code, resp.json()) == (412, {"message": "412 Precondition Failed"})
    user, dummy = gitlab_target.make_user("condmember")
    gitlab_target.add_member(project, user, 30)
    resp = _api(gitlab_target, "DELETE", f"/projects/{project.id}/members/{user.id}",
                headers={"If-Unmodified-Since": OLD_HTTP_DATE})
    assert resp.status_code == 412
    resp = _api(gitlab_target, "DELETE", f"/projects/{project.id}", headers={"If-Unmodified-Since": OLD_HTTP_DATE})
    assert resp.status_code == 412
    assert _api(gitlab_target, "GET", f"/projects/{project.id}").status_code == 200


def test_deploy_token_delete_ignores_if_unmodified_since(gitlab_target):
    # lib/api/deploy_tokens.rb ends the DELETEs with no_content!, not destroy_conditionally!.
    project = gitlab_target.make_project("condtoken")
    token = project.deploytokens.create({"name": "t", "scopes": ["read_repository"]})
    resp = _api(gitlab_target, "DELETE", f"/projects/{project.id}/deploy_tokens/{token.id}",
                headers={"If-Unmodified-Since": OLD_HTTP_DATE})
    assert resp.status_code == 204


# --- 7. allowed_to_create members (ee/lib/ee/api/helpers/protected_tags_helpers.rb) ---------

@pytest.mark.parametrize("entries, error", [
    ([{"access_level": 35}], "allowed_to_create[access_level] does not have a valid value"),
    ([{"access_level": "abc"}],
     "allowed_to_create[access_level] is invalid, allowed_to_create[access_level] does not have a valid value"),
    ([{"deploy_key_id": "x"}], "allowed_to_create[deploy_key_id] is invalid"),
    ([{"user_id": "x"}, {"group_id": 1.5, "access_level": 99}],
     "allowed_to_create[user_id] is invalid, allowed_to_create[access_level] does not have a valid value"),
    ("not json", "allowed_to_create is invalid"),
    ([1, 2], "allowed_to_create is invalid"),
])
def test_allowed_to_create_is_validated_before_the_model(gitlab_target, entries, error):
    project = gitlab_target.make_project("nested")
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                json={"name": "v*", "allowed_to_create": entries})
    assert (resp.status_code, resp.json()) == (400, {"error": error})
    assert project.protectedtags.list() == []


# --- 8. GET /users/:id (lib/api/users.rb) ------------------------------------------------

def test_get_user_is_integer_only_and_not_anonymous(gitlab_target):
    user, dummy = gitlab_target.make_user("byid")
    resp = _api(gitlab_target, "GET", f"/users/{user.id}", False)
    assert (resp.status_code, resp.json()) == (403, {"message": "403 Forbidden - Not authorized!"})
    resp = _api(gitlab_target, "GET", f"/users/{user.username}")
    assert (resp.status_code, resp.json()) == (404, {"error": "404 Not Found"})
    resp = _api(gitlab_target, "GET", f"/users/{user.id}")
    assert resp.status_code == 200 and resp.json()["username"] == user.username


# --- 9. Deleting a deploy key cascades to protected-tag access levels -------------------

def test_destroyed_deploy_key_leaves_its_protected_tag_entries(gitlab_target):
    """protected_tag_create_access_levels.deploy_key_id references keys ON
    DELETE CASCADE (db/structure.sql); the protected tag itself stays, with
    what is left of its access levels."""
    project = gitlab_target.make_project("cascade")
    key = project.keys.create({"title": "rel", "key": sshkeys.public_key(), "can_push": True})
    shared = project.keys.create({"title": "shared", "key": sshkeys.public_key(), "can_push": True})
    other = gitlab_target.make_project("cascade-other")
    other.keys.enable(shared.id)
    only_key = _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
                    json={"name": "v*", "allowed_to_create": [{"deploy_key_id": key.id}]}).json()
    assert [lv["deploy_key_id"] for lv in only_key["create_access_levels"]] == [key.id]
    _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
         json={"name": "r*", "create_access_level": 40, "allowed_to_create": [{"deploy_key_id": key.id}]})
    _api(gitlab_target, "POST", f"/projects/{project.id}/protected_tags",
         json={"name": "s*", "allowed_to_create": [{"deploy_key_id": shared.id}]})

    project.keys.delete(key.id)            # its last link: the private key is destroyed
    project.keys.delete(shared.id)         # still enabled in the other project: survives
    tags = {t["name"]: t for t in _api(gitlab_target, "GET", f"/projects/{project.id}/protected_tags").json()}
    assert tags["v*"]["create_access_levels"] == []
    assert [lv["access_level_description"] for lv in tags["r*"]["create_access_levels"]] == ["Maintainers"]
    assert [lv["deploy_key_id"] for lv in tags["s*"]["create_access_levels"]] == [shared.id]
    # With no access level left nobody may create a matching tag, not even an admin.
    resp = _api(gitlab_target, "POST", f"/projects/{project.id}/repository/tags", json={"tag_name": "v1", "ref": "main"})
    assert (resp.status_code, resp.json()) == \
        (400, {"message": "You are not allowed to create this tag as it is protected."})
