#!/usr/bin/env python
"""Test endpoints on loopback, for the tests, the demo and the benchmarks: ONE
GitLab test server (REST API, git smart HTTP) plus, as asked,

  --ssh       OpenSSH's sshd authorizing keys the way GitLab Shell does
              (AuthorizedKeysCommand -> GET /api/v4/internal/authorized_keys,
              forced command -> POST /api/v4/internal/allowed, pre-receive
              hook with the real changes; see tests/gitshell/ and spec §5-6);
  --registry  Debian's docker-registry (distribution 2.8) with token auth
              against the server's registry token service (GET /jwt/auth,
              RS256 JWTs).

Command line (the system python3 or .venv/bin/python)::

  endpoints.py start STATE_DIR [--ssh] [--registry] [--seed FILE] [--admin-token TOKEN]
  endpoints.py env   STATE_DIR     print the environment file again
  endpoints.py push-image STATE_DIR REPOSITORY:TAG
                                   push a tiny image as the admin (e.g. fleet/apps/api/base:1)
  endpoints.py stop  STATE_DIR     stop everything and remove STATE_DIR
                                   (KEEP_ENDPOINT_LOGS=1: keep logs and data, remove the secrets)

``start`` prints (and writes to STATE_DIR/env, and as JSON to STATE_DIR/env.json, both 0600):
  GITLAB_URL GITLAB_TOKEN
  with --ssh:      GITLAB_SSH_HOST GITLAB_SSH_PORT GITLAB_SSH_HOST_KEY GITLAB_SHELL_SECRET_FILE
  with --registry: GITLAB_REGISTRY (127.0.0.1:<port>, plain HTTP: clients need
                   --tls-verify=false or an `insecure = true` registries.conf entry)

With --ssh the server and GitLab Shell run as the `git` user (created here if
missing), as in GitLab, so that git writes the repositories as their owner;
this needs root, and STATE_DIR must not be under /tmp: sshd requires every
directory above its AuthorizedKeysCommand to be root-owned and not
group/world-writable (use /run/... or /var/lib/...). Without --ssh the
server runs as the caller. The server itself always runs with the system
python3 (the git user cannot read a venv under /root). Secrets (the admin
token, the shell secret, the registry's token signing key and HTTP secret,
sshd's host key) are generated at start, never passed to a command line
except the server's own --admin-token, and removed at stop. `stop` only
touches a STATE_DIR that `start` made (a marker file), and only stops what
the pidfiles in it name. A failed `start` stops what it started and removes
STATE_DIR. The sshd and registry configurations are rendered from
tests/fixtures/sshd_config.template and tests/fixtures/registry.yml.template.
Needs python3 with python3-yaml and python3-cryptography, and as enabled
openssh-server, docker-registry, openssl, skopeo: scripts/install-system-deps.sh.

Python API: ``ServerProcess`` (one gitlab-test-server child, for pytest
fixtures and the benchmarks) and ``Endpoints`` (the state-dir endpoints above,
a context manager), both stopped on leaving a ``with`` block.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pwd
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
SERVER = os.path.join(TESTS_DIR, "bin", "gitlab-test-server")
SERVER_PACKAGE = os.path.join(TESTS_DIR, "gitlab_server")
GITSHELL = os.path.join(TESTS_DIR, "gitshell")
FIXTURES = os.path.join(TESTS_DIR, "fixtures")
SEED = os.path.join(FIXTURES, "seed.yml")
OCI_LAYOUT = os.path.join(HERE, "oci_layout.py")
SSHD_TEMPLATE = "sshd_config.template"
REGISTRY_TEMPLATE = "registry.yml.template"

PROG = "endpoints.py"
SYSTEM_PYTHON = "/usr/bin/python3"
SSHD = "/usr/sbin/sshd"
REGISTRY = "/usr/bin/docker-registry"
GIT_USER = "git"
GIT_HOME = "/var/lib/runnercreds-git"
MARKER = ".runnercreds-test-endpoint"
# State dirs made by the scripts this tool replaced (same layout): still stopped.
OLD_MARKERS = (".runnercreds-sshd-endpoint", ".runnercreds-registry-endpoint")
PIDFILES = ("sshd/sshd.pid", "registry.pid", "server.pid")
# What `stop` removes even when KEEP_ENDPOINT_LOGS=1 keeps the rest.
SECRET_FILES = ("registry.key", "registry.yml", "shell_secret", "sshd/ssh_host_ed25519_key", "env", "env.json")
TMP_DIRS = ("/tmp", "/var/tmp")


class EndpointError(RuntimeError):
    """A failure with a message for the user and, where one helps, a log."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message + (f"\n--- log ---\n{log}" if log else ""))
        self.message = message
        self.log = log


# --- pure helpers ----------------------------------------------------------------------------


def state_path(text: str) -> str:
    """STATE_DIR as given, checked: absolute, not /, no trailing slash, nothing that
    could break out of a line of the generated configurations."""
    if not os.path.isabs(text):
        raise EndpointError("STATE_DIR must be an absolute path")
    path = text.rstrip("/")
    if not path:
        raise EndpointError("STATE_DIR must not be /")
    if re.search(r"[\s$%\"'\\]", path):
        raise EndpointError("STATE_DIR must not contain whitespace, quotes, '$', '%' or '\\'")
    return path


def under_tmp(path: str) -> bool:
    real = os.path.realpath(path)
    return any(real == tmp or real.startswith(tmp + "/") for tmp in TMP_DIRS)


def render_template(name: str, values: dict, fixtures: str = FIXTURES) -> str:
    """``fixtures/name`` with ``$key`` filled in (string.Template; a missing key raises KeyError)."""
    with open(os.path.join(fixtures, name), encoding="utf-8") as fh:
        return string.Template(fh.read()).substitute(values)


def env_values(url: str, token: str, ssh_port: int | None = None, host_key: str = "",
               shell_secret_file: str = "", registry: str = "") -> dict:
    """The environment ``start`` hands out, in its documented order."""
    env = {"GITLAB_URL": url, "GITLAB_TOKEN": token}
    if ssh_port:
        env.update(GITLAB_SSH_HOST="127.0.0.1", GITLAB_SSH_PORT=int(ssh_port), GITLAB_SSH_HOST_KEY=host_key,
                   GITLAB_SHELL_SECRET_FILE=shell_secret_file)
    if registry:
        env["GITLAB_REGISTRY"] = registry
    return env


def format_env(env: dict) -> str:
    """Shell-sourceable lines, quoted only where needed."""
    return "".join(f"{key}={shlex.quote(str(value))}\n" for key, value in env.items())


def write_file(path: str, text: str, mode: int) -> None:
    """Create or truncate ``path`` with exactly ``mode`` before anything is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, mode)
        fh.write(text)


def write_env(state: str, env: dict) -> None:
    """STATE_DIR/env (shell lines) and STATE_DIR/env.json (for Ansible:
    ``lookup('file', ...) | from_json``), both 0600: they hold the admin token."""
    write_file(os.path.join(state, "env"), format_env(env), 0o600)
    write_file(os.path.join(state, "env.json"), json.dumps(env, indent=1) + "\n", 0o600)


def read_env(state: str) -> dict:
    with open(os.path.join(state, "env.json"), encoding="utf-8") as fh:
        return json.load(fh)


def is_endpoint_dir(state: str) -> bool:
    return any(os.path.exists(os.path.join(state, name)) for name in (MARKER, *OLD_MARKERS))


def check_safe_path(path: str) -> None:
    """Every existing component of ``path`` up to / root-owned and not writable by
    group or others (sshd refuses an AuthorizedKeysCommand below anything else).
    Symbolic links count as writable, as ``stat`` shows them."""
    while True:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            if st.st_uid != 0:
                raise EndpointError(f"{path} is not owned by root (sshd refuses AuthorizedKeysCommand below it)")
            if st.st_mode & 0o022:
                raise EndpointError(f"{path} is group/world-writable (sshd refuses AuthorizedKeysCommand "
                                    "below it); choose another STATE_DIR")
        if path == "/":
            return
        path = os.path.dirname(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


# --- processes -------------------------------------------------------------------------------


def read_pid(pidfile: str) -> int | None:
    """The pid in ``pidfile``; None when it is missing or empty."""
    text = read_text(pidfile).rstrip("\n")
    if not text:
        return None
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 2:
        raise EndpointError(f"{pidfile} does not hold a pid")
    return int(text)


def pid_alive(pid: int) -> bool:
    try:
        done, dummy = os.waitpid(pid, os.WNOHANG)   # our own child: reap it, no zombie
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pidfile(pidfile: str) -> None:
    """SIGTERM what ``pidfile`` names, SIGKILL after 5 s; remove the pidfile."""
    pid = read_pid(pidfile)
    if pid is not None and pid_alive(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for dummy in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for dummy in range(20):
                if not pid_alive(pid):
                    break
                time.sleep(0.05)
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass


def stop(state: str, keep_logs: bool | None = None, quiet: bool = False) -> None:
    """Stop the endpoints in ``state`` and remove it (with ``keep_logs``, default
    KEEP_ENDPOINT_LOGS=1: only the secrets). Refuses a directory it did not make."""
    state = state_path(state)
    if not os.path.isdir(state):
        return
    if not is_endpoint_dir(state):
        raise EndpointError(f"{state} was not created by {PROG}; not touching it")
    for pidfile in PIDFILES:
        stop_pidfile(os.path.join(state, pidfile))
    if keep_logs is None:
        keep_logs = os.environ.get("KEEP_ENDPOINT_LOGS", "0") == "1"
    if keep_logs:
        for name in SECRET_FILES:
            try:
                os.unlink(os.path.join(state, name))
            except FileNotFoundError:
                pass
        if not quiet:
            print(f"{PROG}: logs kept in {state}", file=sys.stderr)
    else:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", state], check=True)


class ServerProcess:
    """One ``tests/bin/gitlab-test-server`` process; ``url`` once it printed ``GITLAB_URL=``.

    ``args`` are the server's own options. By default a child of this process
    with this interpreter, stdout on a pipe (``stdout``: the lines after the
    URL, e.g. a generated ``GITLAB_TOKEN=``). With ``stdout_path`` it is
    detached instead (own session, stdout in that file) and may outlive this
    process. ``log_path`` gets stderr (appended). ``prefix`` goes before the
    interpreter (e.g. setpriv to run as another user).
    """

    def __init__(self, *args: str, python: str | None = None, server: str = SERVER, log_path: str | None = None,
                 stdout_path: str | None = None, prefix: tuple | list = (), env: dict | None = None,
                 timeout: float = 15.0, stop_timeout: float = 10.0) -> None:
        self.command = [*prefix, python or sys.executable, server, *args]
        self.log_path = log_path
        self.stdout_path = stdout_path
        self.env = env
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.stdout = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> ServerProcess:
        with open(self.log_path or os.devnull, "ab") as err:
            if self.stdout_path:
                with open(self.stdout_path, "wb") as out:
                    self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                                 env=self.env, start_new_session=True)
            else:
                self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=err, env=self.env)
        try:
            line = self._wait_file() if self.stdout_path else self._wait_pipe()
        except BaseException:
            self.stop()
            raise
        self.url = line.split("=", 1)[1]
        self.stdout = self.proc.stdout
        return self

    def _failed(self, what: str) -> EndpointError:
        return EndpointError(f"the test server {what}", read_text(self.log_path) if self.log_path else "")

    def _wait_pipe(self) -> str:
        ready, dummy, dummy = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            raise self._failed("did not start")
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("GITLAB_URL="):
            raise self._failed(f"exited or printed an unexpected first line {line!r}")
        return line

    def _wait_file(self) -> str:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for line in read_text(self.stdout_path).splitlines(keepends=True):
                if line.startswith("GITLAB_URL=") and line.endswith("\n"):
                    return line.strip()
            if self.proc.poll() is not None:
                raise self._failed("exited")
            time.sleep(0.1)
        raise self._failed("did not start")

    def stop(self) -> int | None:
        """SIGTERM, then the exit status (the server exits 0); SIGKILL after ``stop_timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- the state-dir endpoints -----------------------------------------------------------------


def _mkdir(path: str, mode: int, uid: int = -1, gid: int = -1) -> None:
    """``install -d -m MODE [-o -g]``: parents as needed, then exactly this mode and owner."""
    os.makedirs(path, exist_ok=True)
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)
    os.chmod(path, mode)


def _install(src: str, dest_dir: str, mode: int) -> None:
    dest = os.path.join(dest_dir, os.path.basename(src))
    shutil.copyfile(src, dest)
    os.chmod(dest, mode)


def _readable_tree(top: str) -> None:
    """``chmod -R go-w,a+rX``."""
    for root, dirs, files in os.walk(top):
        for path in [root] + [os.path.join(root, name) for name in files]:
            mode = os.lstat(path).st_mode & 0o7777
            mode = (mode & ~0o022) | 0o444
            if os.path.isdir(path) or mode & 0o111:
                mode |= 0o111
            os.chmod(path, mode)
        dirs.sort()


def _run(argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv``; a failure raises with its stderr."""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise EndpointError(f"{what} failed (exit {proc.returncode})", proc.stderr)
    return proc


def ensure_git_user() -> pwd.struct_passwd:
    """The `git` account GitLab Shell runs as: created if missing, with a shell
    (sshd runs the forced command through it) and password '*' (not '!': sshd
    without PAM refuses locked accounts)."""
    try:
        user = pwd.getpwnam(GIT_USER)
    except KeyError:
        _run(["useradd", "--system", "--user-group", "--home-dir", GIT_HOME, "--create-home", "--shell", "/bin/sh",
              "--comment", "GitLab Shell (runnercreds tests)", GIT_USER], "useradd")
        _run(["usermod", "-p", "*", GIT_USER], "usermod")
        user = pwd.getpwnam(GIT_USER)
    shell = user.pw_shell
    if not shell or shell.endswith("/nologin") or shell.endswith("/false"):
        raise EndpointError(f"user {GIT_USER} has shell '{shell}'; sshd runs the forced command through it")
    return user


class Endpoints:
    """The GitLab test server, with sshd (``ssh``) and docker-registry
    (``registry``) as asked, in ``state`` (see the module's docstring).

    ``with Endpoints("/run/x", ssh=True) as endpoints: endpoints.env["GITLAB_SSH_PORT"]``
    """

    def __init__(self, state: str, ssh: bool = False, registry: bool = False, seed: str | None = None,
                 admin_token: str | None = None, python: str = SYSTEM_PYTHON) -> None:
        self.state = state_path(state)
        self.ssh = ssh
        self.registry = registry
        self.seed = os.path.abspath(seed) if seed else None
        self.admin_token = admin_token
        self.python = python
        self.env: dict = {}

    def path(self, *names: str) -> str:
        return os.path.join(self.state, *names)

    # -- start --

    def start(self) -> dict:
        """Start everything; the environment (also in STATE_DIR/env and env.json)."""
        self._preflight()
        if os.path.lexists(self.state):
            if not is_endpoint_dir(self.state):
                raise EndpointError(f"{self.state} exists and is not an endpoint state dir")
            stop(self.state, keep_logs=False, quiet=True)   # a fresh start: nothing of the last run stays
        # From here on a failure stops what already runs and removes the state dir.
        try:
            self._start()
        except BaseException:
            try:
                stop(self.state, quiet=True)
            except Exception:  # pylint: disable=broad-except  # the first error is the one to report
                pass
            raise
        return self.env

    def _preflight(self) -> None:
        try:
            ok = subprocess.run([self.python, "-c", "import yaml, cryptography"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0
        except OSError:
            ok = False
        if not ok:
            raise EndpointError(f"{self.python} lacks yaml/cryptography "
                                "(apt-get install python3-yaml python3-cryptography)")
        if self.seed and not os.path.isfile(self.seed):
            raise EndpointError(f"no seed file {self.seed}")
        if self.ssh:
            if os.geteuid() != 0:
                raise EndpointError(f"--ssh must run as root (sshd on loopback, the {GIT_USER} account)")
            if not os.access(SSHD, os.X_OK):
                raise EndpointError(f"no {SSHD} (apt-get install openssh-server)")
            if under_tmp(self.state):
                raise EndpointError(f"{self.state} is under /tmp: sshd refuses an AuthorizedKeysCommand below a "
                                    "group/world-writable directory; use /run/... or /var/lib/...")
        if self.registry:
            if not os.access(REGISTRY, os.X_OK):
                raise EndpointError(f"no {REGISTRY} (apt-get install docker-registry)")
            if not shutil.which("openssl"):
                raise EndpointError("no openssl")

    def _start(self) -> None:
        if self.ssh:
            check_safe_path(os.path.dirname(self.state))
            owner = ensure_git_user()
            _mkdir(self.state, 0o755, 0, 0)
            check_safe_path(self.state)   # the parents it may have made, too
            write_file(self.path(MARKER), "", 0o644)
            _mkdir("/run/sshd", 0o755)    # sshd's privilege separation directory
        else:
            _mkdir(self.state, 0o700)
            write_file(self.path(MARKER), "", 0o644)
            owner = pwd.getpwuid(os.getuid())
        _mkdir(self.path("data"), 0o700, owner.pw_uid, owner.pw_gid)
        token = self.admin_token or "glpat-endpoint-" + secrets.token_hex(15)

        if self.ssh:
            # The shared secret (.gitlab_shell_secret): readable by the server and GitLab Shell only.
            fd = os.open(self.path("shell_secret"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                os.fchown(fd, 0, owner.pw_gid)
                os.fchmod(fd, 0o640)
                fh.write(secrets.token_hex(32))
        if self.registry:
            # The token signing key (server) and its certificate (registry's rootcertbundle).
            key, crt = self.path("registry.key"), self.path("registry.crt")
            _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=gitlab-issuer",
                  "-keyout", key, "-out", crt], "openssl", umask=0o077)
            os.chmod(crt, 0o644)
            if self.ssh:
                # The server reads the key as the git user: root-owned, group-readable by it only.
                os.chown(key, -1, owner.pw_gid)
                os.chmod(key, 0o640)

        url = self._start_server(token)
        ssh_port, host_key, registry = None, "", ""
        if self.ssh:
            ssh_port, host_key = self._start_sshd(url)
        if self.registry:
            registry = f"127.0.0.1:{self._start_registry(url)}"
        self.env = env_values(url, token, ssh_port, host_key, self.path("shell_secret") if self.ssh else "", registry)
        write_env(self.state, self.env)

    def _start_server(self, token: str) -> str:
        # A copy the git user can read wherever the checkout is (it may be under /root).
        srv = self.path("server")
        _mkdir(os.path.join(srv, "bin"), 0o755)
        os.chmod(srv, 0o755)
        shutil.copytree(SERVER_PACKAGE, os.path.join(srv, "gitlab_server"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _install(SERVER, os.path.join(srv, "bin"), 0o755)
        args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", self.path("data"), "--admin-token", token]
        if self.seed:
            shutil.copyfile(self.seed, os.path.join(srv, "seed.yml"))
            os.chmod(os.path.join(srv, "seed.yml"), 0o644)
            args += ["--seed", os.path.join(srv, "seed.yml")]
        _readable_tree(srv)
        if self.ssh:
            args += ["--shell-secret-file", self.path("shell_secret")]
        if self.registry:
            args += ["--registry-key", self.path("registry.key")]
        prefix = []
        if self.ssh:
            prefix = ["setpriv", f"--reuid={GIT_USER}", f"--regid={GIT_USER}", "--init-groups", "--reset-env"]
        write_file(self.path("server.log"), "", 0o644)
        server = ServerProcess(*args, python=self.python, server=os.path.join(srv, "bin", "gitlab-test-server"),
                               log_path=self.path("server.log"), stdout_path=self.path("server.out"), prefix=prefix)
        try:
            server.start()
        finally:
            if server.proc is not None and server.proc.returncode is None:
                write_file(self.path("server.pid"), f"{server.pid}\n", 0o644)
        return server.url

    def _start_sshd(self, url: str) -> tuple[int, str]:
        # GitLab Shell stand-in: a root-owned copy with its config.
        shell_dir = self.path("gitshell")
        for path in (self.path("sshd"), shell_dir, os.path.join(shell_dir, "hooks")):
            _mkdir(path, 0o755)
        _install(os.path.join(GITSHELL, "gitshell.py"), shell_dir, 0o644)
        for name in ("gitlab-shell", "gitlab-shell-authorized-keys-check"):
            _install(os.path.join(GITSHELL, name), shell_dir, 0o755)
        _install(os.path.join(GITSHELL, "hooks", "pre-receive"), os.path.join(shell_dir, "hooks"), 0o755)
        write_file(os.path.join(shell_dir, "config.json"),
                   json.dumps({"gitlab_url": url, "secret_file": self.path("shell_secret")}) + "\n", 0o644)

        # sshd: own host key and config, loopback only, keys from the API only.
        host_key_file = self.path("sshd", "ssh_host_ed25519_key")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "runnercreds-endpoint", "-f", host_key_file],
             "ssh-keygen")
        port = free_port()
        config = self.path("sshd", "sshd_config")
        write_file(config, render_template(SSHD_TEMPLATE, {"state": self.state, "port": port, "git_user": GIT_USER}),
                   0o644)
        check = subprocess.run([SSHD, "-t", "-f", config], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               check=False)
        if check.returncode != 0:
            raise EndpointError(f"sshd rejected {config}", check.stderr)
        log = self.path("sshd", "sshd.log")
        _run([SSHD, "-f", config, "-E", log], "sshd")
        pidfile = self.path("sshd", "sshd.pid")
        for dummy in range(50):
            if read_text(pidfile) and port_open(port):
                break
            time.sleep(0.1)
        if not read_text(pidfile):
            raise EndpointError("sshd did not start", read_text(log))
        with open(host_key_file + ".pub", encoding="ascii") as fh:
            host_key = " ".join(fh.read().split()[:2])
        return port, host_key

    def _start_registry(self, url: str) -> int:
        _mkdir(self.path("registry-data"), 0o700)
        port = free_port()
        config = self.path("registry.yml")
        write_file(config, render_template(REGISTRY_TEMPLATE, {"state": self.state, "port": port,
                                                               "http_secret": secrets.token_hex(16),
                                                               "gitlab_url": url}), 0o600)
        log = self.path("registry.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen([REGISTRY, "serve", config], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        write_file(self.path("registry.pid"), f"{proc.pid}\n", 0o644)
        for dummy in range(100):
            if port_open(port):
                return port
            if proc.poll() is not None:
                raise EndpointError("docker-registry exited", read_text(log))
            time.sleep(0.1)
        raise EndpointError("docker-registry did not start", read_text(log))

    # -- the rest --

    def read_env(self) -> dict:
        self.env = read_env(self.state)
        return self.env

    def push_image(self, ref: str) -> str:
        """Push a tiny image as the admin (root and the admin's personal access token,
        from a 0600 auth file, never in skopeo's arguments); ``registry/ref``."""
        if not is_endpoint_dir(self.state):
            raise EndpointError(f"{self.state} is not a running endpoint")
        if not read_text(self.path("registry.pid")):
            raise EndpointError(f"{self.state} has no registry (start it with --registry)")
        if not shutil.which("skopeo"):
            raise EndpointError("no skopeo (apt-get install skopeo)")
        if ":" not in ref:
            raise EndpointError("give REPOSITORY:TAG")
        tag = ref.rsplit(":", 1)[1]
        env = self.read_env()
        registry = env["GITLAB_REGISTRY"]
        work = tempfile.mkdtemp(prefix="push-", dir=self.state)
        try:
            auth = base64.b64encode(f"root:{env['GITLAB_TOKEN']}".encode()).decode()
            auth_file = os.path.join(work, "auth.json")
            fd = os.open(auth_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"auths": {registry: {"auth": auth}}}, fh)
            oci = os.path.join(work, "oci")
            _run([sys.executable, OCI_LAYOUT, oci, tag], "oci_layout.py")
            _run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-authfile", auth_file,
                  f"oci:{oci}:{tag}", f"docker://{registry}/{ref}"], "skopeo copy")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return f"{registry}/{ref}"

    def stop(self) -> None:
        stop(self.state)

    def __enter__(self) -> Endpoints:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Test endpoints on loopback: the GitLab test server, "
                                     "sshd as GitLab Shell, docker-registry with token auth.",
                                     epilog="See the docstring of tests/support/endpoints.py.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = sub.add_parser("start", help="start the endpoints; print the environment")
    start.add_argument("state_dir", metavar="STATE_DIR")
    start.add_argument("--ssh", action="store_true", help="sshd authorizing keys as GitLab Shell does (root)")
    start.add_argument("--registry", action="store_true", help="docker-registry with token auth")
    start.add_argument("--seed", metavar="FILE", help="the server's seed file")
    start.add_argument("--admin-token", metavar="TOKEN", help="the admin's token (default: generated)")
    for name, text in (("env", "print the environment file again"), ("stop", "stop everything, remove STATE_DIR")):
        sub.add_parser(name, help=text).add_argument("state_dir", metavar="STATE_DIR")
    push = sub.add_parser("push-image", help="push a tiny image as the admin")
    push.add_argument("state_dir", metavar="STATE_DIR")
    push.add_argument("ref", metavar="REPOSITORY:TAG")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "start":
            endpoints = Endpoints(args.state_dir, ssh=args.ssh, registry=args.registry, seed=args.seed,
                                  admin_token=args.admin_token)
            sys.stdout.write(format_env(endpoints.start()))
        elif args.command == "env":
            state = state_path(args.state_dir)
            if not os.path.isfile(os.path.join(state, "env")):
                raise EndpointError(f"{state} has no env file (not started?)")
            sys.stdout.write(read_text(os.path.join(state, "env")))
        elif args.command == "push-image":
            print("pushed " + Endpoints(args.state_dir).push_image(args.ref))
        else:
            stop(args.state_dir)
    except EndpointError as exc:
        if exc.log:
            sys.stderr.write(exc.log if exc.log.endswith("\n") else exc.log + "\n")
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
