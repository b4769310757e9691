"""Issue 15's goals (GitLabForm rows, fleet rows over SSH, the module's peak memory), as pure
functions of measured numbers (unit-tested in tests/unit/test_bench_report.py; no I/O here)."""

from __future__ import annotations

import math

RERUN = "no-change re-run"
FIRST = "first run"

# (phase, injected latency in ms): the least speed-up of runnercreds.gitlab over GitLabForm
# (GitLabForm's seconds / ours) the issue asks for. No goal at other latencies.
SPEEDUP_GOALS = {
    (RERUN, 0): 1.5,
    (RERUN, 20): 12.0,
    (FIRST, 0): 1.2,
    (FIRST, 20): 8.0,
}
# The whole two-task re-run (deploy key + protected tag, without listing the group) at N=200:
# at most N + 5 reads.
READS_GOAL_SIZE = 200
READS_GOAL_EXTRA = 5
# The deploy-key part of a re-run with an admin token: about one read per hundred projects
# (GitLab's instance list GET /deploy_keys, 100 keys a page), plus a few fixed reads.
KEY_READS_PER_PAGE = 100
KEY_READS_EXTRA = 2


def speedup_goal(phase: str, latency_ms: int, ours_s: float, alt_s: float, ours_writes: int) -> dict | None:
    """Met or not, with the measured ratio; a re-run must also send no write. None: no goal here."""
    target = SPEEDUP_GOALS.get((phase, latency_ms))
    if target is None:
        return None
    ratio = alt_s / ours_s if ours_s else math.inf
    met = ratio >= target and (phase != RERUN or ours_writes == 0)
    need = f"≥ {target:g}× faster" + (", 0 writes" if phase == RERUN else "")
    got = f"{ratio:.2f}×" + (f", {ours_writes} writes" if phase == RERUN else "")
    return {"goal": f"{phase} vs GitLabForm at {latency_ms} ms", "target": need, "measured": got,
            "ratio": round(ratio, 2), "met": met}


def reads_goal(size: int, two_task_reads: int) -> dict | None:
    """The two-task re-run's reads at N=200 (None at other sizes)."""
    if size != READS_GOAL_SIZE:
        return None
    limit = size + READS_GOAL_EXTRA
    return {"goal": f"re-run reads of deploy_key + protected_tag at N={size}", "target": f"≤ {limit}",
            "measured": str(two_task_reads), "ratio": None, "met": two_task_reads <= limit}


def key_reads_goal(size: int, key_reads: int) -> dict:
    """The deploy-key part of a re-run with an admin token: ≈ one read per hundred projects."""
    limit = math.ceil(size / KEY_READS_PER_PAGE) + KEY_READS_EXTRA
    return {"goal": f"re-run deploy-key reads at N={size} (admin token)", "target": f"≤ {limit}",
            "measured": str(key_reads), "ratio": None, "met": key_reads <= limit}


def route_family(route: str) -> str:
    """Which part of the play sent a request, by the test server's route name."""
    if "/deploy_keys" in route:
        return "deploy_key"
    if "/protected_tags" in route:
        return "protected_tag"
    if route.startswith("GET /groups"):
        return "project_set_info"
    return "other"


def by_family(by_route: dict) -> dict:
    """{family: {"reads": n, "writes": n}} from the server's per-route counters."""
    out: dict = {}
    for route, count in by_route.items():
        fam = out.setdefault(route_family(route), {"reads": 0, "writes": 0})
        fam["reads" if route.split(" ", 1)[0] in ("GET", "HEAD") else "writes"] += count
    return out


# --- the fleet rows over SSH (issue 15) ------------------------------------------------------------

# The least speed-up of the runner_ssh_key role over the builtin + community.general steps.
FLEET_SPEEDUP_GOALS = {RERUN: 2.0, FIRST: 1.5}
# A no-change re-run at most this many seconds per host, amortised over a fleet of FLEET_HOSTS hosts.
FLEET_PER_HOST_S = 2.0
FLEET_HOSTS = 6


def fleet_goals(phase: str, hosts: int, ours_s: float, alt_s: float, ours_writes: int) -> list[dict]:
    """The fleet-over-SSH goals of one row: the speed-up at every fleet size, the seconds per host
    of the re-run at FLEET_HOSTS hosts; a re-run must also send no write."""
    out = []
    target = FLEET_SPEEDUP_GOALS.get(phase)
    if target is not None:
        ratio = alt_s / ours_s if ours_s else math.inf
        rerun = phase == RERUN
        out.append({"goal": f"{phase} vs builtin + community.general, {hosts} host{'' if hosts == 1 else 's'}",
                    "target": f"≥ {target:g}× faster" + (", 0 writes" if rerun else ""),
                    "measured": f"{ratio:.2f}×" + (f", {ours_writes} writes" if rerun else ""),
                    "ratio": round(ratio, 2), "met": ratio >= target and (not rerun or ours_writes == 0)})
    if phase == RERUN and hosts == FLEET_HOSTS:
        per_host = ours_s / hosts
        out.append({"goal": f"no-change re-run per host, amortised at {hosts} hosts",
                    "target": f"≤ {FLEET_PER_HOST_S:g} s / host", "measured": f"{per_host:.2f} s / host",
                    "ratio": None, "met": per_host <= FLEET_PER_HOST_S})
    return out


# --- the module's peak memory in the growth rows ---------------------------------------------------

RSS_GOAL_SIZE = 2000
RSS_GOAL_MB = 150


def rss_goal(size: int, peak_mb: float | None) -> dict | None:
    """The module's peak RSS at N=2000 under 150 MB (None at other sizes; not met when unmeasured)."""
    if size != RSS_GOAL_SIZE:
        return None
    measured = "not measured" if peak_mb is None else f"{peak_mb:.0f} MB"
    return {"goal": f"module peak RSS at N={size}", "target": f"< {RSS_GOAL_MB} MB", "measured": measured,
            "ratio": None, "met": peak_mb is not None and peak_mb < RSS_GOAL_MB}
