# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run modules in separate processes, all started at the same moment.

``run_module`` (module_runner.py) patches ``AnsibleModule`` for its whole
process, so two runs in one process would share it. Here each run is its own
process that executes the module file as ``__main__`` with an args file, the
way Ansible runs a module (``python deploy_token.py args.json``), and prints
its JSON result.

Start-up stays out of the race and out of the test's time: one launcher
process per test process (started on first use) imports the collection's
modules once, then forks one child per run. Every child waits on the same
pipe; once all are forked the launcher writes one byte per child into it,
so they start together (a barrier). A forked child shares nothing with its
siblings but what was imported; it then runs the module file afresh.

    runs = run_concurrently(tmp_path, [("deploy_token", args_a), ("deploy_token", args_b)])
    runs[0].result["changed"], runs[1].failed, runs[1].ended

This file is also the launcher: ``python module_process.py``.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import runpy
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO, "build", "collections")
MODULES_DIR = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "runnercreds", "gitlab", "plugins", "modules")
PACKAGE = "ansible_collections.runnercreds.gitlab.plugins.modules"
MODULES = ("deploy_key", "deploy_key_info", "deploy_token", "deploy_token_info", "protected_tag",
           "protected_tag_info")


class ModuleRun:
    """One module process: what it was given and what it returned.

    ``started`` and ``ended`` are ``time.monotonic()`` values (one clock for
    every process on the machine): the barrier's release and the exit.
    """

    def __init__(self, index: int, module: str, args: dict) -> None:
        self.index = index
        self.module = module
        self.args = args
        self.result: dict = {}
        self.returncode = None
        self.stdout = ""
        self.stderr = ""
        self.started = self.ended = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def changed(self):
        return self.result.get("changed")

    def __repr__(self) -> str:
        state = "failed" if self.failed else "ok"
        return f"ModuleRun({self.index}, {self.module}, {state}, changed={self.changed})"


class _Launcher:
    """The launcher process and the line protocol to it (one JSON object a line each way)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (COLLECTIONS_ROOT, env.get("PYTHONPATH")) if p)
        # A module must not pick the connection up from the test runner's environment.
        env.pop("GITLAB_URL", None)
        env.pop("GITLAB_TOKEN", None)
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the module launcher did not start")

    def request(self, message: dict) -> dict:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the module launcher exited")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_LAUNCHER = []


def _launcher() -> _Launcher:
    if not _LAUNCHER or _LAUNCHER[0].proc.poll() is not None:
        _LAUNCHER[:] = [_Launcher()]
        atexit.register(_LAUNCHER[0].close)
    return _LAUNCHER[0]


def run_concurrently(tmp_path, jobs, timeout: float = 60.0) -> list:
    """Run ``jobs`` (``[(module name, args dict)]``) as processes released at once; their :class:`ModuleRun`.

    The args files are written 0600 under ``tmp_path``: they hold the API token.
    A run still going after ``timeout`` seconds is killed (and has no result).
    """
    runs = [ModuleRun(index, module, dict(args)) for index, (module, args) in enumerate(jobs)]
    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    files = []
    for run in runs:
        base = os.path.join(str(tmp_path), f"run-{stamp}-{run.index}")
        fd = os.open(base + ".args.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": run.args}, handle)
        files.append([os.path.join(MODULES_DIR, run.module + ".py"), base + ".args.json", base + ".out",
                      base + ".err"])
    answer = _launcher().request({"jobs": files, "timeout": timeout})
    for run, done, (dummy, dummy_args, out, err) in zip(runs, answer["runs"], files):
        run.started, run.ended, run.returncode = answer["started"], done["ended"], done["returncode"]
        with open(out, encoding="utf-8") as handle:
            run.stdout = handle.read()
        with open(err, encoding="utf-8") as handle:
            run.stderr = handle.read()
        run.result = _parse(run)
    return runs


def _parse(run: ModuleRun) -> dict:
    try:
        result = json.loads(run.stdout)
    except ValueError:
        raise AssertionError(f"{run.module} process {run.index} printed no JSON result (exit {run.returncode}):\n"
                             f"stdout: {run.stdout}\nstderr: {run.stderr}") from None
    if not isinstance(result, dict):
        raise AssertionError(f"{run.module} process {run.index} printed {result!r}")
    return result


# --- the launcher ---------------------------------------------------------------------------

def _child(go_read: int, module_file: str, args_file: str, out: str, err: str) -> None:
    """In a forked child: wait for the barrier, then run the module file as Ansible would."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for path, fd in ((out, 1), (err, 2)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # pylint: disable=consider-using-with
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # pylint: disable=consider-using-with
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # pylint: disable=consider-using-with
    code = 0
    try:
        if os.read(go_read, 1) != b"g":
            raise SystemExit(3)
        sys.argv = [module_file, args_file]
        runpy.run_path(module_file, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # pylint: disable=broad-except
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)  # pylint: disable=protected-access


def _serve() -> None:
    for name in MODULES:
        importlib.import_module(f"{PACKAGE}.{name}")
    print("ready", flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        go_read, go_write = os.pipe()
        pids = []
        for job in message["jobs"]:
            pid = os.fork()
            if pid == 0:
                os.close(go_write)
                _child(go_read, *job)
            pids.append(pid)
        os.close(go_read)
        time.sleep(0.05)  # every child reaches its read() of the barrier
        started = time.monotonic()
        os.write(go_write, b"g" * len(pids))
        os.close(go_write)
        ended = {}
        deadline = started + float(message.get("timeout") or 60)
        while len(ended) < len(pids):
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if time.monotonic() > deadline:
                    for other in pids:
                        if other not in ended:
                            os.kill(other, 9)
                time.sleep(0.002)
                continue
            if pid in pids:
                ended[pid] = (time.monotonic(), os.waitstatus_to_exitcode(status))
        runs = [{"ended": ended[pid][0], "returncode": ended[pid][1]} for pid in pids]
        print(json.dumps({"started": started, "runs": runs}), flush=True)


if __name__ == "__main__":
    _serve()
