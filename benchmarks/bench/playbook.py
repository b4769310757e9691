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
    # Rows that watch the module processes (module_probe): [[module, peak RSS KiB, seconds], ...].
    modules: list | None = None

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


def run_fleet_playbook(playbook: str, inventory: str, env: dict, log_path: str) -> tuple[float, int, dict, list]:
    """ansible-playbook -i inventory with the ``ansible.posix.json`` callback: the PLAY RECAP per host
    (the callback's ``stats``, the same counts as the recap) and each task's seconds, first host's
    start to last host's end ([[name, seconds], ...] in play order)."""
    env = dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    wall, rc, stdout = _playbook(playbook, ["-i", inventory], env, log_path)
    try:
        doc = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        return wall, rc, {}, []
    names = {"ok": "ok", "changed": "changed", "unreachable": "unreachable", "failures": "failed",
             "skipped": "skipped"}
    recap = {host: {ours: int(stats.get(theirs, 0)) for theirs, ours in names.items()}
             for host, stats in doc.get("stats", {}).items()}
    return wall, rc, recap, _task_times(doc)


def _task_times(doc: dict) -> list:
    return [[t["task"]["name"], round(_seconds(t["task"]["duration"]), 3)]
            for play in doc.get("plays", []) for t in play.get("tasks", [])]


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
    return wall, rc, changed, _task_times(doc)


TIME = "/usr/bin/time"
PROBE_LINE = re.compile(r"^(\d+) ([\d.]+) .*?AnsiballZ_(\w+)\.py", re.M)
HTTP_LINE = re.compile(r"^(\w+|\?) ([\d.]+) ([\d.]+) (\d+) ([\d.]+)$", re.M)
PROBE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe")


class ModuleProbe:
    """The peak RSS, wall time and HTTP time of every module process of a local play.

    ``interpreter`` is a small shell script for ``ansible_python_interpreter``: it runs the real
    interpreter (this one, which has python-gitlab) under GNU time, which waits for it with
    wait4() and appends its peak RSS (``%M``, KiB), its seconds and its command line (the
    AnsiballZ file names the module) to a file; and it puts ``bench/probe`` on PYTHONPATH, whose
    sitecustomize times the module's requests (see there). Nothing in the collection knows about
    it; the cost is one exec of ``time`` per module run."""

    def __init__(self, workdir: str) -> None:
        self.out = os.path.join(workdir, "module-probe.log")
        self.http_out = os.path.join(workdir, "module-http.log")
        self.interpreter = os.path.join(workdir, "module-python")
        with open(self.interpreter, "w", encoding="utf-8") as fh:
            fh.write("#!/bin/sh\n"
                     f"RCBENCH_HTTP_LOG={self.http_out} PYTHONPATH={PROBE_DIR}${{PYTHONPATH:+:$PYTHONPATH}} "
                     f'exec {TIME} -q -a -o {self.out} -f "%M %e %C" {sys.executable} "$@"\n')
        os.chmod(self.interpreter, 0o755)

    @staticmethod
    def available() -> bool:
        return os.access(TIME, os.X_OK)

    def reset(self) -> None:
        for path in (self.out, self.http_out):
            with open(path, "w", encoding="utf-8"):
                pass

    @staticmethod
    def _text(path: str) -> str:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return ""

    def read(self) -> list:
        """One dict per module process since reset(), in the order they ended: module, rss_kib, wall_s
        (GNU time) and, where the process sent requests through requests, first_request_s, http_s
        (time with a request in flight), requests."""
        runs = [{"module": m.group(3), "rss_kib": int(m.group(1)), "wall_s": float(m.group(2))}
                for m in PROBE_LINE.finditer(self._text(self.out))]
        http = [m.groups() for m in HTTP_LINE.finditer(self._text(self.http_out))]
        # Both lines are written as a process ends, and a local play runs its modules one at a time.
        if len(http) == len(runs):
            for run, (name, first, busy, count, dummy_alive) in zip(runs, http):
                if name == run["module"]:
                    run.update(first_request_s=float(first), http_s=float(busy), requests=int(count))
        return runs
