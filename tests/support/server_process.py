"""Start and stop ``tests/bin/gitlab-test-server`` as a child process."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(TESTS_DIR, "bin", "gitlab-test-server")
SEED = os.path.join(TESTS_DIR, "fixtures", "seed.yml")


def start_server(*args: str, log_path: str | None = None, timeout: float = 15.0):
    """Start the server with this interpreter; return ``(process, url, stdout)``
    once it printed its ``GITLAB_URL=`` line."""
    log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - inherited by the child
    proc = subprocess.Popen([sys.executable, SERVER, *args], stdout=subprocess.PIPE, stderr=log)
    log.close()
    ready, dummy, dummy = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise RuntimeError("gitlab-test-server did not start")
    first = proc.stdout.readline().decode().strip()
    if not first.startswith("GITLAB_URL="):
        proc.kill()
        raise RuntimeError(f"gitlab-test-server: unexpected first line {first!r} (log: {log_path})")
    return proc, first.split("=", 1)[1], proc.stdout


def stop_server(proc) -> int:
    """SIGTERM, then the exit status (the server exits 0)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
