"""Running ``ansible-playbook`` the same way for every row: environment, timing, output parsing."""

from __future__ import annotations

import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from .common import BENCH_DIR, PLAYBOOKS, REPO

RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
RECAP_HOSTS = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                         r"\s+skipped=(\d+)", re.M)


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
    # Rows that time the tasks (JSON callback): [[task name, seconds], ...] in play order.
    tasks: list | None = None

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


def _seconds(duration: dict) -> float:
    """Seconds between the JSON callback's ``start`` and ``end`` (ISO 8601, UTC, ``Z``)."""
    start, end = (datetime.datetime.fromisoformat(duration[k].replace("Z", "+00:00")) for k in ("start", "end"))
    return (end - start).total_seconds()


def run_timed_playbook(playbook: str, extra_vars_file: str, env: dict,
                       log_path: str) -> tuple[float, int, int | None, list]:
    """ansible-playbook with the ``ansible.posix.json`` stdout callback: the changed count of
    localhost and how long each task took ([[name, seconds], ...]) - the callback records
    every task's start and end, which the default output does not show."""
    env = dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    wall, rc, stdout = _playbook(playbook, ["-e", "@" + extra_vars_file], env, log_path)
    try:
        doc = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        return wall, rc, None, []
    changed = doc.get("stats", {}).get("localhost", {}).get("changed")
    tasks = [[t["task"]["name"], round(_seconds(t["task"]["duration"]), 3)]
             for play in doc.get("plays", []) for t in play.get("tasks", [])]
    return wall, rc, changed, tasks
