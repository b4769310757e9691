"""tests/support/endpoints.py for real: the GitLab test server through its
Python API, and (as root) the server as the git user with sshd authorizing
keys as GitLab Shell does and docker-registry with token auth, through its
command line with the system python3."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import stat
import subprocess
import sys

import pytest
import requests

from support import endpoints

CLI = os.path.join(endpoints.TESTS_DIR, "support", "endpoints.py")


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _pids(state: str) -> dict:
    pids = {}
    for name in endpoints.PIDFILES:
        pid = endpoints.read_pid(os.path.join(state, name))
        assert pid is not None, f"no pid in {name}"
        pids[name] = pid
    return pids


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _process_user(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError(f"no Uid for {pid}")


def test_api_starts_the_server_and_stop_removes_everything(tmp_path):
    state = tmp_path / "endpoint"
    with endpoints.Endpoints(str(state), seed=endpoints.SEED) as running:
        env = running.env
        assert list(env) == ["GITLAB_URL", "GITLAB_TOKEN"]
        assert env["GITLAB_URL"].startswith("http://127.0.0.1:")
        assert env["GITLAB_TOKEN"].startswith("glpat-endpoint-")
        me = requests.get(f"{env['GITLAB_URL']}/api/v4/user", headers={"PRIVATE-TOKEN": env["GITLAB_TOKEN"]},
                          timeout=10).json()
        assert me["username"] == "root" and me["is_admin"] is True
        alice = requests.get(f"{env['GITLAB_URL']}/api/v4/user", headers={"PRIVATE-TOKEN": "test-token-alice"},
                             timeout=10).json()
        assert alice["username"] == "alice"                   # the seed was loaded
        assert _mode(state) == 0o700
        assert _mode(state / "env") == 0o600 and _mode(state / "env.json") == 0o600
        assert json.loads((state / "env.json").read_text()) == env
        assert endpoints.format_env(env) == (state / "env").read_text()
        pid = endpoints.read_pid(str(state / "server.pid"))
        assert _process_user(pid) == os.getuid()
        # Again on the same dir: the old server is stopped first.
        again = endpoints.Endpoints(str(state)).start()
        assert _gone(pid)
        assert again["GITLAB_URL"] != env["GITLAB_URL"] or again["GITLAB_TOKEN"] != env["GITLAB_TOKEN"]
        pid = endpoints.read_pid(str(state / "server.pid"))
    assert not state.exists()
    assert _gone(pid)


def test_failed_start_removes_the_state_dir(tmp_path):
    seed = tmp_path / "seed.yml"
    seed.write_text("projects:\n  - path: nowhere/proj\n")
    state = tmp_path / "endpoint"
    with pytest.raises(endpoints.EndpointError, match="the test server exited") as exc:
        endpoints.Endpoints(str(state), seed=str(seed)).start()
    assert "namespace nowhere not declared" in exc.value.log
    assert not state.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="--ssh needs root (sshd, the git account)")
def test_cli_ssh_and_registry_with_the_system_python(tmp_path):
    state = f"/run/runnercreds-pytest-{secrets.token_hex(4)}"
    python = endpoints.SYSTEM_PYTHON

    def cli(*args, check=True):
        return subprocess.run([python, CLI, *args], capture_output=True, text=True, timeout=120, check=check)

    pids: dict = {}
    started = cli("start", state, "--ssh", "--registry", "--seed", endpoints.SEED, check=False)
    try:
        assert started.returncode == 0, started.stderr
        env = endpoints.read_env(state)
        assert list(env) == ["GITLAB_URL", "GITLAB_TOKEN", "GITLAB_SSH_HOST", "GITLAB_SSH_PORT", "GITLAB_SSH_HOST_KEY",
                             "GITLAB_SHELL_SECRET_FILE", "GITLAB_REGISTRY"]
        assert started.stdout == cli("env", state).stdout == endpoints.format_env(env)
        assert _mode(os.path.join(state, "env")) == 0o600
        pids = _pids(state)

        # The server runs as git; the secrets are readable by it, not by others.
        git = pwd.getpwnam(endpoints.GIT_USER)
        assert _process_user(pids["server.pid"]) == git.pw_uid
        secret = os.stat(env["GITLAB_SHELL_SECRET_FILE"])
        assert (secret.st_uid, secret.st_gid, _mode(env["GITLAB_SHELL_SECRET_FILE"])) == (0, git.pw_gid, 0o640)
        assert _mode(os.path.join(state, "registry.key")) == 0o640
        assert _mode(os.path.join(state, "registry.yml")) == 0o600
        assert endpoints.under_tmp(state) is False

        # sshd authorizes a user's key through the server (AuthorizedKeysCommand) and
        # runs GitLab Shell's forced command, with the host key start printed.
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(tmp_path / "alice")],
                       check=True)
        resp = requests.post(f"{env['GITLAB_URL']}/api/v4/user/keys", headers={"PRIVATE-TOKEN": "test-token-alice"},
                             data={"title": "pytest", "key": (tmp_path / "alice.pub").read_text()}, timeout=10)
        assert resp.status_code == 201, resp.text
        (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{env['GITLAB_SSH_PORT']} {env['GITLAB_SSH_HOST_KEY']}\n")
        ssh = ["ssh", "-F", "/dev/null", "-i", str(tmp_path / "alice"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
               "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
               "-o", "ConnectTimeout=10", "-p", str(env["GITLAB_SSH_PORT"]), "git@127.0.0.1"]
        hello = subprocess.run(ssh, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
        assert "Welcome to GitLab, @alice!" in hello.stdout, hello.stderr

        # The registry: the admin pushes, an anonymous client is refused.
        pushed = cli("push-image", state, "fleet/apps/api/base:1")
        assert pushed.stdout == f"pushed {env['GITLAB_REGISTRY']}/fleet/apps/api/base:1\n"
        anonymous = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--no-creds",
                                    f"docker://{env['GITLAB_REGISTRY']}/fleet/apps/api/base:1"],
                                   capture_output=True, text=True, timeout=60, check=False)
        assert anonymous.returncode != 0
        assert "unauthorized" in anonymous.stderr.lower() or "authentication required" in anonymous.stderr.lower()
    finally:
        stopped = cli("stop", state, check=False)
    assert stopped.returncode == 0, stopped.stderr
    assert not os.path.exists(state)
    assert all(_gone(pid) for pid in pids.values()), pids


@pytest.mark.skipif(os.geteuid() != 0, reason="--ssh needs root")
def test_ssh_state_dir_under_tmp_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, CLI, "start", str(tmp_path / "ep"), "--ssh"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "is under /tmp" in proc.stderr
    assert not (tmp_path / "ep").exists()
