"""The test-only control API (/-/test/)."""

from __future__ import annotations

import socket
import time

import gitlab
import pytest
import requests

pytestmark = pytest.mark.needs_control


def test_fault_503_then_success(gitlab_target, clean_target):
    project = gitlab_target.make_project("f503")
    url = f"{gitlab_target.url}/api/v4/projects/{project.id}/deploy_keys"
    h = {"PRIVATE-TOKEN": gitlab_target.admin_token}
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=503, count=2)
    assert [requests.get(url, headers=h, timeout=10).status_code for dummy in range(3)] == [503, 503, 200]
    # POSTs are not matched by a GET rule.
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=500, count=1)
    assert requests.post(url, headers=h, json={}, timeout=10).status_code == 400


def test_python_gitlab_retries_through_faults(gitlab_target, clean_target):
    project = gitlab_target.make_project("retry")
    gl = gitlab.Gitlab(gitlab_target.url, private_token=gitlab_target.admin_token, retry_transient_errors=True)
    gitlab_target.add_fault(path=r"/deploy_keys$", status=502, count=2)
    gitlab_target.clear_requests()
    assert gl.projects.get(project.id, lazy=True).keys.list() == []
    stats = gitlab_target.requests()
    assert stats["by_route"]["GET /projects/:id/deploy_keys"] == 3
    assert [e["status"] for e in stats["log"]] == [502, 502, 200]


def test_429_retry_after_plain_text(gitlab_target, clean_target):
    gitlab_target.add_fault(path=r"^/api/v4/version$", status=429, retry_after=7, count=1)
    resp = requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text.strip() == "Retry later"


def test_drop_closes_connection(gitlab_target, clean_target):
    gitlab_target.add_fault(path=r"^/api/v4/version$", drop=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    assert requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10).status_code == 401


def test_rate_zero_never_fires_and_latency(gitlab_target, clean_target):
    gitlab_target.add_fault(path=r"^/api/v4/version$", status=500, rate=0.0)
    gitlab_target.add_fault(path=r"^/api/v4/version$", latency_ms=150)
    started = time.monotonic()
    assert requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10).status_code == 401
    assert time.monotonic() - started >= 0.15
    gitlab_target.clear_faults()
    gitlab_target.set_latency(100)
    started = time.monotonic()
    requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    assert time.monotonic() - started >= 0.1


def test_counters(gitlab_target, clean_target):
    project = gitlab_target.make_project("count")
    gitlab_target.clear_requests()
    h = {"PRIVATE-TOKEN": gitlab_target.admin_token}
    base = f"{gitlab_target.url}/api/v4/projects/{project.id}"
    requests.get(f"{base}/deploy_keys", headers=h, timeout=10)
    requests.get(f"{base}/deploy_tokens/5", headers=h, timeout=10)
    requests.post(f"{base}/protected_tags", headers=h, json={"name": "v*"}, timeout=10)
    requests.get(f"{base}/protected_tags/v%2A", headers=h, timeout=10)
    requests.get(f"{gitlab_target.url}/-/test/requests", timeout=10)     # not counted
    stats = gitlab_target.requests()
    assert (stats["total"], stats["reads"], stats["writes"]) == (4, 3, 1)
    assert stats["by_route"] == {"GET /projects/:id/deploy_keys": 1, "GET /projects/:id/deploy_tokens/:token_id": 1,
                                 "POST /projects/:id/protected_tags": 1, "GET /projects/:id/protected_tags/:name": 1}
    assert stats["log"][2] == {"method": "POST", "path": f"/api/v4/projects/{project.id}/protected_tags",
                               "status": 201}
    gitlab_target.clear_requests()
    assert gitlab_target.requests()["total"] == 0


def test_clock_shifts_expiry_and_backdate(gitlab_target, clean_target, admin_gl):
    project = gitlab_target.make_project("clock")
    token = project.deploytokens.create({"name": "t", "scopes": ["read_repository"], "expires_at": "2999-01-01"})
    gitlab_target.set_clock(365 * 1000)
    assert project.deploytokens.get(token.id).expired is True
    gitlab_target.set_clock(0)
    assert project.deploytokens.get(token.id).expired is False
    key = project.keys.create({"title": "k", "key": __import__("support.sshkeys").sshkeys.public_key()})
    out = gitlab_target.backdate("deploy_keys", key.id, "2025-01-01T00:00:00.000Z")
    assert out["created_at"] == "2025-01-01T00:00:00.000Z"
    assert project.keys.get(key.id).created_at == "2025-01-01T00:00:00.000Z"
    gitlab_target.backdate("deploy_tokens", token.id, "2024-06-01T00:00:00Z")
    assert requests.put(f"{gitlab_target.url}/-/test/objects/deploy_keys/999999",
                        json={"created_at": "2025-01-01T00:00:00Z"}, timeout=10).status_code == 404


def test_clock_affects_new_objects_and_key_expiry_validation(gitlab_target, clean_target):
    project = gitlab_target.make_project("clock2")
    gitlab_target.set_clock(-400)
    key = project.keys.create({"title": "old", "key": __import__("support.sshkeys").sshkeys.public_key(),
                               "expires_at": "2999-01-01"})
    assert key.created_at < time.strftime("%Y-%m-%d")
    gitlab_target.set_clock(0)


def test_reset_restores_seed(gitlab_target, clean_target, admin_gl):
    gitlab_target.make_project("temp")
    gitlab_target.add_fault(path="x", status=500)
    gitlab_target.set_clock(3)
    gitlab_target.reset()
    names = sorted(p.path_with_namespace for p in admin_gl.projects.list(get_all=True))
    assert names == ["fleet/apps/api", "fleet/apps/web", "fleet/infra"]
    assert requests.get(f"{gitlab_target.url}/-/test/faults", timeout=10).json() == []
    assert requests.get(f"{gitlab_target.url}/-/test/clock", timeout=10).json()["offset_days"] == 0
    # Seeded repositories exist again, with the extra branch.
    api = admin_gl.projects.get("fleet/apps/api")
    assert sorted(b.name for b in api.branches.list()) == ["develop", "main"]
    alice = gitlab_target.client("test-token-alice")
    assert alice.projects.get("fleet/apps/api").id == api.id


def test_max_in_flight_counts_concurrency(gitlab_target, clean_target):
    import concurrent.futures

    gitlab_target.set_latency(200)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10), range(4)))
    gitlab_target.set_latency(0)
    assert gitlab_target.requests()["max_in_flight"] >= 2


def test_keep_alive_connection_is_reused(gitlab_target):
    host, port = gitlab_target.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for dummy in range(2):
            sock.sendall(b"GET /api/v4/version HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(4096)
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 401")
