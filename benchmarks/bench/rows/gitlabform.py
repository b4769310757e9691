"""API rows vs GitLabForm (issue 15): the same job for both tools - one deploy key with push and
v* protected for Maintainers on every project of a group - first run and no-change re-run.

runnercreds.gitlab: benchmarks/playbooks/gitlabform_job_runnercreds.yml (project_set_info names the
group's projects, then one deploy_key and one protected_tag task). GitLabForm: the newest version
the machine's Pythons can install, in its own venv under build/bench-venvs/ (created here when
missing), with a config of ``<group>/*`` and its ``deploy_keys`` and ``tags`` sections. Both use
the admin token: GitLabForm asks for one (it warns without), and the same token keeps the job equal.
Every run of either tool gets a fresh server from the fixture's snapshot."""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from ..common import OURS, VENVS, log, public_key
from ..fixtures import Fixture
from ..goals import RERUN, by_family, key_reads_goal, reads_goal, rss_goal, speedup_goal
from ..playbook import ModuleProbe, ansible_env, run_timed_playbook
from .base import Measurement, RowType, Tool, cells_for, register, turns

KEY_TITLE = "runner-fleet"
# GitLabForm 6.x needs Python >= 3.12; older Pythons get the newest release pip finds for them.
WANTED_PYTHON = (3, 12)
CALIBRATION_RUNS = 3


def _python_version(path: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None  # e.g. a pyenv shim for a version that is not selected
    major, minor = out.stdout.split()
    return int(major), int(minor)


def newest_python() -> tuple[str, tuple[int, int]]:
    """The newest Python on the machine: on PATH, or installed by pyenv (found through
    ``pyenv root``, never a hard-coded path); the running one if none is newer."""
    found = [sys.executable]
    for minor in range(20, 11, -1):
        path = shutil.which(f"python3.{minor}")
        if path:
            found.append(path)
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        found += sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3"))) if root else []
    best = (sys.executable, sys.version_info[:2])
    for path in found:
        version = _python_version(path)
        if version and version > best[1]:
            best = (path, version)
    return best


class GitLabFormVenv:
    """GitLabForm in its own venv, created (and GitLabForm installed from the package index) when missing."""

    def __init__(self, path: str = os.path.join(VENVS, "gitlabform")) -> None:
        self.path = path
        self.bin = os.path.join(path, "bin", "gitlabform")
        self.python = os.path.join(path, "bin", "python")

    def ensure(self) -> str | None:
        """None when GitLabForm is ready, else why it cannot be."""
        if not os.path.exists(self.bin):
            python, version = newest_python()
            if version < WANTED_PYTHON:
                log(f"gitlabform: no Python >= {'.'.join(map(str, WANTED_PYTHON))}; installing the newest "
                    f"GitLabForm for Python {'.'.join(map(str, version))}")
            log(f"gitlabform: creating {os.path.relpath(self.path)} with {python} and installing GitLabForm")
            shutil.rmtree(self.path, ignore_errors=True)
            try:
                subprocess.run([python, "-m", "venv", self.path], check=True)
                # The newest release pip can install for this Python with the machine's constraints.
                subprocess.run([self.python, "-m", "pip", "install", "--quiet", "gitlabform"], check=True)
            except (OSError, subprocess.CalledProcessError) as exc:
                shutil.rmtree(self.path, ignore_errors=True)
                return f"n/a (GitLabForm could not be installed: {exc})"
        return None

    def versions(self) -> dict:
        code = ("import platform; from importlib.metadata import version; "
                "print(version('gitlabform'), version('python-gitlab'), platform.python_version())")
        out = subprocess.run([self.python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        return {"gitlabform": out[0], "gitlabform's python-gitlab": out[1], "gitlabform's Python": out[2]}


def gitlabform_config(group: str, key: str) -> str:
    """GitLabForm's config (config_version 4, what 6.x reads) for the job: every project of the group,
    one deploy key with push, v* protected with Maintainers allowed to create."""
    doc = {
        "config_version": 4,
        "projects_and_groups": {
            f"{group}/*": {
                "deploy_keys": {"runner_fleet": {"key": key, "title": KEY_TITLE, "can_push": True}},
                "tags": {"v*": {"protected": True, "create_access_level": 40}},
            },
        },
    }
    return json.dumps(doc, indent=1)  # JSON is YAML


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


@register
class GitLabFormRows(RowType):
    name = "gitlabform"
    title = "Deploy key (can_push) + v* protected on every project of a group"
    table = "gitlabform"
    order = 10  # first in the table: the strongest alternative
    default_sizes = (20, 200, 2000)
    default_latencies = (0, 20, 50)
    # Cells the full run leaves out (measured once and too slow for `make bench`'s 30 minutes on
    # 2 cores; see benchmarks/README.md). Asked for explicitly (--sizes / --latency), they run.
    default_skip = frozenset({(2000, 20), (2000, 50)})
    one_run_from_size = 1000
    one_run_from_latency = 50
    ours = Tool(OURS, "gitlabform_job_runnercreds.yml")

    def cells(self, config):
        cells = super().cells(config)
        if config.sizes is None and config.latency is None:
            cells = [c for c in cells if c not in self.default_skip]
        return cells

    def __init__(self) -> None:
        self.venv = GitLabFormVenv()
        self.alternative = Tool("GitLabForm", "")
        self.calibration: dict = {}
        self.key = public_key()
        self.probe: ModuleProbe | None = None

    def unavailable(self):
        reason = self.venv.ensure()
        if reason:
            return reason
        version = self.venv.versions()["gitlabform"]
        self.alternative = Tool(f"GitLabForm {version}", "")
        log(f"gitlabform: measuring GitLabForm {version} ({self.venv.bin})")
        return None

    def versions(self) -> dict:
        return self.venv.versions()

    # --- the two tools -------------------------------------------------------------------------

    def _run_gitlabform(self, ctx, config: str, group: str, url: str, token: str) -> tuple[float, int]:
        env = dict(os.environ, GITLAB_URL=url, GITLAB_TOKEN=token, NO_COLOR="1", TERM="dumb")
        # -k: no look-up of the newest version on PyPI (a request to pypi.org on every run otherwise).
        cmd = [self.venv.bin, "-k", "-c", config, group]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ctx.workdir)
        wall = time.perf_counter() - start
        with open(ctx.ansible_log, "a", encoding="utf-8") as fh:
            fh.write(f"\n===== gitlabform rc={proc.returncode} wall={wall:.2f}s\n{proc.stdout}{proc.stderr}")
        return wall, proc.returncode

    def verify(self, server, fixture: Fixture) -> str | None:
        """After a first run (admin API, not counted): the key with push and v* for Maintainers."""
        gl = server.admin().admin_client()
        for path in (fixture.projects[0], fixture.projects[-1]):
            project = gl.projects.get(path, lazy=True)
            if not any(k.title == KEY_TITLE and k.can_push for k in project.keys.list(get_all=True)):
                return f"{path} has no {KEY_TITLE} key with can_push"
            tags = project.protectedtags.list(get_all=True)
            if not any(t.name == "v*" and t.create_access_levels[0]["access_level"] == 40 for t in tags):
                return f"{path} has no protection v* for Maintainers"
        return None

    # --- calibration: where the time goes ------------------------------------------------------

    def calibrate(self, ctx, fixture: Fixture) -> None:
        """Once per run, at 0 ms: Ansible's start-up (an empty play), one module run on one project
        (a task's fixed cost) and GitLabForm's start-up (``gitlabform -V -k``: imports, no API)."""
        if self.calibration:
            return
        empty, module, gf_start = [], [], []
        vars_file = os.path.join(ctx.workdir, "calibration.json")
        with open(vars_file, "w", encoding="utf-8") as fh:
            json.dump({"bench_projects": fixture.projects[:1]}, fh)
        with fixture.start(ctx.workdir, ctx.server_log) as server:
            env = ansible_env(server.url, fixture.admin_token, ctx.collections, ctx.ansible_home)
            for dummy in range(CALIBRATION_RUNS):
                wall, rc, dummy_changed, dummy_tasks = run_timed_playbook("empty.yml", vars_file, env, ctx.ansible_log)
                empty.append(wall if rc == 0 else None)
                wall, rc, dummy_changed, tasks = run_timed_playbook("module_start.yml", vars_file, env, ctx.ansible_log)
                module.append(tasks[0][1] if rc == 0 and tasks else None)
                start = time.perf_counter()
                rc = subprocess.run([self.venv.bin, "-V", "-k"], capture_output=True, check=False).returncode
                gf_start.append(time.perf_counter() - start if rc == 0 else None)
        self.calibration = {"ansible_start_s": _median(empty), "module_task_s": _median(module),
                            "gitlabform_start_s": _median(gf_start), "runs": CALIBRATION_RUNS}
        log(f"  calibration: empty play {self.calibration['ansible_start_s']} s, one module task on one project "
            f"{self.calibration['module_task_s']} s, gitlabform -V {self.calibration['gitlabform_start_s']} s")

    # --- one cell ------------------------------------------------------------------------------

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        tools = [self.ours, self.alternative]
        cells = cells_for(self.name, tools, fixture.size, latency)
        vars_file = os.path.join(ctx.workdir, f"{self.name}-{fixture.size}.json")
        with open(vars_file, "w", encoding="utf-8") as fh:
            # Only what the playbook reads: it names the projects by their group, like GitLabForm.
            job = {"bench_group": fixture.group, "bench_public_key": self.key, "bench_key_title": KEY_TITLE}
            if ModuleProbe.available():
                self.probe = self.probe or ModuleProbe(ctx.workdir)
                job["ansible_python_interpreter"] = self.probe.interpreter
            json.dump(job, fh)
        config = os.path.join(ctx.workdir, f"gitlabform-{fixture.size}.yml")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write(gitlabform_config(fixture.group, self.key))
        self.calibrate(ctx, fixture)
        # The same number of runs for both tools: the goals compare their medians. Where one run of
        # GitLabForm takes half a minute or more (2000 projects, 50 ms), one run each: three would take
        # minutes of make bench's 30.
        times = repeat if fixture.size < self.one_run_from_size and latency < self.one_run_from_latency else 1
        for dummy, tool in turns(tools, {self.ours.name: times, self.alternative.name: times}):
            with fixture.start(ctx.workdir, ctx.server_log) as server:
                server.control("PUT", "latency", {"ms": latency})
                env = ansible_env(server.url, fixture.admin_token, ctx.collections, ctx.ansible_home)
                self.run_phases(ctx, cells, tool, tool.name, server, fixture, latency,
                                functools.partial(self._run_tool, ctx, tool, vars_file, env, config, fixture, server))
        return list(cells.values())

    def _run_tool(self, ctx, tool, vars_file, env, config, fixture, server) -> tuple:
        """One run of either tool: ``(wall, rc, changed, extra)`` for :meth:`run_phases`."""
        if tool is self.ours:
            if self.probe:
                self.probe.reset()
            wall, rc, changed, tasks = run_timed_playbook(tool.playbook, vars_file, env, ctx.ansible_log)
            return wall, rc, changed, {"tasks": tasks, "modules": self.probe.read() if self.probe else None}
        # GitLabForm reports no "changed"; its writes are in the server's counters.
        wall, rc = self._run_gitlabform(ctx, config, fixture.group, server.url, fixture.admin_token)
        return wall, rc, None, {"tasks": None}

    def max_rerun_reads(self, size):
        # Three module runs (the project listing, deploy_key, protected_tag): one read per project
        # each for the two tasks, one per 100 projects for the listing, plus a constant per run.
        return 2 * size + -(-size // 100) + 3 * 2

    # --- the report ----------------------------------------------------------------------------

    def summary(self, ours: Measurement, alt: Measurement, doc: dict) -> dict:
        floor = float(doc["server_floor_ms"].get(ours.size) or doc["server_floor_ms"].get(str(ours.size)) or 0)
        o, a = ours.samples[-1], alt.samples[-1]
        families = by_family(o.by_route)
        goals = [speedup_goal(ours.phase, ours.latency_ms, ours.wall_median, alt.wall_median, o.writes)]
        if ours.phase == RERUN:
            two_task = sum(families.get(f, {}).get("reads", 0) for f in ("deploy_key", "protected_tag", "other"))
            goals += [reads_goal(ours.size, two_task),
                      key_reads_goal(ours.size, families.get("deploy_key", {}).get("reads", 0))]
        peak = module_peak_mb(ours)
        goals.append(rss_goal(ours.size, peak))
        return {"goals": [g for g in goals if g], "families": families, "module_peak_rss_mb": peak,
                "breakdown": breakdown(ours, alt, self.calibration, floor)}


def module_peak_mb(m: Measurement) -> float | None:
    """The largest peak RSS of any module process in any sample of the cell, in MB (None: unmeasured)."""
    peaks = [run["rss_kib"] for s in m.samples for run in (s.modules or [])]
    return round(max(peaks) / 1024, 1) if peaks else None


def module_phases(m: Measurement) -> dict | None:
    """What the module processes measured of themselves (medians of the samples' sums over the play's
    module runs): their wall time, the time to their first request (interpreter, imports, set-up),
    the time with a request in flight, and the rest (planning, applying, answering between requests)."""
    sums = []
    for s in m.samples:
        runs = s.modules or []
        if not runs or any("http_s" not in r for r in runs):
            continue
        wall = sum(r["wall_s"] for r in runs)
        start = sum(r["first_request_s"] for r in runs)
        http = sum(r["http_s"] for r in runs)
        sums.append({"modules": len(runs), "wall_s": wall, "start_s": start, "http_s": http,
                     "rest_s": wall - start - http})
    if not sums:
        return None
    return {key: _median(x[key] for x in sums) for key in sums[0]}


def breakdown(ours: Measurement, alt: Measurement, calibration: dict, floor_ms: float) -> dict:
    """Where the time of one cell goes, from what was measured (all seconds, medians of the repeats).

    runnercreds.gitlab: Ansible's start-up (the empty play), each task's time (JSON callback), of it
    the tasks' fixed cost (one module run on one project, times the number of tasks), the HTTP time
    (requests x (server floor + injected latency), sequential; divided by the most requests the
    server had in flight at once for the estimate of the overlap), and the rest (applying, Ansible
    between the tasks). GitLabForm: its start-up (``-V``), its HTTP time (one request at a time),
    the rest (its own processing)."""
    o, a = ours.samples[-1], alt.samples[-1]
    per_request = (floor_ms + ours.latency_ms) / 1000
    tasks = {}
    for i, (name, dummy) in enumerate(ours.samples[0].tasks or []):
        tasks[name] = _median(s.tasks[i][1] for s in ours.samples if s.tasks and len(s.tasks) > i)
    tasks_s = sum(v for v in tasks.values() if v) if tasks else None
    start = calibration.get("ansible_start_s")
    module = calibration.get("module_task_s")
    http_seq = round(o.total * per_request, 3)
    in_flight = max(o.max_in_flight or 1, 1)
    http_est = round(http_seq / in_flight, 3)
    fixed = round(module * len(tasks), 3) if module is not None else None
    ours_rest = None
    if tasks_s is not None and fixed is not None:
        ours_rest = round(tasks_s - fixed - http_est, 3)
    gf_start = calibration.get("gitlabform_start_s")
    gf_http = round(a.total * per_request, 3)
    gf_rest = round(alt.wall_median - (gf_start or 0) - gf_http, 3)
    return {
        "ours": {"wall_s": round(ours.wall_median, 3), "ansible_start_s": start, "tasks_s": tasks_s, "tasks": tasks,
                 "module_start_s": module, "tasks_fixed_s": fixed, "requests": o.total,
                 "http_sequential_s": http_seq, "max_in_flight": in_flight, "http_overlapped_s": http_est,
                 "rest_s": ours_rest, "measured": module_phases(ours),
                 "module_peak_rss_mb": module_peak_mb(ours),
                 "outside_tasks_s": round(ours.wall_median - tasks_s, 3) if tasks_s is not None else None},
        "gitlabform": {"wall_s": round(alt.wall_median, 3), "start_s": gf_start, "requests": a.total,
                       "http_s": gf_http, "max_in_flight": a.max_in_flight, "rest_s": gf_rest},
        "server_floor_ms": floor_ms,
    }
