#!/usr/bin/env python
"""Benchmarks: runnercreds.gitlab side by side with what users would pick instead.

    .venv/bin/python benchmarks/run.py                 # the full table (under 30 min on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # smoke run: N=20, 0 ms, one repeat (under 3 min)
    .venv/bin/python benchmarks/run.py --rows gitlabform --sizes 200 --latency 0,20 --repeat 3
    .venv/bin/python benchmarks/run.py --sizes 50 --latency 20 --repeat 5 --rows deploy_key
    .venv/bin/python benchmarks/run.py --rows fleet --fleet-sizes 1,3,6 --latency 0 --repeat 1

Every measured run gets a fresh GitLab test server (tests/bin/gitlab-test-server)
started from a snapshot of a fixture built once per size through GitLab's public
admin API: a group, a non-admin "fleet bot" user who is Maintainer of it, and N
empty projects in it. The tool under test runs twice: the first run makes the
change, the second must find nothing to do. For each run the table has the
wall-clock seconds of the whole process (median of the repeats) and the server's
own request counters (``GET /-/test/requests``), split into reads and writes.

The work is done by the package next to this file (``bench/``): fixtures, one
module per kind of row under ``bench/rows/`` (adding a kind is adding a file),
the report. Results: printed, and written to benchmarks/results/latest.{md,json}
plus a dated copy.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench.cli import main  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == "__main__":
    sys.exit(main())
