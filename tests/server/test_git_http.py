"""Git smart HTTP with deploy tokens (``git clone https://…/group/project.git``).

The clones use a credential helper that answers from the environment, so no
token is ever part of a URL or a command line.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import requests

HELPER = "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"$DT_USER\" \"$DT_TOKEN\"; }; f"


def _git(tmp_path, *args, user=None, token=None):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "DT_USER": user or "", "DT_TOKEN": token or ""}
    helper = ["-c", f"credential.helper={HELPER}"] if user else []
    return subprocess.run(["git", *helper, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False, timeout=60)


def _url(target, project) -> str:
    return f"{target.url}/{project.path_with_namespace}.git"


def test_clone_with_read_repository_token(gitlab_target, tmp_path):
    project = gitlab_target.make_project("githttp")
    dt = project.deploytokens.create({"name": "clone", "scopes": ["read_repository"]})
    proc = _git(tmp_path, "clone", "-q", _url(gitlab_target, project), "work", user=dt.username, token=dt.token)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "work" / "README.md").exists()
    remote = _git(tmp_path, "-C", "work", "remote", "get-url", "origin").stdout
    assert dt.token not in remote and "@" not in remote
    # Deploy tokens cannot push.
    (tmp_path / "work" / "x").write_text("x")
    _git(tmp_path, "-C", "work", "add", "x")
    _git(tmp_path, "-C", "work", "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", "x")
    push = _git(tmp_path, "-C", "work", "push", "origin", "HEAD:refs/heads/x", user=dt.username, token=dt.token)
    assert push.returncode != 0
    assert "403" in push.stderr or "write access" in push.stderr


def test_group_token_clones_group_projects_only(gitlab_target, tmp_path):
    group = gitlab_target.make_group("githttpg")
    inside = gitlab_target.make_project("in", namespace_id=group.id)
    outside = gitlab_target.make_project("out")
    dt = gitlab_target.admin_client().groups.get(group.id).deploytokens.create(
        {"name": "clone", "scopes": ["read_repository"]})
    assert _git(tmp_path, "clone", "-q", _url(gitlab_target, inside), "a", user=dt.username,
                token=dt.token).returncode == 0
    assert _git(tmp_path, "clone", "-q", _url(gitlab_target, outside), "b", user=dt.username,
                token=dt.token).returncode != 0


def test_refusals(gitlab_target, tmp_path):
    project = gitlab_target.make_project("githttpno")
    url = f"{_url(gitlab_target, project)}/info/refs"
    anon = requests.get(url, params={"service": "git-upload-pack"}, timeout=10)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].startswith("Basic")
    registry_only = project.deploytokens.create({"name": "reg", "scopes": ["read_registry"]})
    resp = requests.get(url, params={"service": "git-upload-pack"},
                        auth=(registry_only.username, registry_only.token), timeout=10)
    assert resp.status_code in (401, 403)
    dt = project.deploytokens.create({"name": "clone", "scopes": ["read_repository"]})
    ok = requests.get(url, params={"service": "git-upload-pack"}, auth=(dt.username, dt.token), timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    bad = requests.get(url, params={"service": "git-upload-pack"}, auth=(dt.username, "nope"), timeout=10)
    assert bad.status_code == 401
    project.deploytokens.delete(dt.id)
    gone = requests.get(url, params={"service": "git-upload-pack"}, auth=(dt.username, dt.token), timeout=10)
    assert gone.status_code == 401


@pytest.mark.parametrize("service", ["git-receive-pack"])
def test_deploy_token_cannot_push(gitlab_target, service):
    project = gitlab_target.make_project("githttppush")
    dt = project.deploytokens.create({"name": "clone", "scopes": ["read_repository"]})
    resp = requests.get(f"{_url(gitlab_target, project)}/info/refs", params={"service": service},
                        auth=(dt.username, dt.token), timeout=10)
    assert resp.status_code == 403
