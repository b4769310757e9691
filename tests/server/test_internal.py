"""GitLab Shell's internal API (lib/api/internal/base.rb) and the tag rules it
applies to pushes (lib/gitlab/checks/tag_check.rb).  The server runs with a shell secret of its own here;
tests/support/endpoints.py --ssh and the runner_ssh_key Molecule scenario drive the
same routes through a real sshd and git."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
import requests

from support import sshkeys
from support.endpoints import SEED, ServerProcess

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS_DIR, "gitshell"))
import gitshell  # noqa: E402

SECRET = "shell-secret-for-tests"
ADMIN = "internal-admin-token"
ZERO = "0" * 40
NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("internal")
    secret_file = tmp / "secret"
    secret_file.write_text(SECRET + "\n")
    with ServerProcess("--port", "0", "--seed", SEED, "--admin-token", ADMIN,
                       "--shell-secret-file", str(secret_file), log_path=str(tmp / "server.log")) as proc:
        yield proc.url


def _shell(server, method, path, token=None, **kwargs):
    headers = {"Gitlab-Shell-Api-Request": token if token is not None else gitshell.shell_token(SECRET)}
    return requests.request(method, f"{server}/api/v4/internal{path}", headers=headers, timeout=10, **kwargs)


def _api(server, method, path, **kwargs):
    return requests.request(method, f"{server}/api/v4{path}", headers={"PRIVATE-TOKEN": ADMIN}, timeout=10, **kwargs)


def _deploy_key(server, project, can_push):
    key = sshkeys.public_key()
    resp = _api(server, "POST", f"/projects/{project.replace('/', '%2F')}/deploy_keys",
                json={"title": f"k-{can_push}-{os.urandom(3).hex()}", "key": key, "can_push": can_push})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"], key


def _blob(key: str) -> str:
    return key.split()[1]


def _allowed(server, key_id, project, action="git-upload-pack", changes="_any"):
    body = {"action": action, "project": project, "changes": changes, "protocol": "ssh", "key_id": str(key_id),
            "check_ip": "127.0.0.1"}
    return _shell(server, "POST", "/allowed", json=body)


def _head(server, project) -> tuple[str, str]:
    resp = _allowed(server, _deploy_key(server, project, False)[0], project)
    path = resp.json()["repository_path"]
    sha = subprocess.run(["git", "-c", "safe.directory=*", "--git-dir", path, "rev-parse", "HEAD"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return path, sha


@pytest.mark.parametrize("token", ["", "not.a.jwt", gitshell.shell_token("another-secret"),
                                   gitshell.shell_token(SECRET, now=1_000_000_000)])
def test_internal_routes_need_the_shell_token(server, token):
    resp = _shell(server, "GET", "/authorized_keys", token=token, params={"key": "AAAA"})
    assert (resp.status_code, resp.json()) == (401, {"message": "401 Unauthorized"})
    assert _shell(server, "POST", "/allowed", token=token, json={}).status_code == 401


def test_authorized_keys_finds_deploy_keys_by_blob(server):
    key_id, key = _deploy_key(server, "fleet/apps/api", True)
    resp = _shell(server, "GET", "/authorized_keys", params={"key": _blob(key)})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"id", "title", "created_at", "expires_at", "key", "usage_type"}
    assert body["id"] == key_id and body["key"].split()[:2] == key.split()[:2]
    missing = _shell(server, "GET", "/authorized_keys", params={"key": _blob(sshkeys.public_key())})
    assert (missing.status_code, missing.json()) == (404, {"message": "404 Key Not Found"})


def test_allowed_for_read_only_and_push_keys(server):
    ro, dummy = _deploy_key(server, "fleet/apps/web", False)
    rw, dummy = _deploy_key(server, "fleet/apps/web", True)
    ok = _allowed(server, ro, "/fleet/apps/web.git")
    assert ok.status_code == 200
    body = ok.json()
    assert body["status"] is True and body["gl_key_type"] == "deploy_key" and body["gl_key_id"] == ro
    assert body["gl_project_path"] == "fleet/apps/web" and body["gl_repository"] == f"project-{body['gl_project_id']}"
    assert os.path.isdir(body["repository_path"])
    assert body["repository_path"].endswith(body["gitaly"]["repository"]["relative_path"])
    denied = _allowed(server, ro, "fleet/apps/web.git", action="git-receive-pack")
    assert (denied.status_code, denied.json()) == (
        401, {"status": False, "message": "This deploy key does not have write access to this project."})
    assert _allowed(server, rw, "fleet/apps/web.git", action="git-receive-pack").status_code == 200
    other = _allowed(server, ro, "fleet/infra.git")      # the key is not enabled there
    assert (other.status_code, other.json()) == (404, {"status": False, "message": NOT_FOUND})
    bad = _allowed(server, ro, "fleet/apps/web.git", action="git-annex-shell")
    assert bad.status_code == 401 and bad.json()["message"] == "The command you're trying to execute is not allowed."


def test_pre_receive_tag_rules(server):
    project = "fleet/apps/api"
    allowed_key, dummy = _deploy_key(server, project, True)
    other_key, dummy = _deploy_key(server, project, True)
    resp = _api(server, "POST", "/projects/fleet%2Fapps%2Fapi/protected_tags",
                json={"name": "release-*", "allowed_to_create": [{"deploy_key_id": allowed_key}]})
    assert resp.status_code == 201, resp.text
    dummy, sha = _head(server, project)

    def push(key_id, old, new, ref):
        return _allowed(server, key_id, project, action="git-receive-pack", changes=f"{old} {new} {ref}\n")

    refused = push(other_key, ZERO, sha, "refs/tags/release-1")
    assert (refused.status_code, refused.json()["message"]) == (
        401, "You are not allowed to create this tag as it is protected.")
    assert push(allowed_key, ZERO, sha, "refs/tags/release-1").status_code == 200
    assert push(other_key, ZERO, sha, "refs/tags/build-1").status_code == 200   # not protected
    assert push(allowed_key, sha, "1" * 40, "refs/tags/release-1").json()["message"] == \
        "Protected tags cannot be updated."
    assert push(allowed_key, sha, ZERO, "refs/tags/release-1").json()["message"].startswith(
        "You are not allowed to delete protected tags from this project.")
    assert push(allowed_key, ZERO, sha, "refs/tags/main").json()["message"] == \
        "You cannot use default branch name to create a tag"
    assert push(allowed_key, sha, "1" * 40, "refs/heads/main").json()["message"] == \
        "You are not allowed to push code to protected branches on this project."
    assert push(allowed_key, ZERO, sha, "refs/heads/feature").status_code == 200


def test_hook_identifier_and_unknown_key(server):
    key_id, dummy = _deploy_key(server, "fleet/apps/api", True)
    first = _allowed(server, key_id, "fleet/apps/api")
    resp = _shell(server, "POST", "/allowed", json={
        "action": "git-receive-pack", "gl_repository": first.json()["gl_repository"], "protocol": "ssh",
        "identifier": f"key-{key_id}", "changes": f"{ZERO} {'2' * 40} refs/heads/topic\n"})
    assert resp.status_code == 200
    unknown = _allowed(server, 999999, "fleet/apps/api")
    assert unknown.status_code == 404


def test_gitshell_token_shape():
    token = gitshell.shell_token(SECRET, now=1700000000)
    head, body, dummy = token.split(".")
    claims = base64.urlsafe_b64decode(body + "==")
    assert b'"iss":"gitlab-shell"' in claims and b'"exp":1700000060' in claims
    assert base64.urlsafe_b64decode(head + "==") == b'{"alg":"HS256","typ":"JWT"}'
