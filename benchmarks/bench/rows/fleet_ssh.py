"""Runner SSH keys on N runner containers reached the way fleets are reached (issue 15): each container
runs its own sshd on a 127.0.0.1 port, Ansible connects over SSH with pipelining and ControlPersist.
The runner_ssh_key role vs the manual deploy-key steps written with builtin modules and
community.general.gitlab_deploy_key, ten projects per host, first run and no-change re-run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

from ..common import RUNNER_IMAGE, log
from ..fixtures import Fixture
from ..goals import fleet_goals
from ..playbook import run_fleet_playbook
from .base import Measurement, register
from .fleet import Fleet, FleetConvergenceRows

# The runner image has no sshd (a runner host needs none for its jobs); the benchmark adds Debian's
# openssh-server in an image of its own, derived from the runner image and tagged with its id, so
# images/runner/ stays what the Molecule scenarios test.
SSH_IMAGE = "localhost/rcbench-ssh-runner"
CONTAINERFILE = (
    f"FROM {RUNNER_IMAGE}\n"
    "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
    "openssh-server >/dev/null && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*\n"
)
# Tasks of each playbook that call GitLab's API (delegated to the controller); the others run on the hosts.
API_TASKS = {
    "Register the key on its projects", "Resolve the project sets the play's hosts name",
    "Read the current key's age and expiry from GitLab", "Add the deploy key to the host's projects",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ssh_keygen(path: str, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], check=True)
    with open(path + ".pub", encoding="utf-8") as fh:
        return fh.read().strip()


class SshFleet(Fleet):
    """N runner containers named rcbench-ssh-1..N (host networking), each with an sshd of its own on a
    free 127.0.0.1 port: key-only root login with a client key generated for this fleet, a host key
    generated for it and pinned in a known_hosts file (StrictHostKeyChecking=yes). The keys, the
    known_hosts file and the ControlPath directory live in a short temporary directory that is
    removed with the containers (also on failure and Ctrl-C)."""

    prefix = "rcbench-ssh-"

    def __init__(self, size: int, log_path: str, image: str) -> None:
        super().__init__(size, log_path)
        self.image = image
        self.ports = [_free_port() for dummy in self.names]
        self.dir = ""

    @property
    def key(self) -> str:
        return os.path.join(self.dir, "id")

    @property
    def control_path(self) -> str:
        # %C: a hash of host, port and user - short, the socket path must stay under 108 bytes.
        return os.path.join(self.dir, "cp", "%C")

    @property
    def known_hosts(self) -> str:
        return os.path.join(self.dir, "known_hosts")

    def _run_args(self, name: str, port: int) -> list[str]:
        """``podman run`` of one host: it prepares the host as Fleet does (the gitlab-runner user, one
        checkout) and then runs sshd in the foreground - one podman call per host instead of three."""
        checkout = self.checkout
        prepare = (f"useradd --create-home --shell /bin/bash gitlab-runner && su gitlab-runner -c 'mkdir -p {checkout}"
                   f" && git init -q {checkout} && git -C {checkout} remote add origin git@127.0.0.1:bench/app.git'")
        sshd = (f"mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -p {port} -o ListenAddress=127.0.0.1 "
                "-h /etc/ssh/rcbench_host_key -o AuthorizedKeysFile=/etc/ssh/rcbench_authorized_keys "
                "-o PasswordAuthentication=no -o KbdInteractiveAuthentication=no "
                "-o PermitRootLogin=prohibit-password -o UsePAM=no")
        return ["podman", "run", "-d", "--name", name, "--hostname", name, "--network", "host",
                "-v", f"{os.path.join(self.dir, 'host_key')}:/etc/ssh/rcbench_host_key:ro",
                "-v", f"{self.key}.pub:/etc/ssh/rcbench_authorized_keys:ro",
                self.image, "sh", "-c", f"{prepare} && {sshd}"]

    def _start_containers(self) -> None:
        """All hosts at once (set-up, not measured: starting them one by one took a minute for 12)."""
        self.live.update(self.names)
        with open(self.log_path, "a", encoding="utf-8") as err:
            procs = [subprocess.Popen(self._run_args(name, port), stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                      stderr=err)
                     for name, port in zip(self.names, self.ports)]
            failed = [name for name, proc in zip(self.names, procs) if proc.wait() != 0]
        if failed:
            raise SystemExit(f"podman run failed for {', '.join(failed)}; see {self.log_path}")

    def _wait_for_sshd(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for name, port in zip(self.names, self.ports):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                        if sock.recv(4).startswith(b"SSH-"):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name}: no sshd on 127.0.0.1:{port} after {timeout:.0f} s; see {self.log_path}")
                time.sleep(0.1)

    def __enter__(self):
        self.remove(self.names)  # leftovers of an interrupted run, by their exact names
        self.dir = tempfile.mkdtemp(prefix="rcb-", dir="/tmp")
        try:
            os.mkdir(os.path.join(self.dir, "cp"), 0o700)
            _ssh_keygen(self.key, "rcbench-controller")
            host_key = _ssh_keygen(os.path.join(self.dir, "host_key"), "rcbench-host").rsplit(" ", 1)[0]
            with open(self.known_hosts, "w", encoding="utf-8") as fh:
                fh.writelines(f"[127.0.0.1]:{port} {host_key}\n" for port in self.ports)
            self._start_containers()
            self._wait_for_sshd()
        except BaseException:
            self.__exit__()
            raise
        return self

    def close_connections(self) -> None:
        """End every ControlPersist master: the next run connects afresh, as a scheduled run would."""
        for port in self.ports:
            subprocess.run(["ssh", "-o", f"ControlPath={self.control_path}", "-p", str(port), "-O", "exit",
                            "root@127.0.0.1"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __exit__(self, *exc):
        try:
            if self.dir:
                self.close_connections()
        finally:
            self.remove(self.names)
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)


@register
class FleetSshRows(FleetConvergenceRows):
    """The fleet rows over SSH: the same job and playbooks as fleet_convergence, ten projects per host
    (the first with push), every host a container with its own sshd. Goals (issue 15): a no-change
    re-run at most 2 s per host at 6 hosts and at least 2x faster than the alternative; a first run
    at least 1.5x faster. Every measured run starts without a ControlPersist master (closed after
    each run); within a run the master is shared by the host's tasks."""

    name = "fleet_ssh"
    aliases = ("ssh",)
    title = "Runner SSH keys on N hosts over SSH (10 projects each)"
    unit = "hosts"
    table = "fleet_ssh"
    order = 45
    per_host = 10
    image = ""

    def unavailable(self):
        reason = super().unavailable()
        if reason:
            return reason
        image_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", RUNNER_IMAGE],
                                  capture_output=True, text=True, check=True).stdout.strip()
        self.image = f"{SSH_IMAGE}:{image_id[:12]}"
        if subprocess.run(["podman", "image", "exists", self.image], check=False).returncode != 0:
            log(f"fleet_ssh: building {self.image} ({RUNNER_IMAGE} + openssh-server from the Debian mirror)")
            with tempfile.TemporaryDirectory() as ctx_dir:
                with open(os.path.join(ctx_dir, "Containerfile"), "w", encoding="utf-8") as fh:
                    fh.write(CONTAINERFILE)
                proc = subprocess.run(["podman", "build", "--network", "host", "-t", self.image, ctx_dir],
                                      capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                return f"n/a (could not add openssh-server to {RUNNER_IMAGE}: {proc.stderr.strip()[-200:]})"
        return None

    def sizes(self, config):
        return config.ssh_fleet_sizes

    def start_fleet(self, size, ctx):
        return SshFleet(size, ctx.server_log, self.image)

    def connection_vars(self, fleet) -> dict:
        return {
            "ansible_connection": "ansible.builtin.ssh",
            "ansible_host": "127.0.0.1",
            "ansible_user": "root",
            "ansible_ssh_private_key_file": fleet.key,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_pipelining": True,
            "ansible_ssh_args": f"-o ControlMaster=auto -o ControlPersist=60s -o ControlPath={fleet.control_path}",
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={fleet.known_hosts} -o StrictHostKeyChecking=yes",
        }

    def host_vars(self, fleet, index):
        return {"ansible_port": fleet.ports[index]}

    def between_runs(self, fleet) -> None:
        fleet.close_connections()

    def calibrate_fleet(self, ctx, fleet, inv_path, env) -> dict:
        """On the cell's first fleet, before the measured runs: an empty play (Ansible's start-up), a
        ping of every host without a master (SSH connection + a module that returns at once) and with
        one (the module alone)."""
        out = {}
        for key, playbook in (("ansible_start_s", "empty.yml"), ("ping_cold_s", "fleet_ping.yml"),
                              ("ping_warm_s", "fleet_ping.yml")):
            wall, rc, dummy_recap, tasks = run_fleet_playbook(playbook, inv_path, env, ctx.ansible_log)
            if rc != 0:
                raise SystemExit(f"{playbook} failed (rc={rc}); see {ctx.ansible_log}")
            out[key] = round(wall if key == "ansible_start_s" else sum(t for dummy, t in tasks), 3)
        fleet.close_connections()
        return out

    def measure(self, ctx, fixture: Fixture, latency: int, repeat: int, alt_repeat: int) -> list[Measurement]:
        self._calibrated = False
        return super().measure(ctx, fixture, latency, repeat, alt_repeat)

    def before_runs(self, ctx, fleet, inv_path, env, size) -> None:
        if not self._calibrated:
            self.calibration[size] = self.calibrate_fleet(ctx, fleet, inv_path, env)
            self._calibrated = True
            log(f"  {self.name} N={size}: calibration {self.calibration[size]}")

    def __init__(self) -> None:
        self.calibration: dict = {}
        self._calibrated = False

    def summary(self, ours: Measurement, alt: Measurement, doc: dict) -> dict:
        floor = float(doc["server_floor_ms"].get(ours.size * self.per_host)
                      or doc["server_floor_ms"].get(str(ours.size * self.per_host)) or 0)
        cal = self.calibration.get(ours.size) or doc.get("calibration", {}).get(self.name, {}).get(str(ours.size), {})
        return {"goals": fleet_goals(ours.phase, ours.size, ours.wall_median, alt.wall_median, ours.samples[-1].writes),
                "breakdown": {"ours": fleet_breakdown(ours, cal, floor), "alt": fleet_breakdown(alt, cal, floor),
                              "calibration": cal}}


def _is_api_task(name: str) -> bool:
    """The callback names a role's tasks "<role> : <task>"."""
    return name.rsplit(" : ", 1)[-1] in API_TASKS


def fleet_breakdown(m: Measurement, cal: dict, floor_ms: float) -> dict:
    """Where one fleet run's time goes (median sample by wall time): Ansible's start-up (the empty play
    on this inventory), the tasks that run on the hosts, the tasks that call GitLab (on the controller),
    the time between tasks (forks, result handling, the recap), and the HTTP time those tasks would
    spend one request at a time (requests x (server floor + injected latency))."""
    ordered = sorted(m.samples, key=lambda s: s.wall_s)
    s = ordered[(len(ordered) - 1) // 2]
    tasks = s.tasks or []
    api = sum(t for name, t in tasks if _is_api_task(name))
    on_hosts = sum(t for name, t in tasks if not _is_api_task(name))
    start = cal.get("ansible_start_s")
    slowest = sorted(tasks, key=lambda t: -t[1])[:3]
    # The role's prefix makes the table unreadable; the task's own name says what it is.
    slowest = [[name.rsplit(" : ", 1)[-1], t] for name, t in slowest]
    return {"wall_s": round(s.wall_s, 3), "ansible_start_s": start, "host_tasks_s": round(on_hosts, 3),
            "api_tasks_s": round(api, 3),
            "between_tasks_s": round(s.wall_s - on_hosts - api - (start or 0), 3),
            "tasks": len(tasks), "requests": s.total,
            "http_sequential_s": round(s.total * (floor_ms + m.latency_ms) / 1000, 3),
            "slowest": [[name, round(t, 2)] for name, t in slowest]}
