"""The report: rows from the measurements, the tables, the goals, Markdown and JSON under results/.

Pure formatting apart from ``versions()``, ``machine()`` and ``write_results()``."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess

from .common import CONSTANT_READS, OURS, REPO, RESULTS


def versions(row_types=()) -> dict:
    # Imported here: the report's formatting (unit-tested) needs neither Ansible nor yaml.
    from importlib.metadata import version  # pylint: disable=import-outside-toplevel

    import ansible_collections.community.general as cg  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel

    def manifest(path):
        with open(os.path.join(path, "MANIFEST.json"), encoding="utf-8") as fh:
            return json.load(fh)["collection_info"]["version"]

    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as fh:
        ours = yaml.safe_load(fh)["version"]
    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True, check=False)
    out = {
        "runnercreds.gitlab": ours,
        "git": git.stdout.strip() or None,
        "community.general": manifest(list(cg.__path__)[0]),
        "ansible": version("ansible"),
        "ansible-core": version("ansible-core"),
        "python-gitlab": version("python-gitlab"),
        "python": platform.python_version(),
    }
    for rt in row_types:
        out.update(rt.versions())
    return out


def machine() -> dict:
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


def _rw(m) -> str:
    """Reads / writes of the run; "≈" marks counts that differed between the repeats (median shown)."""
    reads = sorted(s.reads for s in m.samples)
    writes = sorted(s.writes for s in m.samples)
    mark = "" if reads[0] == reads[-1] and writes[0] == writes[-1] else "≈"
    return f"{mark}{statistics.median_low(reads)} / {statistics.median_low(writes)}"


def ratio(a: float, b: float) -> str:
    if b == 0:
        return "-" if a == 0 else "∞"
    return f"{a / b:.1f}×"


def expectation(row_type, m) -> str | None:
    """The issue's promise for a no-change re-run: <= 1 read per project (+ a constant per module run),
    0 writes, nothing changed."""
    if m.tool != OURS or m.phase != "no-change re-run":
        return None
    limit = row_type.max_rerun_reads(m.size)
    ok = all(s.reads <= limit and s.writes == 0 and s.changed == 0 for s in m.samples)
    return "yes" if ok else "NO"


def _tasks(m) -> str:
    """Tasks per host (PLAY RECAP ok, which includes changed; median of the repeats) and how many changed."""
    per_host = [s.tasks_per_host for s in m.samples if s.tasks_per_host is not None]
    if not per_host:
        return "-"
    changed = statistics.median(s.changed / len(s.recap) for s in m.samples if s.recap)
    return f"{statistics.median(per_host):g} ({changed:g} changed)"


def summarize(measurements: list, row_types: dict, doc: dict) -> list[dict]:
    """One row per (row kind, size, latency, phase): ours beside the alternative of the same cell."""
    by_key = {(m.row_type, m.size, m.latency_ms, m.phase, m.tool): m for m in measurements}
    rows = []
    for (row_type, size, latency, phase, tool), ours in by_key.items():
        if tool != OURS:
            continue
        alt = next(m for (rt, sz, lat, ph, t), m in by_key.items()
                   if (rt, sz, lat, ph) == (row_type, size, latency, phase) and t != OURS)
        o, a = ours.samples[-1], alt.samples[-1]
        kind = row_types[row_type]
        row = {
            "row_type": row_type, "table": kind.table, "title": kind.title, "size": size, "latency_ms": latency,
            "phase": phase, "alternative": alt.tool, "repeats": len(ours.samples), "alt_repeats": len(alt.samples),
            "ours_s": ours.wall_median, "alt_s": alt.wall_median,
            "ours_s_all": [round(s.wall_s, 3) for s in ours.samples],
            "alt_s_all": [round(s.wall_s, 3) for s in alt.samples],
            "speedup": ratio(alt.wall_median, ours.wall_median),
            "speedup_x": round(alt.wall_median / ours.wall_median, 2),
            "ours_rw": _rw(ours), "alt_rw": _rw(alt),
            "ours_requests": {"total": o.total, "reads": o.reads, "writes": o.writes, "by_route": o.by_route,
                              "max_in_flight": o.max_in_flight},
            "alt_requests": {"total": a.total, "reads": a.reads, "writes": a.writes, "by_route": a.by_route,
                             "max_in_flight": a.max_in_flight},
            "requests_ratio": ratio(a.total, o.total),
            "ours_changed": o.changed, "alt_changed": a.changed,
            "ours_tasks": _tasks(ours) if o.recap else None, "alt_tasks": _tasks(alt) if a.recap else None,
            "rerun_expectation_met": expectation(kind, ours),
        }
        row.update(kind.summary(ours, alt, doc))
        rows.append(row)
    return rows


# --- tables ----------------------------------------------------------------------------------------


def _table(head: list[str], lines: list[list]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]
    return "\n".join(out)


def build_table(rows: list[dict], unavailable: list[dict]) -> str:
    """Every table of the run: GitLabForm's rows first (with their goals and breakdown), then the
    API rows against community.general / uri, then the fleet rows."""
    tables = []
    gitlabform = [r for r in rows if r.get("table") == "gitlabform"]
    fleet_ssh = [r for r in rows if r.get("table") == "fleet_ssh"]
    fleet = [r for r in rows if r not in fleet_ssh and (r.get("table") == "fleet" or r.get("ours_tasks") is not None)]
    api = [r for r in rows if r not in gitlabform and r not in fleet and r not in fleet_ssh]
    gf_unavailable = [u for u in unavailable if u.get("table") == "gitlabform"]
    ssh_unavailable = [u for u in unavailable if u.get("table") == "fleet_ssh"]
    other_unavailable = [u for u in unavailable if u not in gf_unavailable and u not in ssh_unavailable]
    if gitlabform or gf_unavailable:
        tables.append(gitlabform_table(gitlabform, gf_unavailable))
    if gitlabform:
        tables.append(growth_table(gitlabform))
        tables.append(goals_table(gitlabform))
        tables.append(phase_table(gitlabform))
        tables.append(breakdown_table(gitlabform))
    if fleet_ssh or ssh_unavailable:
        tables.append(fleet_ssh_table(fleet_ssh, ssh_unavailable))
    if fleet_ssh:
        tables.append(goals_table(fleet_ssh, size_head="Hosts"))
        tables.append(fleet_breakdown_table(fleet_ssh))
    if api or other_unavailable or not (fleet or gitlabform or fleet_ssh):
        tables.append(project_table(api, other_unavailable))
    if fleet:
        tables.append(fleet_table(fleet))
    return "\n\n".join(tables)


def _goal_cell(row: dict) -> str:
    speed = [g for g in row.get("goals", []) if g.get("ratio") is not None]
    if not speed:
        return "-"
    g = speed[0]
    return ("met" if g["met"] else "**not met**") + f" ({g['target']}: {g['measured']})"


def gitlabform_table(rows: list[dict], unavailable: list[dict]) -> str:
    head = ["Rows", "N", "Latency", "Run", "GitLabForm s", "runnercreds.gitlab s", "Speed-up",
            "GitLabForm reads / writes", "runnercreds reads / writes", "Requests saved", "Goal"]
    lines = [[r["title"], r["size"], f"{r['latency_ms']} ms", r["phase"], f"{r['alt_s']:.2f}", f"{r['ours_s']:.2f}",
              f"**{r['speedup']}**", r["alt_rw"], r["ours_rw"], r["requests_ratio"], _goal_cell(r)] for r in rows]
    lines += [[u["title"], u["sizes"], "-", "-", u["reason"], "-", "-", "-", "-", "-", "-"] for u in unavailable]
    return _table(head, lines)


def _mb(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def growth_table(rows: list[dict]) -> str:
    """How wall time, reads and the module's peak memory grow with N (0 ms rows: no injected delay)."""
    head = ["N", "Run", "runnercreds.gitlab s", "runnercreds reads / writes", "module peak RSS MB",
            "GitLabForm s", "GitLabForm reads / writes"]
    lines = [[r["size"], r["phase"], f"{r['ours_s']:.2f}", r["ours_rw"], _mb(r.get("module_peak_rss_mb")),
              f"{r['alt_s']:.2f}", r["alt_rw"]] for r in rows if r["latency_ms"] == 0]
    return _table(head, lines)


def goals_table(rows: list[dict], size_head: str = "N") -> str:
    head = ["Goal (issue 15)", size_head, "Latency", "Target", "Measured", "Met"]
    lines = [[g["goal"], r["size"], f"{r['latency_ms']} ms", g["target"], g["measured"],
              "met" if g["met"] else "**not met**"] for r in rows for g in r.get("goals", [])]
    return _table(head, lines)


def _s(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def phase_table(rows: list[dict]) -> str:
    """Where runnercreds.gitlab's time goes, measured: Ansible's start-up (an empty play), then inside
    the module processes (bench/probe): start (exec to the first request: interpreter, imports,
    AnsiballZ, set-up), HTTP (time with a request in flight), apply (the rest of the process:
    planning, applying, answering); Ansible around the modules = wall - start-up - module processes."""
    head = ["N", "Latency", "Run", "runnercreds.gitlab s", "Ansible start-up s", "module runs",
            "module start s", "HTTP s", "apply s", "Ansible around the modules s", "module peak RSS MB"]
    lines = []
    for r in rows:
        b = (r.get("breakdown") or {}).get("ours") or {}
        m = b.get("measured")
        if not m:
            continue
        around = None
        if b.get("ansible_start_s") is not None:
            around = b["wall_s"] - b["ansible_start_s"] - m["wall_s"]
        lines.append([r["size"], f"{r['latency_ms']} ms", r["phase"], _s(b["wall_s"]), _s(b.get("ansible_start_s")),
                      m["modules"], _s(m["start_s"]), _s(m["http_s"]), _s(m["rest_s"]), _s(around),
                      _mb(r.get("module_peak_rss_mb"))])
    return _table(head, lines)


def breakdown_table(rows: list[dict]) -> str:
    head = ["N", "Latency", "Run", "runnercreds.gitlab s", "Ansible start-up s", "tasks s (list / key / tag)",
            "module start × tasks s", "requests", "HTTP s: sequential / in flight / overlapped", "rest in tasks s",
            "GitLabForm s", "GitLabForm start-up s", "GitLabForm requests", "GitLabForm HTTP s", "GitLabForm rest s"]
    lines = []
    for r in rows:
        b = r.get("breakdown")
        if not b:
            continue
        o, g = b["ours"], b["gitlabform"]
        tasks = " / ".join(_s(v) for v in o["tasks"].values()) if o["tasks"] else "-"
        lines.append([r["size"], f"{r['latency_ms']} ms", r["phase"], _s(o["wall_s"]), _s(o["ansible_start_s"]),
                      tasks, _s(o["tasks_fixed_s"]), o["requests"],
                      f"{_s(o['http_sequential_s'])} / {o['max_in_flight']} / {_s(o['http_overlapped_s'])}",
                      _s(o["rest_s"]), _s(g["wall_s"]), _s(g["start_s"]), g["requests"], _s(g["http_s"]),
                      _s(g["rest_s"])])
    return _table(head, lines)


def fleet_ssh_table(rows: list[dict], unavailable: list[dict]) -> str:
    head = ["Rows", "Hosts", "Latency", "Run", "runnercreds.gitlab s", "s / host", "Alternative s", "Speed-up",
            "runnercreds tasks / host", "Alternative tasks / host", "runnercreds reads / writes",
            "Alternative reads / writes", "Goal"]
    lines = [[r["title"], r["size"], f"{r['latency_ms']} ms", r["phase"], f"{r['ours_s']:.2f}",
              f"{r['ours_s'] / r['size']:.2f}", f"{r['alt_s']:.2f}", f"**{r['speedup']}**", r["ours_tasks"],
              r["alt_tasks"], r["ours_rw"], r["alt_rw"], _goal_cell(r)] for r in rows]
    lines += [[u["title"], u["sizes"], "-", "-", u["reason"]] + ["-"] * 8 for u in unavailable]
    return _table(head, lines)


def fleet_breakdown_table(rows: list[dict]) -> str:
    """Where a fleet run over SSH goes: see rows/fleet_ssh.py fleet_breakdown()."""
    head = ["Hosts", "Run", "Tool", "wall s", "Ansible start-up s", "tasks on the hosts s", "API tasks s",
            "between tasks s", "tasks", "requests", "HTTP s (sequential)", "slowest tasks s"]
    lines = []
    for r in rows:
        b = r.get("breakdown")
        if not b:
            continue
        for label, key in ((OURS, "ours"), (r["alternative"], "alt")):
            x = b[key]
            slow = "; ".join(f"{name} {t:.2f}" for name, t in x["slowest"])
            lines.append([r["size"], r["phase"], label, _s(x["wall_s"]), _s(x["ansible_start_s"]),
                          _s(x["host_tasks_s"]), _s(x["api_tasks_s"]), _s(x["between_tasks_s"]), x["tasks"],
                          x["requests"], _s(x["http_sequential_s"]), slow])
    return _table(head, lines)


def fleet_table(rows: list[dict]) -> str:
    head = ["Rows", "Containers", "Latency", "Run", "runnercreds.gitlab s", "Alternative", "Alternative s",
            "Speed-up", "runnercreds tasks / host", "Alternative tasks / host", "runnercreds reads / writes",
            "Alternative reads / writes", "Requests saved"]
    lines = [[r["title"], r["size"], f"{r['latency_ms']} ms", r["phase"], f"{r['ours_s']:.2f}", r["alternative"],
              f"{r['alt_s']:.2f}", f"**{r['speedup']}**", r["ours_tasks"], r["alt_tasks"], r["ours_rw"],
              r["alt_rw"], r["requests_ratio"]] for r in rows]
    return _table(head, lines)


def project_table(rows: list[dict], unavailable: list[dict]) -> str:
    head = ["Rows", "N", "Latency", "Run", "runnercreds.gitlab s", "Alternative", "Alternative s", "Speed-up",
            "runnercreds reads / writes", "Alternative reads / writes", "Requests saved"]
    lines = [[r["title"], r["size"], f"{r['latency_ms']} ms", r["phase"], f"{r['ours_s']:.2f}", r["alternative"],
              f"{r['alt_s']:.2f}", f"**{r['speedup']}**", r["ours_rw"], r["alt_rw"], r["requests_ratio"]]
             for r in rows]
    lines += [[u["title"], u["sizes"], "-", "-", u["reason"], "-", "-", "-", "-", "-", "-"] for u in unavailable]
    return _table(head, lines)


# --- Markdown and JSON -----------------------------------------------------------------------------


def write_results(doc: dict, table: str) -> list[str]:
    os.makedirs(RESULTS, exist_ok=True)
    stamp = doc["date"].replace(":", "").replace("-", "")[:13]  # 20250101T1200
    md = render_markdown(doc, table)
    paths = []
    # A smoke run keeps its dated copy but does not replace the published latest table.
    dated = f"{stamp}-quick" if doc["config"]["quick"] else stamp
    # Two runs that end with the same minute's stamp (started together) must not overwrite each other.
    n = 1
    while os.path.exists(os.path.join(RESULTS, f"{dated}.json")):
        n += 1
        dated = f"{stamp}-{n}" + ("-quick" if doc["config"]["quick"] else "")
    bases = [dated] if doc["config"]["quick"] else ["latest", dated]
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
    gf_python = v.get("gitlabform's Python")
    gitlabform = f", GitLabForm {v['gitlabform']} (in its own venv, Python {gf_python})" if "gitlabform" in v else ""
    return (
        f"# Benchmark results ({doc['date']})\n\n"
        f"{table}\n\n"
        f"{_gitlabform_note(doc)}"
        f"Wall seconds: whole `ansible-playbook` (or `gitlabform`) run, median of the repeats "
        f"({c['repeat']} for runnercreds.gitlab; {c['alt_repeat']} for community.general and uri; GitLabForm as "
        f"many as runnercreds.gitlab; {c.get('fleet_repeat', c['repeat'])} per tool in the fleet rows; every "
        f"sample in the JSON). Speed-up: alternative's "
        f"seconds / runnercreds.gitlab's. Requests saved: alternative's requests / runnercreds.gitlab's. Reads "
        f"and writes: the test server's own counters for that run. Latency: the server's injected delay per API "
        f"request.\n\n"
        f"No-change re-run of runnercreds.gitlab at most one read per project (+{CONSTANT_READS} per module run), "
        f"no write, changed=0: {'met on every row' if not failed else 'NOT met on ' + str(len(failed)) + ' rows'}.\n\n"
        f"{misses_note(doc)}"
        f"{_fleet_ssh_note(doc)}"
        f"{_fleet_note(doc)}"
        f"{_floor_note(doc)}"
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}.  \n"
        f"Versions: runnercreds.gitlab {v['runnercreds.gitlab']} ({v['git']}), community.general "
        f"{v['community.general']}, ansible {v['ansible']}, ansible-core {v['ansible-core']}, python-gitlab "
        f"{v['python-gitlab']}, Python {v['python']}{gitlabform}.  \n"
        f"Command: `{c['command']}` ({doc['duration_s']:.0f} s).\n"
    )


def _gitlabform_note(doc: dict) -> str:
    rows = [r for r in doc["rows"] if r.get("table") == "gitlabform"]
    if not rows:
        return ""
    goals = [g for r in rows for g in r.get("goals", [])]
    met = sum(1 for g in goals if g["met"])
    cal = doc.get("calibration", {}).get("gitlabform", {})
    return (
        "GitLabForm rows: the same job for both tools on a fresh server per run - one deploy key with push and `v*` "
        "protected for Maintainers on every project of a group, both with the admin token. runnercreds.gitlab: "
        "`benchmarks/playbooks/gitlabform_job_runnercreds.yml` (`project_set_info` names the group's projects, "
        "then one `deploy_key` and one `protected_tag` task; its listing requests are counted). GitLabForm: "
        "`gitlabform -k -c <config> <group>` with `projects_and_groups: {<group>/*: {deploy_keys, tags}}`. "
        "GitLabForm's re-run writes are not changes it found: it unprotects and re-protects every configured tag "
        "on every run (`DELETE` + `POST /projects/:id/protected_tags`), so each project's `v*` is unprotected for "
        "a moment on every run.\n\n"
        f"Goals met: {met} of {len(goals)}. Breakdown (medians): Ansible start-up is the wall time of an empty "
        f"play ({_s(cal.get('ansible_start_s'))} s); module start is one task of the collection on one project at "
        f"0 ms ({_s(cal.get('module_task_s'))} s), paid by each task; HTTP is requests × (the server's own time per "
        "request + injected latency), sequential, then divided by the most requests the server had in flight at "
        "once (the module's thread pool overlaps them); rest in tasks = task time - module start - overlapped "
        "HTTP: applying and planning, Ansible's result handling, and the server's time beyond its floor (a write, "
        "or a look-up among thousands of projects, costs it more than `GET /user`; a value below 0 is noise). "
        f"GitLabForm's start-up is `gitlabform -V -k` ({_s(cal.get('gitlabform_start_s'))} s); it sends one "
        "request at a time, so its HTTP time is requests × per-request time; rest = its own processing.\n\n"
    )


def _why_gitlabform(r: dict) -> str:
    b = (r.get("breakdown") or {}).get("ours") or {}
    m = b.get("measured")
    if not m:
        return "no measured breakdown"
    gf = (r.get("breakdown") or {}).get("gitlabform") or {}
    around = b["wall_s"] - (b.get("ansible_start_s") or 0) - m["wall_s"]
    return (f"runnercreds.gitlab {b['wall_s']:.2f} s = Ansible start-up {_s(b.get('ansible_start_s'))} + "
            f"{m['modules']} module runs {m['wall_s']:.2f} (start {m['start_s']:.2f}, HTTP {m['http_s']:.2f}, "
            f"apply {m['rest_s']:.2f}) + Ansible around them {around:.2f}; GitLabForm {_s(gf.get('wall_s'))} s "
            f"(start-up {_s(gf.get('start_s'))}, HTTP ≈ {_s(gf.get('http_s'))})")


def _why_fleet(r: dict) -> str:
    b = r.get("breakdown") or {}
    o, a = b.get("ours") or {}, b.get("alt") or {}
    if not o:
        return "no breakdown"
    return (f"runnercreds.gitlab {o['wall_s']:.2f} s = Ansible start-up {_s(o.get('ansible_start_s'))} + tasks on "
            f"the hosts {_s(o['host_tasks_s'])} (tasks / host: {r.get('ours_tasks')}) + API tasks "
            f"{_s(o['api_tasks_s'])} + between tasks {_s(o['between_tasks_s'])}; the alternative {_s(a.get('wall_s'))} s: "
            f"tasks on the hosts {_s(a.get('host_tasks_s'))} (tasks / host: {r.get('alt_tasks')}) + API tasks "
            f"{_s(a.get('api_tasks_s'))}")


def misses_note(doc: dict) -> str:
    """Every goal not met, with the measured breakdown of its row: where the time went."""
    lines = []
    for r in doc["rows"]:
        missed = [g for g in r.get("goals", []) if not g["met"]]
        if not missed:
            continue
        why = _why_fleet(r) if r.get("table") == "fleet_ssh" else _why_gitlabform(r)
        for g in missed:
            where = [] if r.get("table") == "fleet_ssh" or "N=" in g["goal"] else [f"N={r['size']}"]
            where += [] if " ms" in g["goal"] else [f"{r['latency_ms']} ms"]
            where = f" ({', '.join(where)})" if where else ""
            lines.append(f"- {g['goal']}{where}: {g['target']}, measured {g['measured']}. {why}.")
    if not lines:
        return ""
    return "Goals not met, and where the time went (measured):\n\n" + "\n".join(lines) + "\n\n"


def _fleet_ssh_note(doc: dict) -> str:
    rows = [r for r in doc["rows"] if r.get("table") == "fleet_ssh"]
    if not rows:
        return ""
    goals = [g for r in rows for g in r.get("goals", [])]
    met = sum(1 for g in goals if g["met"])
    cal = doc.get("calibration", {}).get("fleet_ssh", {})
    pings = "; ".join(f"{hosts} host{'' if str(hosts) == '1' else 's'}: {c.get('ping_cold_s')} s without a master, {c.get('ping_warm_s')} s with one"
                      for hosts, c in sorted(cal.items(), key=lambda kv: int(kv[0])))
    return (
        "Fleet rows over SSH: fresh runner containers per run (`rcbench-ssh-N`, the runner image plus Debian's "
        "openssh-server), each with its own sshd on a 127.0.0.1 port, key-only root login with a key generated "
        "for the run, its host key pinned; Ansible connects with `ansible.builtin.ssh`, pipelining on, "
        "ControlMaster/ControlPersist (every measured run starts without a master: they are closed after each "
        "run, as a scheduled run would find them). Ten projects per host (the first with push), the same "
        "inventory for both playbooks (`fleet_runnercreds.yml`, `fleet_builtin.yml`), Ansible's default 5 forks. "
        f"Goals met: {met} of {len(goals)}. Breakdown: Ansible start-up = an empty play on this inventory; tasks "
        "on the hosts and API tasks = the JSON callback's task times (first host's start to last host's end); "
        "between tasks = the rest of the wall time (forks, templating, result handling); HTTP = requests x the "
        "server's time per request, one at a time. A task that returns at once (`ping`) on every host: "
        f"{pings or '-'}.\n\n"
    )


def _fleet_note(doc: dict) -> str:
    if not any(r.get("table") == "fleet" or (r.get("ours_tasks") is not None and r.get("table") != "fleet_ssh")
               for r in doc["rows"]):
        return ""
    return ("Fleet rows: fresh runner containers (podman, host networking) per run; every container gets two "
            "projects (one with push, one read-only), the same for both playbooks. Containers: the number of "
            "hosts; tasks / host: the PLAY RECAP's `ok` per host (it includes the changed ones; a loop counts "
            "once, skipped tasks not at all), in brackets how many of them changed. The alternative is "
            "`benchmarks/playbooks/fleet_builtin.yml` (the manual steps: ssh-keygen, slurp, "
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
