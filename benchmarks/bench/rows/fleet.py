"""Runner SSH keys on N fresh podman containers: the runner_ssh_key role vs the manual deploy-key steps
written with builtin modules and community.general.gitlab_deploy_key (issue 8)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from ..common import CONSTANT_READS, OURS, PHASES, RUNNER_IMAGE, public_key
from ..fixtures import Fixture, Server
from ..playbook import RunResult, ansible_env, run_fleet_playbook
from .base import Measurement, RowType, Tool, cells_for, log_sample, register, turns


class Fleet:
    """N fresh runner containers (podman, host networking) named runnercreds-bench-1..N.

    Each has the gitlab-runner user and one existing checkout (a repository
    whose core.sshCommand is to be set), as the gitlab-runner package and a first
    job would leave the host. Removed again on exit, also on failure and SIGTERM."""

    prefix = "runnercreds-bench-"
    checkout = "/home/gitlab-runner/builds/app"
    live: set[str] = set()  # every container started and not yet removed (for the CLI's last resort)

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


@register
class FleetConvergenceRows(RowType):
    """The runner SSH-key role on 1, 3 and 6 fresh podman containers (issue 8), first run and re-run,
    beside the manual deploy-key steps written with builtin modules and community.general.gitlab_deploy_key.

    Every host gets two projects of the fixture, the first with push, the second read-only
    (host i: projects 2i and 2i+1), the same assignment for both playbooks, which read the
    same inventory. GitLab's SSH endpoint is 127.0.0.1 on a port nothing listens on, with a
    generated host key pinned: neither playbook connects to it (runner_ssh_key_verify stays false)."""

    name = "fleet_convergence"
    aliases = ("fleet",)
    title = "Runner SSH keys on N containers"
    unit = "containers"
    table = "fleet"
    order = 40
    # 0 ms only in the full run: a host costs two API requests against a dozen tasks over podman exec,
    # so the injected latency moves these rows by noise only (earlier runs: 0 vs 20 ms within 10 %),
    # and the 20 ms rows cost seven of make bench's 30 minutes. --latency 0,20 measures both.
    default_latencies = (0,)
    # One run per tool and phase whatever --repeat says: a fleet run takes 10 to 90 s here, the
    # repeats of the 6-host rows alone took 8 of make bench's 30 minutes (earlier runs varied by
    # a few percent, less than the ratios the goals ask for). --fleet-repeat asks for more.
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

    def connection_vars(self, fleet) -> dict:
        """How Ansible reaches the fleet's hosts (group vars; a host's own vars may add to them)."""
        return {"ansible_connection": "containers.podman.podman"}

    def host_vars(self, fleet, index: int) -> dict:
        return {}

    def start_fleet(self, size: int, ctx):
        return Fleet(size, ctx.server_log)

    def between_runs(self, fleet) -> None:
        """After each measured run (the SSH rows close their connections here)."""

    def before_runs(self, ctx, fleet, inv_path: str, env: dict, size: int) -> None:
        """On a fresh fleet, before its measured runs (the SSH rows calibrate here)."""

    def inventory(self, fleet, fixture: Fixture, host_key: str) -> dict:
        hosts = {}
        for i, name in enumerate(fleet.names):
            # The host's share of the fixture: the first project with push, the others read-only.
            mine = fixture.projects[self.per_host * i:self.per_host * (i + 1)]
            hosts[name] = dict(self.host_vars(fleet, i),
                               runner_ssh_key_projects=[{"project": p, "can_push": j == 0} for j, p in enumerate(mine)])
        return {"all": {"children": {"runners": {
            "vars": {
                **self.connection_vars(fleet),
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
        gl = server.admin().admin_client()
        for host, hv in inventory["all"]["children"]["runners"]["hosts"].items():
            for entry in hv["runner_ssh_key_projects"]:
                keys = gl.projects.get(entry["project"], lazy=True).keys.list(get_all=True)
                if not any(k.title == f"runner:{host}" and bool(k.can_push) == entry["can_push"] for k in keys):
                    return f"{entry['project']} has no key runner:{host} with can_push={entry['can_push']}"
        return None

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        size = fixture.size // self.per_host
        tools = [self.ours, self.alternative]
        cells = cells_for(self.name, tools, size, latency)
        host_key = public_key().rsplit(" ", 1)[0]  # "ssh-ed25519 AAAA...", as in ssh_host_ed25519_key.pub
        times = {self.ours.name: ctx.fleet_repeat, self.alternative.name: min(alt_repeat, ctx.fleet_repeat)}
        for dummy, tool in turns(tools, times):
            with fixture.start(ctx.workdir, ctx.server_log) as server, self.start_fleet(size, ctx) as fleet:
                server.control("PUT", "latency", {"ms": latency})
                env = ansible_env(server.url, fixture.bot_token, ctx.collections, ctx.ansible_home)
                inventory = self.inventory(fleet, fixture, host_key)
                inv_path = os.path.join(ctx.workdir, f"fleet-{size}.yml")
                with open(inv_path, "w", encoding="utf-8") as fh:
                    json.dump(inventory, fh, indent=1)  # JSON is YAML
                self.before_runs(ctx, fleet, inv_path, env, size)
                for phase in PHASES:
                    server.control("DELETE", "requests")
                    wall, rc, recap, tasks = run_fleet_playbook(tool.playbook, inv_path, env, ctx.ansible_log)
                    self.between_runs(fleet)
                    changed = sum(h["changed"] for h in recap.values()) if recap else None
                    sample = RunResult(wall, rc, changed, **server.counters(), recap=recap, tasks=tasks)
                    cells[(tool.name, phase)].samples.append(sample)
                    tph = sample.tasks_per_host
                    log_sample(self.name, size, latency, tool.name, phase, sample,
                               f" tasks/host={tph if tph is None else round(tph, 1)}")
                    if rc != 0 or len(recap) != size:
                        raise SystemExit(f"{tool.playbook} failed (rc={rc}, {len(recap)} of {size} hosts in "
                                         f"the recap); see {ctx.ansible_log}")
                    if phase == PHASES[0]:
                        problem = self.verify(server, fixture, inventory)
                        if problem:
                            raise SystemExit(f"{tool.name}: after the first run: {problem}")
        return list(cells.values())
