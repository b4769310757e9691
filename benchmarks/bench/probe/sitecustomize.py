"""Loaded by the module processes of a benchmark run, and only by them: the benchmark's interpreter
wrapper (bench/playbook.py ModuleProbe) puts this directory on PYTHONPATH. It times every HTTP
request the module sends through requests (python-gitlab's transport) and, when the module exits,
appends one line to $RCBENCH_HTTP_LOG:

    <module> <seconds to the first request> <seconds with a request in flight> <requests> <seconds alive>

"Seconds with a request in flight" is the union of the requests' intervals, so the module's thread
pool, which overlaps them, is not counted twice. Nothing of the collection is changed or imported."""

import atexit
import os
import re
import sys
import threading
import time

_LOG = os.environ.get("RCBENCH_HTTP_LOG")
_BORN = time.perf_counter()
_SPANS = []
_LOCK = threading.Lock()


def _union(spans):
    total, end = 0.0, None
    for start, stop in sorted(spans):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def _report():
    match = re.search(r"AnsiballZ_(\w+)\.py", " ".join(sys.argv))
    with _LOCK:
        spans = list(_SPANS)
    first = min(s for s, dummy in spans) - _BORN if spans else 0.0
    fields = (match.group(1) if match else "?", first, _union(spans), len(spans), time.perf_counter() - _BORN)
    line = "%s %.4f %.4f %d %.4f\n" % fields
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(line)


def _install():
    try:
        import requests.sessions  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    send = requests.sessions.Session.send

    def timed_send(self, request, **kwargs):
        start = time.perf_counter()
        try:
            return send(self, request, **kwargs)
        finally:
            with _LOCK:
                _SPANS.append((start, time.perf_counter()))

    requests.sessions.Session.send = timed_send
    atexit.register(_report)


if _LOG:
    _install()
