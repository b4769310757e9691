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
