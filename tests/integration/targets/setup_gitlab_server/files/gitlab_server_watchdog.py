# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start the bundled GitLab test server for the length of one ansible-playbook run.

    python gitlab_server_watchdog.py --state-dir DIR --watch-pid PID [--max-seconds N] -- SERVER_COMMAND...

SERVER_COMMAND is ``tests/bin/gitlab-test-server`` with its options, without
``--admin-token``: the server then makes up an admin token and prints it on its
second stdout line, so the token is never on any command line.

This command (the *launcher*) starts a *watchdog* in its own session and
returns once the server listens. The watchdog starts the server as its child,
reads the server's first stdout lines and writes, in DIR (0700):

  url        GITLAB_URL (http://127.0.0.1:PORT)
  token      the admin token (0600; removed when the server stops)
  server.pid the server's pid
  server.log the server's stderr and the watchdog's own messages (kept)

It then stops the server (SIGTERM, then SIGKILL after 10 s) as soon as

* process PID exits: the ansible-playbook run that started it. PID must be an
  ancestor of the launcher (checked), so that the server cannot outlive it;
* or --max-seconds have passed (a backstop; default one hour);
* or the watchdog gets SIGTERM/SIGINT/SIGHUP.

The launcher prints one JSON line: url, token_file, log, server_pid,
watchdog_pid. It exits non-zero, with the end of the server log, when the
server does not come up within --start-timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0


class StartError(Exception):
    """The server could not be started; the message says why."""


# --- processes -------------------------------------------------------------------------------

def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...], or None."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    return text[text.rindex(")") + 2:].split()


def process_identity(pid):
    """(pid, start time in clock ticks) of a live process, or None: a reused pid does not match."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return (pid, fields[19])


def parent_pid(pid):
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else 0


def command_line(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def ancestors(pid):
    seen = []
    pid = parent_pid(pid)
    while pid > 1 and pid not in seen:
        seen.append(pid)
        pid = parent_pid(pid)
    return seen


# --- the watchdog (runs detached, parent of the server) ------------------------------------------

class Watchdog:
    def __init__(self, args):
        self.args = args
        self.state_dir = args.state_dir
        self.log = open(os.path.join(self.state_dir, "server.log"), "a", encoding="utf-8")  # noqa: SIM115
        self.stop_reason = None
        self.watched = process_identity(args.watch_pid)

    def say(self, message):
        self.log.write("[watchdog %s] %s\n" % (time.strftime("%H:%M:%S"), message))
        self.log.flush()

    def _write_private(self, name, text):
        path = os.path.join(self.state_dir, name)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)

    def _read_stdout(self, stream):
        """GITLAB_URL= and GITLAB_TOKEN= become files; any other line goes to the log."""
        for line in stream:
            key, sep, value = line.strip().partition("=")
            if sep and key == "GITLAB_TOKEN":
                self._write_private("token", value)
            elif sep and key == "GITLAB_URL":
                self._write_private("url", value)
            else:
                self.say("server stdout: " + line.rstrip("\n"))

    def _on_signal(self, signum, dummy_frame):
        self.stop_reason = "signal %d" % signum

    def run(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        if self.watched is None:
            self.say("pid %d is already gone: not starting the server" % self.args.watch_pid)
            return 1
        server = subprocess.Popen(  # pylint: disable=consider-using-with
            self.args.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log,
            text=True, close_fds=True)
        self._write_private("server.pid", "%d\n" % server.pid)
        reader = threading.Thread(target=self._read_stdout, args=(server.stdout,), daemon=True)
        reader.start()
        self.say("server pid %d started; stops when pid %d (%s) exits"
                 % (server.pid, self.args.watch_pid, command_line(self.args.watch_pid)[:120]))
        deadline = time.monotonic() + self.args.max_seconds
        while self.stop_reason is None:
            if server.poll() is not None:
                self.say("server exited by itself with status %d" % server.returncode)
                break
            if process_identity(self.args.watch_pid) != self.watched:
                self.stop_reason = "pid %d exited" % self.args.watch_pid
            elif time.monotonic() > deadline:
                self.stop_reason = "--max-seconds %d reached" % self.args.max_seconds
            else:
                time.sleep(POLL_SECONDS)
        if server.poll() is None:
            self.say("stopping the server: " + self.stop_reason)
            server.terminate()
            try:
                server.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.say("server ignored SIGTERM for %d s: SIGKILL" % STOP_GRACE_SECONDS)
                server.kill()
                server.wait()
            self.say("server stopped with status %d" % server.returncode)
        reader.join(2)
        try:
            os.unlink(os.path.join(self.state_dir, "token"))
        except OSError:
            pass
        return 0


# --- the launcher -----------------------------------------------------------------------------

def _tail(path, lines=30):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def launch(args):
    if args.watch_pid not in ancestors(os.getpid()):
        raise StartError("--watch-pid %d is not an ancestor of this process: the server could outlive the "
                         "run (is the task running on the controller, with a local connection?)" % args.watch_pid)
    if not args.command:
        raise StartError("no server command after --")
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    os.chmod(args.state_dir, 0o700)
    for name in ("url", "token", "server.pid"):
        try:
            os.unlink(os.path.join(args.state_dir, name))
        except FileNotFoundError:
            pass
    log_path = os.path.join(args.state_dir, "server.log")
    with open(log_path, "a", encoding="utf-8") as log:
        watchdog = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, os.path.abspath(__file__), "--watchdog", "--state-dir", args.state_dir,
             "--watch-pid", str(args.watch_pid), "--max-seconds", str(args.max_seconds), "--"] + args.command,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, start_new_session=True)
    url_file, token_file = (os.path.join(args.state_dir, name) for name in ("url", "token"))
    deadline = time.monotonic() + args.start_timeout
    while not (os.path.exists(url_file) and os.path.exists(token_file)):
        if watchdog.poll() is not None:
            raise StartError("the server did not start (watchdog status %d); end of %s:\n%s"
                             % (watchdog.returncode, log_path, _tail(log_path)))
        if time.monotonic() > deadline:
            watchdog.terminate()
            raise StartError("the server did not print GITLAB_URL and GITLAB_TOKEN within %d s; end of %s:\n%s"
                             % (args.start_timeout, log_path, _tail(log_path)))
        time.sleep(POLL_SECONDS)
    with open(url_file, encoding="utf-8") as fh:
        url = fh.read().strip()
    with open(os.path.join(args.state_dir, "server.pid"), encoding="utf-8") as fh:
        server_pid = int(fh.read())
    print(json.dumps({"url": url, "token_file": token_file, "log": log_path,
                      "server_pid": server_pid, "watchdog_pid": watchdog.pid}))
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--watch-pid", type=int, required=True)
    parser.add_argument("--max-seconds", type=int, default=3600)
    parser.add_argument("--start-timeout", type=int, default=60)
    parser.add_argument("--watchdog", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    args.state_dir = os.path.abspath(args.state_dir)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.watchdog:
        return Watchdog(args).run()
    try:
        return launch(args)
    except StartError as exc:
        print("gitlab_server_watchdog: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
