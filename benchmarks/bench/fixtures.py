"""The GitLab test server and the fixtures the rows run on.

A fixture is N projects built once through GitLab's public admin API and kept as a
snapshot of the test server's SQLite database and data dir; every measured run gets a
fresh server started from a copy of it, so nothing of an earlier run survives."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

from .common import REPO

# Everything that runs podman in this repository uses the repository's containers.conf
# (host networking, runc, lowered ulimits); ansible-playbook's podman connection inherits it.
os.environ.setdefault("CONTAINERS_CONF", os.path.join(REPO, ".config", "containers.conf"))
# The test server and its admin helpers live under tests/ (support/), not in an installed package.
sys.path.insert(0, os.path.join(REPO, "tests"))

import requests  # noqa: E402  pylint: disable=wrong-import-position

from support.endpoints import ServerProcess  # noqa: E402  pylint: disable=wrong-import-position
from support.gitlab_target import GitlabTarget  # noqa: E402  pylint: disable=wrong-import-position


class Server(ServerProcess):
    """One gitlab-test-server process on a free port, on an SQLite file and data dir
    (started and stopped by tests/support/endpoints.py), with its control API."""

    def __init__(self, workdir: str, admin_token: str, log_path: str) -> None:
        self.workdir = workdir
        self.admin_token = admin_token
        os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.pop("GITLAB_TOKEN", None)
        # The admin token is the test server's own start-up option; it is a throw-away
        # value that exists only on this loopback server.
        super().__init__("--port", "0", "--admin-token", admin_token, "--db", os.path.join(workdir, "db.sqlite"),
                         "--data-dir", os.path.join(workdir, "data"), log_path=log_path, env=env, timeout=60.0,
                         stop_timeout=20.0)
        self.start()
        self.http = requests.Session()

    def control(self, method: str, path: str, body: dict | None = None):
        resp = self.http.request(method, f"{self.url}/-/test/{path}", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def counters(self) -> dict:
        snap = self.control("GET", "requests")
        return {"total": snap["total"], "reads": snap["reads"], "writes": snap["writes"],
                "by_route": dict(sorted(snap["by_route"].items())), "max_in_flight": snap.get("max_in_flight")}

    def admin(self) -> GitlabTarget:
        """The admin API for checks after a run (its requests are not part of any measurement)."""
        return GitlabTarget(self.url, self.admin_token, is_test_server=True)


def server_floor_ms(server: Server, token: str, count: int = 20) -> float:
    """Median milliseconds of one ``GET /api/v4/user`` on a kept-alive connection, no injected latency.

    The price of a request the server adds by itself; it counts like injected
    latency against every tool, the more so the more requests it sends one after
    another. Recorded so a table is read with it in mind."""
    session = requests.Session()
    times = []
    for dummy in range(count):
        start = time.perf_counter()
        session.get(f"{server.url}/api/v4/user", headers={"PRIVATE-TOKEN": token}, timeout=30).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


@dataclass
class Fixture:
    """N projects built once through the admin API, kept as a server snapshot."""

    size: int
    snapshot: str
    admin_token: str
    bot_token: str
    projects: list[str]
    group: str
    floor_ms: float  # see server_floor_ms

    @classmethod
    def build(cls, size: int, root: str, log_path: str) -> Fixture:
        snapshot = os.path.join(root, f"fixture-{size}")
        admin_token = "bench-admin-" + os.urandom(8).hex()
        with Server(snapshot, admin_token, log_path) as server:
            target = server.admin()
            group = target.make_group("bench")
            bot, bot_token = target.make_user("fleet-bot")
            target.add_member(group, bot, 40)  # Maintainer: what deploy keys and protected tags need
            projects = [target.make_project(f"app{i:03d}", namespace_id=group.id,
                                            initialize_with_readme=False).path_with_namespace
                        for i in range(size)]
            floor = server_floor_ms(server, bot_token)
        return cls(size, snapshot, admin_token, bot_token, projects, group.full_path, floor)

    def start(self, root: str, log_path: str) -> Server:
        """A fresh server on a copy of the snapshot (nothing of an earlier run survives)."""
        workdir = tempfile.mkdtemp(prefix=f"run-{self.size}-", dir=root)
        shutil.rmtree(workdir)
        shutil.copytree(self.snapshot, workdir)
        return Server(workdir, self.admin_token, log_path)


class Fixtures:
    """One fixture per project count, built on first use and kept for the whole run."""

    def __init__(self, root: str, log_path: str, log) -> None:
        self.root = root
        self.log_path = log_path
        self.log = log
        self.built: dict[int, Fixture] = {}

    def get(self, projects: int) -> Fixture:
        if projects not in self.built:
            self.log(f"building the fixture: {projects} projects through the admin API")
            start = time.perf_counter()
            self.built[projects] = Fixture.build(projects, self.root, self.log_path)
            self.log(f"  built in {time.perf_counter() - start:.0f} s; the server's own time per sequential "
                     f"request: {self.built[projects].floor_ms} ms")
        return self.built[projects]

    @property
    def floors(self) -> dict[int, float]:
        return {size: f.floor_ms for size, f in self.built.items()}
