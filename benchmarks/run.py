#!/usr/bin/env python
"""Benchmarks: runnercreds.gitlab side by side with what users would pick instead.

    .venv/bin/python benchmarks/run.py                 # the full table (~30 min on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # smoke run: N=20, 0 ms, one repeat
    .venv/bin/python benchmarks/run.py --sizes 50 --latency 20 --repeat 5 --rows deploy_key
    .venv/bin/python benchmarks/run.py --rows fleet --fleet-sizes 1,3,6 --latency 0 --repeat 1

Every measured run gets a fresh GitLab test server (tests/bin/gitlab-test-server)
started from a snapshot of a fixture built once per size through GitLab's public
admin API: a group, a non-admin "fleet bot" user who is Maintainer of it, and N
empty projects in it. The playbook under test (benchmarks/playbooks/) runs twice
with ``ansible-playbook``: the first run makes the change, the second must find
nothing to do. For each run the table has the wall-clock seconds of the whole
``ansible-playbook`` process (median of the repeats) and the server's own request
counters (``GET /-/test/requests``), split into reads and writes.

GitLab's URL and the bot's token reach ansible-playbook through the environment
(``GITLAB_URL``, ``GITLAB_TOKEN``), never on a command line; the other inputs go
in an extra-vars file.

Fleet rows (``--rows fleet``) run the runner SSH-key role on 1, 3 and 6 fresh podman
containers (``runnercreds-bench-<i>``, host networking, removed after every cell) next to
seed 003's steps written with builtin modules and community.general.gitlab_deploy_key,
against a fixture of two projects per container.

Results: printed, and written to benchmarks/results/latest.{md,json} plus a dated
copy. Row types live in ``ROW_TYPES``; add a class there to add rows.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
PLAYBOOKS = os.path.join(BENCH_DIR, "playbooks")
RESULTS = os.path.join(BENCH_DIR, "results")
RUNNER_IMAGE = "localhost/runnercreds-runner:latest"
# Everything that runs podman in this repository uses the repository's containers.conf
# (host networking, runc, lowered ulimits); ansible-playbook's podman connection inherits it.
os.environ.setdefault("CONTAINERS_CONF", os.path.join(REPO, ".config", "containers.conf"))
sys.path.insert(0, os.path.join(REPO, "tests"))

import requests  # noqa: E402

from support.endpoints import ServerProcess  # noqa: E402
from support.gitlab_target import GitlabTarget  # noqa: E402

OURS = "runnercreds.gitlab"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
RECAP_HOSTS = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                         r"\s+skipped=(\d+)", re.M)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the test server ---------------------------------------------------------------------------


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
            target = GitlabTarget(server.url, admin_token, is_test_server=True)
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


# --- running a playbook ------------------------------------------------------------------------


def collections_path() -> str:
    out = subprocess.run([os.path.join(REPO, "scripts", "collection-path.sh")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


@dataclass
class RunResult:
    wall_s: float
    rc: int
    changed: int | None
    total: int
    reads: int
    writes: int
    by_route: dict
    max_in_flight: int | None = None
    # Fleet rows: PLAY RECAP per host, {host: {ok, changed, unreachable, failed, skipped}}.
    # Ansible's `ok` already counts the changed tasks (changed is a subset of ok).
    recap: dict | None = None

    @property
    def tasks_per_host(self) -> float | None:
        if not self.recap:
            return None
        return statistics.mean(h["ok"] for h in self.recap.values())


def ansible_env(server_url: str, token: str, colls: str, ansible_home: str) -> dict:
    env = dict(os.environ)
    env.update({
        "GITLAB_URL": server_url,
        "GITLAB_TOKEN": token,
        "ANSIBLE_COLLECTIONS_PATH": colls,
        "ANSIBLE_HOME": ansible_home,
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    })
    return env


def _playbook(playbook: str, args: list[str], env: dict, log_path: str) -> tuple[float, int, str]:
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(PLAYBOOKS, playbook), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=BENCH_DIR, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(f"\n===== {playbook} rc={proc.returncode} wall={wall:.2f}s\n{proc.stdout}{proc.stderr}")
    return wall, proc.returncode, proc.stdout


def run_playbook(playbook: str, extra_vars_file: str, env: dict, log_path: str) -> tuple[float, int, int | None]:
    wall, rc, stdout = _playbook(playbook, ["-e", "@" + extra_vars_file], env, log_path)
    match = RECAP.search(stdout)
    changed = int(match.group(2)) if match else None
    return wall, rc, changed


def run_fleet_playbook(playbook: str, inventory: str, env: dict, log_path: str) -> tuple[float, int, dict]:
    """ansible-playbook -i inventory; the PLAY RECAP per host."""
    wall, rc, stdout = _playbook(playbook, ["-i", inventory], env, log_path)
    recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), map(int, m.groups()[1:])))
             for m in RECAP_HOSTS.finditer(stdout)}
    return wall, rc, recap


# --- row types -----------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    playbook: str


@dataclass
class Measurement:
    """All samples of one tool in one (row type, size, latency) cell."""

    row_type: str
    tool: str
    size: int
    latency_ms: int
    phase: str  # "first run" | "no-change re-run"
    samples: list[RunResult] = field(default_factory=list)

    @property
    def wall_median(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def ok(self) -> bool:
        return all(s.rc == 0 for s in self.samples)


class RowType:
    """A kind of row in the table. Subclasses: name, title, unit, measure()."""

    name = ""
    title = ""
    unit = "projects"

    def unavailable(self) -> str | None:
        """Why this row type cannot be measured here, or None."""
        return None

    def sizes(self, config) -> list[int]:
        return config.sizes

    def projects_for(self, size: int) -> int:
        """Projects the fixture of a row of this size needs."""
        return size

    def max_rerun_reads(self, size: int) -> int:
        """The promise for our no-change re-run: at most one read per project (+ a constant)."""
        return size + CONSTANT_READS


class PlaybookComparison(RowType):
    """Our playbook vs an alternative's, on N projects of a fixture; first run and re-run."""

    alternative: Tool
    ours: Tool
    extra_vars: dict = {}

    def vars_for(self, fixture: Fixture) -> dict:
        return dict(self.extra_vars, bench_projects=fixture.projects)

    def verify(self, server: Server, fixture: Fixture) -> str | None:
        """After the first run (admin API, not counted): None, or what is wrong."""
        return None

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        tools = [self.ours, self.alternative]
        cells = {(t.name, phase): Measurement(self.name, t.name, fixture.size, latency, phase)
                 for t in tools for phase in ("first run", "no-change re-run")}
        vars_file = os.path.join(ctx.workdir, f"{self.name}-{fixture.size}.json")
        with open(vars_file, "w", encoding="utf-8") as fh:
            json.dump(self.vars_for(fixture), fh)
        times = {self.ours.name: repeat, self.alternative.name: alt_repeat}
        for i in range(max(times.values())):
            # Alternate which tool goes first, so a slow patch of the machine hits both.
            for tool in (tools if i % 2 == 0 else tools[::-1]):
                if i >= times[tool.name]:
                    continue
                with fixture.start(ctx.workdir, ctx.server_log) as server:
                    server.control("PUT", "latency", {"ms": latency})
                    env = ansible_env(server.url, fixture.bot_token, ctx.collections, ctx.ansible_home)
                    for phase in ("first run", "no-change re-run"):
                        server.control("DELETE", "requests")
                        wall, rc, changed = run_playbook(tool.playbook, vars_file, env, ctx.ansible_log)
                        counts = server.counters()
                        sample = RunResult(wall, rc, changed, **counts)
                        cells[(tool.name, phase)].samples.append(sample)
                        log(f"  {self.name:<14} N={fixture.size:<4} {latency:>3} ms  {tool.name:<24} "
                            f"{phase:<17} {wall:7.2f} s  reads={counts['reads']:<5} writes={counts['writes']:<5}"
                            f" changed={changed} rc={rc}")
                        if rc != 0:
                            raise SystemExit(f"{tool.playbook} failed (rc={rc}); see {ctx.ansible_log}")
                        if phase == "first run":
                            problem = self.verify(server, fixture)
                            if problem:
                                raise SystemExit(f"{tool.name}: after the first run: {problem}")
        return list(cells.values())


class DeployKeyRows(PlaybookComparison):
    name = "deploy_key"
    title = "One deploy key (can_push) on N projects"
    ours = Tool(OURS, "deploy_key_runnercreds.yml")
    alternative = Tool("community.general loop", "deploy_key_community_general.yml")

    def __init__(self) -> None:
        self.extra_vars = {"bench_public_key": _public_key(), "bench_key_title": "runner-fleet"}

    def verify(self, server, fixture):
        target = GitlabTarget(server.url, fixture.admin_token, is_test_server=True)
        gl = target.admin_client()
        for path in (fixture.projects[0], fixture.projects[-1]):
            keys = gl.projects.get(path, lazy=True).keys.list(get_all=True)
            if not any(k.title == "runner-fleet" and k.can_push for k in keys):
                return f"{path} has no runner-fleet key with can_push"
        return None


class ProtectedTagRows(PlaybookComparison):
    name = "protected_tag"
    title = "Protected tag v* (Maintainers) on N projects"
    ours = Tool(OURS, "protected_tag_runnercreds.yml")
    alternative = Tool("ansible.builtin.uri loop", "protected_tag_uri.yml")
    extra_vars = {"bench_tag_pattern": "v*"}

    def verify(self, server, fixture):
        target = GitlabTarget(server.url, fixture.admin_token, is_test_server=True)
        gl = target.admin_client()
        for path in (fixture.projects[0], fixture.projects[-1]):
            tags = gl.projects.get(path, lazy=True).protectedtags.list(get_all=True)
            if not any(t.name == "v*" and t.create_access_levels[0]["access_level"] == 40 for t in tags):
                return f"{path} has no protection v* for Maintainers"
        return None


class Fleet:
    """N fresh runner containers (podman, host networking) named runnercreds-bench-1..N.

    Each has the gitlab-runner user and one existing checkout (seed 003's repository
    whose core.sshCommand is to be set), as the gitlab-runner package and a first
    job would leave the host. Removed again on exit, also on failure and SIGTERM."""

    prefix = "runnercreds-bench-"
    checkout = "/home/gitlab-runner/builds/app"
    live: set[str] = set()  # every container started and not yet removed (for main()'s last resort)

    def __init__(self, size: int, log_path: str) -> None:
        self.names = [f"{self.prefix}{i}" for i in range(1, size + 1)]
        self.log_path = log_path

    def _podman(self, *args: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as err:
            subprocess.run(["podman", *args], check=True, stdout=subprocess.DEVNULL, stderr=err)

    @classmethod
    def remove(cls, names) -> None:
        names = list(names)
        if names:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *names], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cls.live.difference_update(names)

    def __enter__(self):
        self.remove(self.names)  # leftovers of an interrupted run, by their exact names
        try:
            for name in self.names:
                self.live.add(name)
                self._podman("run", "-d", "--name", name, "--hostname", name, "--network", "host", RUNNER_IMAGE)
                self._podman("exec", name, "useradd", "--create-home", "--shell", "/bin/bash", "gitlab-runner")
                self._podman("exec", "--user", "gitlab-runner", name, "sh", "-c",
                             f"mkdir -p {self.checkout} && git init -q {self.checkout} && git -C {self.checkout} "
                             "remote add origin git@127.0.0.1:bench/app.git")
        except BaseException:
            self.remove(self.names)
            raise
        return self

    def __exit__(self, *exc):
        self.remove(self.names)


class FleetConvergenceRows(RowType):
    """The runner SSH-key role on 1, 3 and 6 fresh podman containers (issue 8), first run and re-run,
    beside seed 003's steps written with builtin modules and community.general.gitlab_deploy_key.

    Every host gets two projects of the fixture, the first with push, the second read-only
    (host i: projects 2i and 2i+1), the same assignment for both playbooks, which read the
    same inventory. GitLab's SSH endpoint is 127.0.0.1 on a port nothing listens on, with a
    generated host key pinned: neither playbook connects to it (runner_ssh_key_verify stays false)."""

    name = "fleet_convergence"
    title = "Runner SSH keys on N containers"
    unit = "containers"
    per_host = 2
    ssh_port = 2222
    ours = Tool(OURS, "fleet_runnercreds.yml")
    alternative = Tool("builtin + c.g.gitlab_deploy_key", "fleet_builtin.yml")

    def unavailable(self):
        if not shutil.which("podman"):
            return "n/a (no podman)"
        if subprocess.run(["podman", "image", "exists", RUNNER_IMAGE], check=False).returncode != 0:
            return f"n/a (no {RUNNER_IMAGE}: run scripts/build-runner-image.sh)"
        return None

    def sizes(self, config):
        return config.fleet_sizes

    def projects_for(self, size):
        return size * self.per_host

    def max_rerun_reads(self, size):
        # One deploy_key run per host, each at most one read per project (+ a constant).
        return size * (self.per_host + CONSTANT_READS)

    def inventory(self, fleet: Fleet, fixture: Fixture, host_key: str) -> dict:
        hosts = {}
        for i, name in enumerate(fleet.names):
            push, read = fixture.projects[self.per_host * i:self.per_host * i + 2]
            hosts[name] = {"runner_ssh_key_projects": [{"project": push, "can_push": True},
                                                       {"project": read, "can_push": False}]}
        return {"all": {"children": {"runners": {
            "vars": {
                "ansible_connection": "containers.podman.podman",
                "runner_ssh_key_gitlab_ssh_host": "127.0.0.1",
                "runner_ssh_key_gitlab_ssh_port": self.ssh_port,
                "runner_ssh_key_host_keys": [host_key],
                "runner_ssh_key_git_checkouts": [Fleet.checkout],
                "runner_ssh_key_verify": False,
                # The alternative hard-codes /home/gitlab-runner; the role can be told too.
                "runner_ssh_key_home": "/home/gitlab-runner",
            },
            "hosts": hosts,
        }}}}

    def verify(self, server: Server, fixture: Fixture, inventory: dict) -> str | None:
        """Every host's key on its two projects, with the right can_push (admin API, not counted)."""
        target = GitlabTarget(server.url, fixture.admin_token, is_test_server=True)
        gl = target.admin_client()
        for host, hv in inventory["all"]["children"]["runners"]["hosts"].items():
            for entry in hv["runner_ssh_key_projects"]:
                keys = gl.projects.get(entry["project"], lazy=True).keys.list(get_all=True)
                if not any(k.title == f"runner:{host}" and bool(k.can_push) == entry["can_push"] for k in keys):
                    return f"{entry['project']} has no key runner:{host} with can_push={entry['can_push']}"
        return None

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        size = fixture.size // self.per_host
        tools = [self.ours, self.alternative]
        cells = {(t.name, phase): Measurement(self.name, t.name, size, latency, phase)
                 for t in tools for phase in ("first run", "no-change re-run")}
        host_key = _public_key().rsplit(" ", 1)[0]  # "ssh-ed25519 AAAA...", as in ssh_host_ed25519_key.pub
        times = {self.ours.name: repeat, self.alternative.name: alt_repeat}
        for i in range(max(times.values())):
            for tool in (tools if i % 2 == 0 else tools[::-1]):
                if i >= times[tool.name]:
                    continue
                with fixture.start(ctx.workdir, ctx.server_log) as server, Fleet(size, ctx.server_log) as fleet:
                    server.control("PUT", "latency", {"ms": latency})
                    env = ansible_env(server.url, fixture.bot_token, ctx.collections, ctx.ansible_home)
                    inventory = self.inventory(fleet, fixture, host_key)
                    inv_path = os.path.join(ctx.workdir, f"fleet-{size}.yml")
                    with open(inv_path, "w", encoding="utf-8") as fh:
                        json.dump(inventory, fh, indent=1)  # JSON is YAML
                    for phase in ("first run", "no-change re-run"):
                        server.control("DELETE", "requests")
                        wall, rc, recap = run_fleet_playbook(tool.playbook, inv_path, env, ctx.ansible_log)
                        counts = server.counters()
                        changed = sum(h["changed"] for h in recap.values()) if recap else None
                        sample = RunResult(wall, rc, changed, **counts, recap=recap)
                        cells[(tool.name, phase)].samples.append(sample)
                        tph = sample.tasks_per_host
                        log(f"  {self.name:<14} N={size:<4} {latency:>3} ms  {tool.name:<24} "
                            f"{phase:<17} {wall:7.2f} s  reads={counts['reads']:<5} writes={counts['writes']:<5}"
                            f" changed={changed} tasks/host={tph if tph is None else round(tph, 1)} rc={rc}")
                        if rc != 0 or len(recap) != size:
                            raise SystemExit(f"{tool.playbook} failed (rc={rc}, {len(recap)} of {size} hosts in "
                                             f"the recap); see {ctx.ansible_log}")
                        if phase == "first run":
                            problem = self.verify(server, fixture, inventory)
                            if problem:
                                raise SystemExit(f"{tool.name}: after the first run: {problem}")
        return list(cells.values())


ROW_TYPES: dict[str, type[RowType]] = {
    cls.name: cls for cls in (DeployKeyRows, ProtectedTagRows, FleetConvergenceRows)
}
ROW_ALIASES = {"fleet": "fleet_convergence"}


def _public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    blob = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return blob.decode() + " runner-fleet@bench"


# --- report --------------------------------------------------------------------------------------


def _versions() -> dict:
    from importlib.metadata import version

    import ansible_collections.community.general as cg
    import yaml

    def manifest(path):
        with open(os.path.join(path, "MANIFEST.json"), encoding="utf-8") as fh:
            return json.load(fh)["collection_info"]["version"]

    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as fh:
        ours = yaml.safe_load(fh)["version"]
    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True, check=False)
    return {
        "runnercreds.gitlab": ours,
        "git": git.stdout.strip() or None,
        "community.general": manifest(list(cg.__path__)[0]),
        "ansible": version("ansible"),
        "ansible-core": version("ansible-core"),
        "python-gitlab": version("python-gitlab"),
        "python": platform.python_version(),
    }


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"os": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def _rw(m: Measurement) -> str:
    """Reads / writes of the run; "≈" marks counts that differed between the repeats (median shown)."""
    reads = sorted(s.reads for s in m.samples)
    writes = sorted(s.writes for s in m.samples)
    mark = "" if reads[0] == reads[-1] and writes[0] == writes[-1] else "≈"
    return f"{mark}{statistics.median_low(reads)} / {statistics.median_low(writes)}"


def _ratio(a: float, b: float) -> str:
    if b == 0:
        return "-" if a == 0 else "∞"
    return f"{a / b:.1f}×"


def expectation(row_type: str, m: Measurement) -> str | None:
    """The issue's promise for a no-change re-run: <= 1 read per project (+ a constant per module run),
    0 writes, nothing changed."""
    if m.tool != OURS or m.phase != "no-change re-run":
        return None
    limit = ROW_TYPES[row_type]().max_rerun_reads(m.size)
    ok = all(s.reads <= limit and s.writes == 0 and s.changed == 0 for s in m.samples)
    return "yes" if ok else "NO"


def _tasks(m: Measurement) -> str:
    """Tasks per host (PLAY RECAP ok, which includes changed; median of the repeats) and how many changed."""
    per_host = [s.tasks_per_host for s in m.samples if s.tasks_per_host is not None]
    if not per_host:
        return "-"
    changed = statistics.median(s.changed / len(s.recap) for s in m.samples if s.recap)
    return f"{statistics.median(per_host):g} ({changed:g} changed)"


CONSTANT_READS = 2


def build_table(rows: list[dict], unavailable: list[dict]) -> str:
    project_rows = [r for r in rows if r.get("ours_tasks") is None]
    fleet_rows = [r for r in rows if r.get("ours_tasks") is not None]
    tables = []
    if project_rows or unavailable or not fleet_rows:
        tables.append(_project_table(project_rows, unavailable))
    if fleet_rows:
        tables.append(_fleet_table(fleet_rows))
    return "\n\n".join(tables)


def _fleet_table(rows: list[dict]) -> str:
    head = ("| Rows | Containers | Latency | Run | runnercreds.gitlab s | Alternative | Alternative s | Speed-up | "
            "runnercreds tasks / host | Alternative tasks / host | runnercreds reads / writes | "
            "Alternative reads / writes | Requests saved |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['title']} | {r['size']} | {r['latency_ms']} ms | {r['phase']} | {r['ours_s']:.2f} | "
            f"{r['alternative']} | {r['alt_s']:.2f} | **{r['speedup']}** | {r['ours_tasks']} | {r['alt_tasks']} | "
            f"{r['ours_rw']} | {r['alt_rw']} | {r['requests_ratio']} |")
    return "\n".join(lines)


def _project_table(rows: list[dict], unavailable: list[dict]) -> str:
    head = ("| Rows | N | Latency | Run | runnercreds.gitlab s | Alternative | Alternative s | Speed-up | "
            "runnercreds reads / writes | Alternative reads / writes | Requests saved |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['title']} | {r['size']} | {r['latency_ms']} ms | {r['phase']} | {r['ours_s']:.2f} | "
            f"{r['alternative']} | {r['alt_s']:.2f} | **{r['speedup']}** | {r['ours_rw']} | {r['alt_rw']} | "
            f"{r['requests_ratio']} |")
    for u in unavailable:
        lines.append(f"| {u['title']} | {u['sizes']} | - | - | {u['reason']} | - | - | - | - | - | - |")
    return "\n".join(lines)


def summarize(measurements: list[Measurement]) -> list[dict]:
    by_key = {(m.row_type, m.size, m.latency_ms, m.phase, m.tool): m for m in measurements}
    rows = []
    for (row_type, size, latency, phase, tool), ours in by_key.items():
        if tool != OURS:
            continue
        alt = next(m for (rt, sz, lat, ph, t), m in by_key.items()
                   if (rt, sz, lat, ph) == (row_type, size, latency, phase) and t != OURS)
        o, a = ours.samples[-1], alt.samples[-1]
        rows.append({
            "row_type": row_type, "title": ROW_TYPES[row_type].title, "size": size, "latency_ms": latency,
            "phase": phase, "alternative": alt.tool, "repeats": len(ours.samples),
            "ours_s": ours.wall_median, "alt_s": alt.wall_median,
            "ours_s_all": [round(s.wall_s, 3) for s in ours.samples],
            "alt_s_all": [round(s.wall_s, 3) for s in alt.samples],
            "speedup": _ratio(alt.wall_median, ours.wall_median),
            "speedup_x": round(alt.wall_median / ours.wall_median, 2),
            "ours_rw": _rw(ours), "alt_rw": _rw(alt),
            "ours_requests": {"total": o.total, "reads": o.reads, "writes": o.writes, "by_route": o.by_route,
                              "max_in_flight": o.max_in_flight},
            "alt_requests": {"total": a.total, "reads": a.reads, "writes": a.writes, "by_route": a.by_route,
                             "max_in_flight": a.max_in_flight},
            "requests_ratio": _ratio(a.total, o.total),
            "ours_changed": o.changed, "alt_changed": a.changed,
            "ours_tasks": _tasks(ours) if o.recap else None, "alt_tasks": _tasks(alt) if a.recap else None,
            "rerun_expectation_met": expectation(row_type, ours),
        })
    return rows


def write_results(doc: dict, table: str) -> list[str]:
    os.makedirs(RESULTS, exist_ok=True)
    stamp = doc["date"].replace(":", "").replace("-", "")[:13]  # 20250101T1200
    md = render_markdown(doc, table)
    paths = []
    # A smoke run keeps its dated copy but does not replace the published latest table.
    bases = [f"{stamp}-quick"] if doc["config"]["quick"] else ["latest", stamp]
    for base in bases:
        for ext, text in (("md", md), ("json", json.dumps(doc, indent=2, sort_keys=False) + "\n")):
            path = os.path.join(RESULTS, f"{base}.{ext}")
            with open(path + ".tmp", "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(path + ".tmp", path)
            paths.append(path)
    return paths


def render_markdown(doc: dict, table: str) -> str:
    v, m, c = doc["versions"], doc["machine"], doc["config"]
    checks = [r for r in doc["rows"] if r["rerun_expectation_met"] is not None]
    failed = [r for r in checks if r["rerun_expectation_met"] != "yes"]
    return (
        f"# Benchmark results ({doc['date']})\n\n"
        f"{table}\n\n"
        f"Wall seconds: whole `ansible-playbook` run, median of {c['repeat']} runs for runnercreds.gitlab "
        f"and {c['alt_repeat']} for the alternative (every sample in the JSON). Speed-up: alternative's seconds / runnercreds.gitlab's. "
        f"Requests saved: alternative's requests / runnercreds.gitlab's. Reads and writes: the test server's "
        f"own counters for that run. Latency: the server's injected delay per API request.\n\n"
        f"No-change re-run of runnercreds.gitlab at most one read per project (+{CONSTANT_READS} per module run), "
        f"no write, changed=0: {'met on every row' if not failed else 'NOT met on ' + str(len(failed)) + ' rows'}.\n\n"
        f"{_fleet_note(doc)}"
        f"{_floor_note(doc)}"
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}.  \n"
        f"Versions: runnercreds.gitlab {v['runnercreds.gitlab']} ({v['git']}), community.general "
        f"{v['community.general']}, ansible {v['ansible']}, ansible-core {v['ansible-core']}, python-gitlab "
        f"{v['python-gitlab']}, Python {v['python']}.  \n"
        f"Command: `{c['command']}` ({doc['duration_s']:.0f} s).\n"
    )


def _fleet_note(doc: dict) -> str:
    if not any(r.get("ours_tasks") is not None for r in doc["rows"]):
        return ""
    return ("Fleet rows: fresh runner containers (podman, host networking) per run; every container gets two "
            "projects (one with push, one read-only), the same for both playbooks. Containers: the number of "
            "hosts; tasks / host: the PLAY RECAP's `ok` per host (it includes the changed ones; a loop counts "
            "once, skipped tasks not at all), in brackets how many of them changed. The alternative is "
            "`benchmarks/playbooks/fleet_builtin.yml` (seed 003's steps: ssh-keygen, slurp, "
            "community.general.gitlab_deploy_key per project delegated to localhost, known_hosts, blockinfile, "
            "git config core.sshCommand).\n\n")


def _floor_note(doc: dict) -> str:
    floors = list(doc["server_floor_ms"].values())
    load = doc["machine"]["load_average_at_start"][0], doc["load_average_at_end"][0]
    note = ""
    if floors:
        note += (f"The test server's own time per sequential request (no injected latency): "
                 f"{max(floors)} ms; injected latency comes on top.  \n")
    note += f"Load average (1 min) at start / end: {load[0]} / {load[1]} on {doc['machine']['cores']} cores"
    if max(load) > doc["machine"]["cores"]:
        note += " - the machine was busy with other work: absolute times are inflated, compare the ratios"
    return note + ".  \n"


# --- main ----------------------------------------------------------------------------------------


@dataclass
class Context:
    workdir: str
    collections: str
    ansible_home: str
    server_log: str
    ansible_log: str


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200", help="project counts, comma separated (default 50,200)")
    parser.add_argument("--latency", default="0,20", help="injected ms per API request (default 0,20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported (default 3)")
    parser.add_argument("--alt-repeat", type=int, default=1,
                        help="runs per cell of the alternatives (default 1: they loop over every project, so "
                             "one run takes minutes and varies by a few percent; 0 = same as --repeat)")
    parser.add_argument("--rows", default=",".join(ROW_TYPES),
                        help="row types, comma separated (default: all: %s; `fleet` = fleet_convergence)"
                             % ",".join(ROW_TYPES))
    parser.add_argument("--fleet-sizes", default=None,
                        help="containers per fleet row, comma separated (default 1,3,6; --quick: 1,3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --sizes 20 --latency 0 --repeat 1 --fleet-sizes 1,3")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (server and ansible logs)")
    parser.add_argument("--no-save", action="store_true", help="print only; write nothing under results/")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.latency, args.repeat, args.alt_repeat = "20", "0", 1, 1
    if args.fleet_sizes is None:
        args.fleet_sizes = "1,3" if args.quick else "1,3,6"
    args.sizes = [int(x) for x in str(args.sizes).split(",") if x]
    args.latency = [int(x) for x in str(args.latency).split(",") if x]
    args.fleet_sizes = [int(x) for x in str(args.fleet_sizes).split(",") if x]
    if any(n < 1 for n in args.fleet_sizes):
        parser.error("--fleet-sizes: 1 or more containers")
    args.rows = list(dict.fromkeys(ROW_ALIASES.get(x, x) for x in args.rows.split(",") if x))
    unknown = [x for x in args.rows if x not in ROW_TYPES]
    if unknown:
        parser.error("unknown row type %s (known: %s)" % (", ".join(unknown), ", ".join(ROW_TYPES)))
    if args.repeat < 1 or args.alt_repeat < 0:
        parser.error("--repeat must be 1 or more, --alt-repeat 0 or more")
    args.alt_repeat = args.alt_repeat or args.repeat
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: stop the servers, remove the work dir


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.time()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    machine = _machine()
    workdir = tempfile.mkdtemp(prefix="runnercreds-bench-")
    ctx = Context(workdir, collections_path(), os.path.join(workdir, "ansible-home"),
                  os.path.join(workdir, "server.log"), os.path.join(workdir, "ansible.log"))
    log(f"benchmarks: work dir {workdir} (logs: server.log, ansible.log)")
    row_types = [ROW_TYPES[name]() for name in args.rows]
    measurements: list[Measurement] = []
    unavailable = []
    floors = {}
    try:
        runnable = []
        for rt in row_types:
            reason = rt.unavailable()
            if reason:
                unavailable.append({"row_type": rt.name, "title": rt.title,
                                    "sizes": ", ".join(map(str, rt.sizes(args))), "reason": reason})
                log(f"  {rt.name}: {reason}")
            else:
                runnable.append(rt)
        fixtures: dict[int, Fixture] = {}

        def fixture_for(projects: int) -> Fixture:
            if projects not in fixtures:
                log(f"building the fixture: {projects} projects through the admin API")
                fixtures[projects] = Fixture.build(projects, workdir, ctx.server_log)
                floors[projects] = fixtures[projects].floor_ms
                log(f"  the server's own time per sequential request: {fixtures[projects].floor_ms} ms")
            return fixtures[projects]

        project_rows = [rt for rt in runnable if not isinstance(rt, FleetConvergenceRows)]
        for size in args.sizes if project_rows else []:
            fixture = fixture_for(size)
            for latency in args.latency:
                for rt in project_rows:
                    measurements.extend(rt.measure(ctx, fixture, latency, args.repeat, args.alt_repeat))
        for rt in runnable:
            if not isinstance(rt, FleetConvergenceRows):
                continue
            for size in rt.sizes(args):
                fixture = fixture_for(rt.projects_for(size))
                for latency in args.latency:
                    measurements.extend(rt.measure(ctx, fixture, latency, args.repeat, args.alt_repeat))
    finally:
        Fleet.remove(Fleet.live)  # last resort; every Fleet removes its own containers already
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    rows = summarize(measurements)
    table = build_table(rows, unavailable)
    doc = {
        "date": date,
        "duration_s": round(time.time() - started, 1),
        "machine": machine,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "server_floor_ms": floors,
        "versions": _versions(),
        "config": {"sizes": args.sizes, "latency_ms": args.latency, "repeat": args.repeat,
                   "fleet_sizes": args.fleet_sizes,
                   "alt_repeat": args.alt_repeat,
                   "rows": args.rows, "quick": args.quick,
                   "command": "benchmarks/run.py " + " ".join((argv if argv is not None else sys.argv[1:]))},
        "rows": rows,
        "unavailable": unavailable,
        "samples": [asdict(m) for m in measurements],
    }
    doc["config"]["command"] = doc["config"]["command"].strip()
    print(render_markdown(doc, table))
    if not args.no_save:
        for path in write_results(doc, table):
            log(f"wrote {os.path.relpath(path, REPO)}")
    failed = [r for r in rows if r["rerun_expectation_met"] == "NO"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
