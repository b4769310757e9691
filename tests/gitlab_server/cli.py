"""Command line: ``gitlab-test-server [--host H] [--port N|0] [--db PATH]
[--seed PATH] [--admin-token TOKEN] [--data-dir PATH] [--shell-secret-file PATH]
[--registry-key PATH]``.

Prints ``GITLAB_URL=http://HOST:PORT`` as the first stdout line once the
socket accepts connections (and ``GITLAB_TOKEN=...`` when it generated the
admin token), then serves until SIGTERM/SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading

from . import seed as seed_mod
from .app import ApiApp, Server
from .control import Control
from .routes import build_router
from .services import random_token
from .state import State


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gitlab-test-server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--db", help="SQLite file (default: in memory)")
    parser.add_argument("--seed", help="YAML seed file")
    parser.add_argument("--admin-token", help="personal access token of the admin user root")
    parser.add_argument("--data-dir", help="where bare repositories live (default: a temp dir removed at exit)")
    parser.add_argument("--shell-secret-file",
                        help="GitLab Shell's shared secret (.gitlab_shell_secret) for the /internal/* routes")
    parser.add_argument("--registry-key",
                        help="RSA private key (PEM) that signs container registry tokens (GET /jwt/auth); "
                             "without it the registry counts as disabled")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    temp_dir = None
    data_dir = args.data_dir
    if not data_dir:
        temp_dir = data_dir = tempfile.mkdtemp(prefix="gitlab-test-server-")
    os.makedirs(data_dir, exist_ok=True)
    generated = args.admin_token is None
    admin_token = args.admin_token or random_token("glpat-")
    try:
        state = State(args.db, data_dir, seed_mod.load(args.seed), admin_token)
        state.bootstrap()
        if args.shell_secret_file:
            with open(args.shell_secret_file, encoding="utf-8") as fh:
                state.shell_secret = fh.read().strip()
        if args.registry_key:
            from .routes.jwt_auth import load_registry_key
            state.registry_key = load_registry_key(args.registry_key)
        app = ApiApp(state, build_router(), Control(state))
        server = Server((args.host, args.port), app)
    except Exception as exc:  # noqa: BLE001 - a clear one-line error instead of a traceback
        print(f"gitlab-test-server: cannot start: {exc}", file=sys.stderr, flush=True)
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        return 1
    host, port = server.server_address[:2]
    app.host, app.port = host, port
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    print(f"GITLAB_URL=http://{host}:{port}", flush=True)
    if generated:
        print(f"GITLAB_TOKEN={admin_token}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
