"""The command line: which rows, sizes and latencies; the order of the work; the exit status."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

from . import report
from .common import REPO, log
from .fixtures import Fixtures
from .playbook import collections_path
from .rows import ROW_ALIASES, load
from .rows.fleet import Fleet

DESCRIPTION = "Benchmarks: runnercreds.gitlab side by side with what users would pick instead."


@dataclass
class Context:
    workdir: str
    collections: str
    ansible_home: str
    server_log: str
    ansible_log: str
    fleet_repeat: int = 1


def _ints(text) -> list[int]:
    return [int(x) for x in str(text).split(",") if x]


def parse_args(argv=None) -> argparse.Namespace:
    row_types = load()
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--sizes", default=None,
                        help="project counts, comma separated (default: each row kind's own - gitlabform "
                             "20,200,2000 (2000 at 0 ms only), deploy_key and protected_tag 50)")
    parser.add_argument("--latency", default=None,
                        help="injected ms per API request (default: each row kind's own - gitlabform 0,20,50, "
                             "the others 0,20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported (default 3)")
    parser.add_argument("--alt-repeat", type=int, default=1,
                        help="runs per cell of the community.general, uri and fleet alternatives (default 1: they "
                             "loop over every project, so one run takes minutes and varies by a few percent; 0 = same "
                             "as --repeat). GitLabForm always runs as often as runnercreds.gitlab")
    parser.add_argument("--rows", default=",".join(row_types),
                        help="row types, comma separated (default: all: %s; `fleet` = fleet_convergence)"
                             % ",".join(row_types))
    parser.add_argument("--fleet-sizes", default=None,
                        help="containers per fleet row over podman exec, comma separated (default 1,3; --quick: none)")
    parser.add_argument("--ssh-fleet-sizes", default=None,
                        help="hosts per fleet row over SSH (fleet_ssh, 10 projects each), comma separated "
                             "(default 1,3,6,12; --quick: 1)")
    parser.add_argument("--fleet-repeat", type=int, default=1,
                        help="runs per tool and phase of the fleet rows, podman and SSH (default 1: one fleet run "
                             "takes 10-90 s; the median is reported)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --sizes 20 --latency 0 --repeat 1, the fleet over SSH on one host, no podman fleet rows")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (server and ansible logs)")
    parser.add_argument("--no-save", action="store_true", help="print only; write nothing under results/")
    parser.add_argument("--render", metavar="JSON",
                        help="measure nothing: print the tables of a saved run (results/*.json) again, with this "
                             "version of the report, and rewrite the .md beside it")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.latency, args.repeat, args.alt_repeat = "20", "0", 1, 1
    if args.fleet_sizes is None:
        # --quick: the fleet smoke row is the one over SSH (one host); the podman rows share its code and
        # would cost another 35 s of make bench-quick's 3 minutes. Full run: 1 and 3 containers; the
        # 6-container rows (--fleet-sizes 1,3,6) cost 2.5 minutes, and the SSH rows go to 12 hosts.
        args.fleet_sizes = "" if args.quick else "1,3"
    # None: each row kind's defaults (RowType.default_sizes / default_latencies).
    args.sizes = _ints(args.sizes) if args.sizes is not None else None
    args.latency = _ints(args.latency) if args.latency is not None else None
    if args.ssh_fleet_sizes is None:
        args.ssh_fleet_sizes = "1" if args.quick else "1,3,6,12"
    args.fleet_sizes = _ints(args.fleet_sizes)
    args.ssh_fleet_sizes = _ints(args.ssh_fleet_sizes)
    if args.fleet_repeat < 1:
        parser.error("--fleet-repeat must be 1 or more")
    if any(n < 1 for n in args.fleet_sizes + args.ssh_fleet_sizes):
        parser.error("--fleet-sizes, --ssh-fleet-sizes: 1 or more containers")
    args.rows = list(dict.fromkeys(ROW_ALIASES.get(x, x) for x in args.rows.split(",") if x))
    unknown = [x for x in args.rows if x not in row_types]
    if unknown:
        parser.error("unknown row type %s (known: %s)" % (", ".join(unknown), ", ".join(row_types)))
    if args.repeat < 1 or args.alt_repeat < 0:
        parser.error("--repeat must be 1 or more, --alt-repeat 0 or more")
    args.alt_repeat = args.alt_repeat or args.repeat
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: stop the servers, remove the work dir


def render(path: str) -> int:
    """The Markdown of a saved run, from its JSON (the figures are that run's; only the layout is new)."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    md = report.render_markdown(doc, report.build_table(doc["rows"], doc.get("unavailable", [])))
    print(md)
    with open(os.path.splitext(path)[0] + ".md", "w", encoding="utf-8") as fh:
        fh.write(md)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args.render)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.time()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    machine = report.machine()
    workdir = tempfile.mkdtemp(prefix="runnercreds-bench-")
    ctx = Context(workdir, collections_path(), os.path.join(workdir, "ansible-home"),
                  os.path.join(workdir, "server.log"), os.path.join(workdir, "ansible.log"), args.fleet_repeat)
    log(f"benchmarks: work dir {workdir} (logs: server.log, ansible.log)")
    registry = load()
    row_types = {name: registry[name]() for name in registry if name in args.rows}
    measurements = []
    unavailable = []
    fixtures = Fixtures(workdir, ctx.server_log, log)
    runnable = []
    try:
        for rt in row_types.values():
            reason = rt.unavailable()
            if reason:
                unavailable.append({"row_type": rt.name, "table": rt.table, "title": rt.title,
                                    "sizes": ", ".join(map(str, rt.sizes(args))), "reason": reason})
                log(f"  {rt.name}: {reason}")
            else:
                runnable.append(rt)
        for rt in runnable:
            for size, latency in rt.cells(args):
                fixture = fixtures.get(rt.projects_for(size))
                measurements.extend(rt.measure(ctx, fixture, latency, args.repeat, args.alt_repeat))
    finally:
        Fleet.remove(Fleet.live)  # last resort; every Fleet removes its own containers already
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    doc = {
        "date": date,
        "duration_s": round(time.time() - started, 1),
        "machine": machine,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "server_floor_ms": fixtures.floors,
        "versions": report.versions(runnable),
        "config": {"sizes": args.sizes, "latency_ms": args.latency, "repeat": args.repeat,
                   "fleet_sizes": args.fleet_sizes, "ssh_fleet_sizes": args.ssh_fleet_sizes,
                   "fleet_repeat": args.fleet_repeat,
                   "alt_repeat": args.alt_repeat,
                   "rows": args.rows, "quick": args.quick,
                   "cells": {rt.name: rt.cells(args) for rt in row_types.values()},
                   "command": ("benchmarks/run.py " + argv_text).strip()},
        "calibration": {rt.name: rt.calibration for rt in row_types.values() if getattr(rt, "calibration", None)},
        "unavailable": unavailable,
    }
    rows = report.summarize(measurements, row_types, doc)
    doc["rows"] = rows
    doc["samples"] = [asdict(m) for m in measurements]
    table = report.build_table(rows, unavailable)
    print(report.render_markdown(doc, table))
    if not args.no_save:
        for path in report.write_results(doc, table):
            log(f"wrote {os.path.relpath(path, REPO)}")
    failed = [r for r in rows if r["rerun_expectation_met"] == "NO"]
    return 1 if failed else 0
