# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark report's goal logic and GitLabForm tables (benchmarks/bench/), on made-up numbers.

No timing here: the figures are inputs, the tests check the verdicts and where they are printed."""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

from bench import goals, report  # noqa: E402  pylint: disable=wrong-import-position


@pytest.mark.parametrize("phase, latency, ours, alt, writes, met", [
    (goals.RERUN, 0, 2.0, 3.0, 0, True),      # 1.5x exactly
    (goals.RERUN, 0, 2.0, 2.9, 0, False),
    (goals.RERUN, 0, 1.0, 9.0, 1, False),     # fast enough, but a re-run that writes misses
    (goals.RERUN, 20, 2.0, 24.0, 0, True),
    (goals.FIRST, 0, 2.0, 2.3, 5, False),
    (goals.FIRST, 0, 2.0, 2.4, 5, True),      # writes are the job on a first run
    (goals.FIRST, 20, 3.0, 23.9, 5, False),
])
def test_speedup_goal(phase, latency, ours, alt, writes, met):
    verdict = goals.speedup_goal(phase, latency, ours, alt, writes)
    assert verdict["met"] is met
    assert verdict["ratio"] == round(alt / ours, 2)


def test_no_goal_at_other_latencies():
    assert goals.speedup_goal(goals.RERUN, 50, 1.0, 100.0, 0) is None


def test_reads_goals():
    assert goals.reads_goal(20, 100) is None
    assert goals.reads_goal(200, 205)["met"] is True
    assert goals.reads_goal(200, 206)["met"] is False
    assert goals.key_reads_goal(2000, 22)["met"] is True
    assert goals.key_reads_goal(2000, 2000)["met"] is False


def test_requests_by_family():
    families = goals.by_family({"GET /groups/:id/projects": 2, "GET /projects/:id/deploy_keys": 20,
                                "POST /projects/:id/deploy_keys": 20, "DELETE /projects/:id/protected_tags/:name": 3,
                                "GET /user": 2})
    assert families == {"project_set_info": {"reads": 2, "writes": 0},
                        "deploy_key": {"reads": 20, "writes": 20},
                        "protected_tag": {"reads": 0, "writes": 3},
                        "other": {"reads": 2, "writes": 0}}


def _row(phase, ours_s, alt_s, writes):
    verdict = goals.speedup_goal(phase, 0, ours_s, alt_s, writes)
    return {"table": "gitlabform", "title": "job", "size": 20, "latency_ms": 0, "phase": phase,
            "alt_s": alt_s, "ours_s": ours_s, "speedup": report.ratio(alt_s, ours_s), "alt_rw": "42 / 40",
            "ours_rw": f"40 / {writes}", "requests_ratio": "1.0×", "ours_tasks": None, "goals": [verdict]}


def test_gitlabform_rows_first_with_their_goals():
    rows = [_row(goals.FIRST, 2.0, 3.0, 40), _row(goals.RERUN, 2.0, 2.0, 0),
            {"table": "api", "title": "api row", "size": 50, "latency_ms": 0, "phase": goals.FIRST, "ours_s": 1.0,
             "alt_s": 10.0, "alternative": "loop", "speedup": "10.0×", "ours_rw": "1 / 1", "alt_rw": "2 / 1",
             "requests_ratio": "1.5×", "ours_tasks": None}]
    text = report.build_table(rows, [])
    assert text.index("GitLabForm s") < text.index("api row")
    assert "met (≥ 1.2× faster: 1.50×)" in text
    assert "**not met** (≥ 1.5× faster, 0 writes: 1.00×, 0 writes)" in text
    goal_lines = [line for line in report.goals_table(rows[:2]).splitlines() if "vs GitLabForm" in line]
    assert len(goal_lines) == 2


# --- the fleet rows over SSH and the module's peak memory (issue 15) ---------------------------------


@pytest.mark.parametrize("phase, hosts, ours, alt, writes, verdicts", [
    (goals.RERUN, 6, 12.0, 24.0, 0, [True, True]),     # 2x exactly, 2.0 s per host exactly
    (goals.RERUN, 6, 12.1, 30.0, 0, [True, False]),    # fast enough against the loop, too slow per host
    (goals.RERUN, 6, 6.0, 11.9, 0, [False, True]),
    (goals.RERUN, 6, 6.0, 30.0, 1, [False, True]),     # a re-run that writes misses the speed-up goal
    (goals.RERUN, 3, 30.0, 90.0, 0, [True]),           # the per-host goal is at 6 hosts only
    (goals.FIRST, 6, 10.0, 15.0, 60, [True]),          # 1.5x exactly; writes are the job on a first run
    (goals.FIRST, 12, 10.0, 14.9, 60, [False]),
])
def test_fleet_goals(phase, hosts, ours, alt, writes, verdicts):
    found = goals.fleet_goals(phase, hosts, ours, alt, writes)
    assert [g["met"] for g in found] == verdicts
    assert found[0]["ratio"] == round(alt / ours, 2)


def test_rss_goal():
    assert goals.rss_goal(200, 500.0) is None
    assert goals.rss_goal(2000, 149.9)["met"] is True
    assert goals.rss_goal(2000, 150.0)["met"] is False
    unmeasured = goals.rss_goal(2000, None)
    assert unmeasured["met"] is False and unmeasured["measured"] == "not measured"


def test_module_probe_pairs_gnu_time_and_http_lines(tmp_path):
    from bench.playbook import ModuleProbe  # pylint: disable=import-outside-toplevel

    probe = ModuleProbe(str(tmp_path))
    probe.reset()
    with open(probe.out, "a", encoding="utf-8") as fh:
        fh.write("61234 0.81 /venv/bin/python /root/.ansible/tmp/ansible-tmp-1/AnsiballZ_project_set_info.py\n"
                 "Command exited with non-zero status 1\n"
                 "98765 2.50 /venv/bin/python /root/.ansible/tmp/ansible-tmp-2/AnsiballZ_deploy_key.py\n")
    assert probe.read() == [{"module": "project_set_info", "rss_kib": 61234, "wall_s": 0.81},
                            {"module": "deploy_key", "rss_kib": 98765, "wall_s": 2.5}]
    with open(probe.http_out, "a", encoding="utf-8") as fh:
        fh.write("project_set_info 0.6000 0.0500 2 0.8000\ndeploy_key 0.7000 1.2500 40 2.4000\n")
    runs = probe.read()
    assert runs[1] == {"module": "deploy_key", "rss_kib": 98765, "wall_s": 2.5, "first_request_s": 0.7,
                       "http_s": 1.25, "requests": 40}
    with open(probe.interpreter, encoding="utf-8") as fh:
        script = fh.read()
    assert script.startswith("#!/bin/sh\n") and sys.executable in script and probe.out in script
    probe.reset()
    assert probe.read() == []


def test_probe_counts_overlapping_requests_once():
    import importlib.util  # pylint: disable=import-outside-toplevel

    # Loaded from its file under a name of its own: the interpreter may have a sitecustomize already.
    spec = importlib.util.spec_from_file_location(
        "rcbench_probe", os.path.join(REPO, "benchmarks", "bench", "probe", "sitecustomize.py"))
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)  # without RCBENCH_HTTP_LOG it installs nothing
    # Two overlapping requests of a thread pool (0-2 and 1-3), a gap, one more (5-6): 4 s in flight.
    assert probe._union([(5.0, 6.0), (0.0, 2.0), (1.0, 3.0)]) == 4.0  # pylint: disable=protected-access
    assert probe._union([(0.0, 4.0), (1.0, 2.0)]) == 4.0  # pylint: disable=protected-access
    assert probe._union([]) == 0.0  # pylint: disable=protected-access


def _ssh_row(phase, hosts, ours_s, alt_s, writes):
    cell = {"ansible_start_s": 0.8, "host_tasks_s": 3.0, "api_tasks_s": 1.0, "between_tasks_s": 0.5, "tasks": 18,
            "requests": 11, "http_sequential_s": 0.01, "slowest": [["Generate the key pair", 1.25]], "wall_s": ours_s}
    return {"table": "fleet_ssh", "title": "ssh fleet", "size": hosts, "latency_ms": 0, "phase": phase,
            "ours_s": ours_s, "alt_s": alt_s, "alternative": "builtin", "speedup": report.ratio(alt_s, ours_s),
            "ours_rw": f"11 / {writes}", "alt_rw": "30 / 0", "requests_ratio": "2.7×", "ours_tasks": "18 (0 changed)",
            "alt_tasks": "7 (0 changed)", "goals": goals.fleet_goals(phase, hosts, ours_s, alt_s, writes),
            "breakdown": {"ours": cell, "alt": dict(cell, wall_s=alt_s)}}


def test_fleet_ssh_tables_mark_every_goal():
    rows = [_ssh_row(goals.FIRST, 6, 20.0, 25.0, 60), _ssh_row(goals.RERUN, 6, 15.0, 33.0, 0),
            {"table": "fleet", "title": "podman fleet", "size": 1, "latency_ms": 0, "phase": goals.FIRST,
             "ours_s": 9.0, "alt_s": 9.0, "alternative": "builtin", "speedup": "1.0×", "ours_rw": "2 / 2",
             "alt_rw": "6 / 2", "requests_ratio": "3.0×", "ours_tasks": "12 (5 changed)", "alt_tasks": "8 (6 changed)"}]
    text = report.build_table(rows, [])
    # The SSH rows have a table of their own (with s / host and the goal), before the podman fleet rows.
    assert text.index("ssh fleet") < text.index("podman fleet")
    assert "| 15.00 | 2.50 | 33.00 |" in text
    assert "**not met** (≥ 1.5× faster: 1.25×)" in text
    assert "met (≥ 2× faster, 0 writes: 2.20×, 0 writes)" in text
    goal_lines = [line for line in text.splitlines() if line.startswith("| no-change re-run per host")]
    assert goal_lines == ["| no-change re-run per host, amortised at 6 hosts | 6 | 0 ms | ≤ 2 s / host | "
                          "2.50 s / host | **not met** |"]
    assert "Generate the key pair 1.25" in report.fleet_breakdown_table(rows[:2])
    # The podman rows' table has no goal column and does not list the SSH rows.
    podman = report.fleet_table([r for r in rows if r["table"] == "fleet"])
    assert "ssh fleet" not in podman and "Goal" not in podman


def test_growth_table_shows_module_memory_at_0_ms():
    rows = []
    for size, rss in ((20, 61.2), (2000, None)):
        row = _row(goals.RERUN, 2.0, 3.0, 0)
        row.update(size=size, module_peak_rss_mb=rss)
        rows.append(row)
    rows.append(dict(_row(goals.RERUN, 2.0, 3.0, 0), latency_ms=20, size=200, module_peak_rss_mb=99.0))
    lines = report.growth_table(rows).splitlines()[2:]
    assert [line.split(" | ")[0] for line in lines] == ["| 20", "| 2000"]
    assert "| 61 |" in lines[0] and "| - |" in lines[1]


def test_fleet_breakdown_splits_api_and_host_tasks():
    from bench.playbook import RunResult  # pylint: disable=import-outside-toplevel
    from bench.rows.base import Measurement  # pylint: disable=import-outside-toplevel
    from bench.rows.fleet_ssh import fleet_breakdown  # pylint: disable=import-outside-toplevel

    m = Measurement("fleet_ssh", "runnercreds.gitlab", 6, 0, goals.RERUN)
    tasks = [["runnercreds.gitlab.runner_ssh_key : Generate the host's key pair", 3.0],
             ["runnercreds.gitlab.runner_ssh_key : Register the key on its projects", 2.0],
             ["Add the deploy key to the host's projects", 1.5]]
    m.samples.append(RunResult(10.0, 0, 0, 66, 66, 0, {}, tasks=tasks))
    b = fleet_breakdown(m, {"ansible_start_s": 1.0}, floor_ms=2.0)
    assert (b["host_tasks_s"], b["api_tasks_s"], b["between_tasks_s"]) == (3.0, 3.5, 2.5)
    assert b["http_sequential_s"] == 0.132
    assert b["slowest"][0] == ["Generate the host's key pair", 3.0]


def test_every_missed_goal_is_explained_with_its_breakdown():
    ssh = _ssh_row(goals.RERUN, 6, 15.0, 33.0, 0)  # per host 2.5 s: missed; 2.2x: met
    gf = _row(goals.RERUN, 2.0, 2.0, 0)  # 1.0x: missed
    gf["breakdown"] = {"ours": {"wall_s": 2.0, "ansible_start_s": 0.5,
                                "measured": {"modules": 3, "wall_s": 1.2, "start_s": 0.9, "http_s": 0.1, "rest_s": 0.2}},
                       "gitlabform": {"wall_s": 2.0, "start_s": 0.6, "http_s": 0.1}}
    met = _row(goals.FIRST, 1.0, 3.0, 40)
    text = report.misses_note({"rows": [ssh, gf, met]})
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(lines) == 2
    assert lines[0].startswith("- no-change re-run per host, amortised at 6 hosts (0 ms): ≤ 2 s / host, measured 2.50")
    assert lines[1].startswith("- no-change re-run vs GitLabForm at 0 ms (N=20): ")
    assert "tasks on the hosts 3.00 (tasks / host: 18 (0 changed))" in lines[0]
    assert "3 module runs 1.20 (start 0.90, HTTP 0.10, apply 0.20) + Ansible around them 0.30" in lines[1]
    assert report.misses_note({"rows": [met]}) == ""
