"""Container registry token service ``GET /jwt/auth`` (app/controllers/jwt_controller.rb,
app/services/auth/container_registry_authentication_service.rb).

Against the bundled server the tests start one with ``--registry-key`` and
check the RS256 signature and the libtrust ``kid`` with the public key;
against a real GitLab (GITLAB_URL/GITLAB_TOKEN) they check the claims only.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gitlab_server.routes.jwt_auth import libtrust_key_id
from support.gitlab_target import GitlabTarget
from support.endpoints import SEED, ServerProcess


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def registry(gitlab_target, tmp_path_factory):
    """``(target, public_key or None)``: a server whose registry is enabled."""
    if not gitlab_target.is_test_server:
        yield gitlab_target, None
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("registry") / "registry.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    token = "test-admin-" + secrets.token_hex(12)
    with ServerProcess("--port", "0", "--seed", SEED, "--admin-token", token, "--registry-key", str(path)) as proc:
        yield GitlabTarget(proc.url, token, is_test_server=True), key.public_key()


def _token(target, project, scopes, **extra):
    return project.deploytokens.create({"name": "registry-" + secrets.token_hex(3), "scopes": scopes, **extra})


def _auth(target, creds, *scopes, service="container_registry"):
    params = [("service", service)] + [("scope", s) for s in scopes]
    return requests.get(f"{target.url}/jwt/auth", params=params, auth=creds, timeout=10)


def _claims(resp, public_key):
    assert resp.status_code == 200, resp.text
    jwt = resp.json()["token"]
    head, body, sig = jwt.split(".")
    header, claims = json.loads(_b64d(head)), json.loads(_b64d(body))
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    if public_key is not None:
        assert header["kid"] == libtrust_key_id(public_key)
        assert len(header["kid"].split(":")) == 12
        public_key.verify(_b64d(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return claims


def test_read_write_token_gets_pull_and_push(registry):
    target, public_key = registry
    project = target.make_project("reg")
    dt = _token(target, project, ["read_registry", "write_registry"])
    path = project.path_with_namespace
    claims = _claims(_auth(target, (dt.username, dt.token), f"repository:{path}/app:pull,push"), public_key)
    assert claims["aud"] == "container_registry"
    assert claims["auth_type"] == "deploy_token"
    assert "sub" not in claims                      # omitted for deploy tokens
    assert claims["nbf"] <= time.time() < claims["exp"] <= time.time() + 5 * 60 + 5
    assert claims["access"][0]["name"] == f"{path}/app"
    assert claims["access"][0]["actions"] == ["pull", "push"]
    assert claims["access"][0]["meta"]["project_path"] == path
    if public_key is not None:
        assert claims["iss"] == "gitlab-issuer"
        user = json.loads(_b64d(claims["user"].split(".")[1]))["user_info"]
        assert user == {"token_type": "deploy_token", "username": dt.username, "deploy_token_id": dt.id}


def test_read_only_token_loses_push(registry):
    target, public_key = registry
    project = target.make_project("regro")
    dt = _token(target, project, ["read_registry"])
    claims = _claims(_auth(target, (dt.username, dt.token), f"repository:{project.path_with_namespace}:pull,push"),
                     public_key)
    assert claims["access"][0]["actions"] == ["pull"]


def test_other_project_and_repeated_scopes(registry):
    target, public_key = registry
    mine, other = target.make_project("regmine"), target.make_project("regother")
    dt = _token(target, mine, ["read_registry", "write_registry"])
    claims = _claims(_auth(target, (dt.username, dt.token), f"repository:{mine.path_with_namespace}:pull",
                           f"repository:{other.path_with_namespace}:pull,push"), public_key)
    assert [a["actions"] for a in claims["access"]] == [["pull"], []]


def test_group_token_reaches_projects_below_the_group(registry):
    target, public_key = registry
    group = target.make_group("reggrp")
    sub = target.make_group("sub", parent_id=group.id)
    project = target.make_project("app", namespace_id=sub.id)
    dt = target.admin_client().groups.get(group.id).deploytokens.create(
        {"name": "grp", "scopes": ["read_registry"]})
    claims = _claims(_auth(target, (dt.username, dt.token), f"repository:{project.path_with_namespace}/img:pull"),
                     public_key)
    assert claims["access"][0]["actions"] == ["pull"]


def test_refusals(registry):
    target, public_key = registry
    project = target.make_project("regno")
    path = project.path_with_namespace
    repo_only = _token(target, project, ["read_repository"])
    resp = _auth(target, (repo_only.username, repo_only.token), f"repository:{path}:pull")
    assert resp.status_code == 403
    assert resp.json() == {"errors": [{"code": "DENIED", "message": "access forbidden"}]}

    dt = _token(target, project, ["read_registry"])
    for creds in ((dt.username, dt.token + "x"), ("someone-else", dt.token)):
        resp = _auth(target, creds, f"repository:{path}:pull")
        assert resp.status_code == 401
        assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"

    assert _auth(target, (dt.username, dt.token), f"repository:{path}:pull", service="other").status_code == 404

    project.deploytokens.delete(dt.id)                 # revoked: refused from now on
    assert _auth(target, (dt.username, dt.token), f"repository:{path}:pull").status_code == 401


def test_expired_token_is_refused(registry):
    target, public_key = registry
    if not target.is_test_server:
        pytest.skip("needs the test server's clock")
    project = target.make_project("regexp")
    dt = _token(target, project, ["read_registry"], expires_at="2099-01-01")
    ok = _auth(target, (dt.username, dt.token), f"repository:{project.path_with_namespace}:pull")
    assert ok.status_code == 200
    requests.put(f"{target.url}/-/test/clock", json={"offset_days": 365 * 80}, timeout=10).raise_for_status()
    try:
        assert _auth(target, (dt.username, dt.token), f"repository:{project.path_with_namespace}:pull").status_code == 401
    finally:
        requests.put(f"{target.url}/-/test/clock", json={"offset_days": 0}, timeout=10).raise_for_status()


@pytest.mark.needs_control
def test_registry_disabled_without_a_key(gitlab_target):
    """The session server has no --registry-key: GitLab's "registry not enabled"."""
    resp = requests.get(f"{gitlab_target.url}/jwt/auth", params={"service": "container_registry"}, timeout=10)
    assert resp.status_code == 404
    assert resp.json() == {"errors": [{"code": "UNAVAILABLE", "message": "registry not enabled"}]}
