"""What every part of the benchmark driver shares: paths, names, logging, throw-away keys."""

from __future__ import annotations

import os
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)
PLAYBOOKS = os.path.join(BENCH_DIR, "playbooks")
RESULTS = os.path.join(BENCH_DIR, "results")
# Tools the benchmarks install for themselves (GitLabForm's venv); build/ is git-ignored.
VENVS = os.path.join(REPO, "build", "bench-venvs")
RUNNER_IMAGE = "localhost/runnercreds-runner:latest"

OURS = "runnercreds.gitlab"
# The promise for a no-change re-run: at most one read per project, plus this many per module run
# (the caller's user, the first page of a list).
CONSTANT_READS = 2
PHASES = ("first run", "no-change re-run")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def public_key() -> str:
    """A fresh ed25519 public key in OpenSSH format (the private half is thrown away)."""
    # Imported here: only row kinds that need a key pay for the import.
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # pylint: disable=import-outside-toplevel

    blob = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return blob.decode() + " runner-fleet@bench"
