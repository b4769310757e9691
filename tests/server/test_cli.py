"""The command line contract of tests/bin/gitlab-test-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from support.endpoints import SEED, SERVER, ServerProcess


def test_starts_fast_prints_url_and_stops_cleanly_on_sigterm(tmp_path):
    log = tmp_path / "log"
    started = time.monotonic()
    server = ServerProcess("--port", "0", "--seed", SEED, "--admin-token", "tok-123", log_path=str(log)).start()
    url = server.url
    elapsed = time.monotonic() - started
    try:
        assert url.startswith("http://127.0.0.1:")
        assert elapsed < 3.0, elapsed          # usually ~0.3 s; generous for loaded CI
        resp = requests.get(f"{url}/api/v4/user", headers={"PRIVATE-TOKEN": "test-token-alice"}, timeout=10)
        assert resp.json()["username"] == "alice"
        requests.get(f"{url}/api/v4/user", params={"private_token": "tok-123"}, timeout=10)
    finally:
        assert server.stop() == 0
    text = log.read_text()
    assert "tok-123" not in text and "test-token-alice" not in text
    assert "GET /api/v4/user" in text


def test_generated_admin_token_is_second_line(tmp_path):
    server = ServerProcess("--port", "0").start()
    url = server.url
    try:
        second = server.stdout.readline().decode().strip()
        assert second.startswith("GITLAB_TOKEN=")
        token = second.split("=", 1)[1]
        me = requests.get(f"{url}/api/v4/user", headers={"PRIVATE-TOKEN": token}, timeout=10).json()
        assert me["username"] == "root" and me["is_admin"] is True
    finally:
        assert server.stop() == 0


def test_db_file_and_data_dir_persist(tmp_path):
    db, data = tmp_path / "state.db", tmp_path / "data"
    args = ("--port", "0", "--db", str(db), "--data-dir", str(data), "--admin-token", "tok-db")
    with ServerProcess(*args) as server:
        url = server.url
        resp = requests.post(f"{url}/api/v4/projects", headers={"PRIVATE-TOKEN": "tok-db"},
                             json={"name": "kept", "initialize_with_readme": True}, timeout=10)
        assert resp.status_code == 201
    assert any(p.suffix == ".git" for p in data.rglob("*.git"))
    with ServerProcess(*args) as server:
        url = server.url
        resp = requests.get(f"{url}/api/v4/projects/root%2Fkept/repository/branches",
                            headers={"PRIVATE-TOKEN": "tok-db"}, timeout=10)
        assert [b["name"] for b in resp.json()] == ["main"]


def test_runs_directly_with_shebang_when_venv_active(tmp_path):
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([SERVER, "--port", "0", "--admin-token", "t"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("GITLAB_URL=http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_bad_seed_fails_with_message(tmp_path):
    seed = tmp_path / "seed.yml"
    seed.write_text("projects:\n  - path: nowhere/proj\n")
    proc = subprocess.run([sys.executable, SERVER, "--port", "0", "--seed", str(seed)], capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert "namespace nowhere not declared" in proc.stderr


@pytest.mark.parametrize("port_flag", ["--port"])
def test_fixed_port(tmp_path, port_flag):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ServerProcess(port_flag, str(port), "--admin-token", "x") as server:
        assert server.url == f"http://127.0.0.1:{port}"
