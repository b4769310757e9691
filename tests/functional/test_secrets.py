# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Secrets" suite (issue 12): no secret reaches anything a user, a log shipper or another local user can read.

Every module runs through ``ansible-playbook`` on localhost against the GitLab
test server (``playbooks/secrets_modules.yml``), at ``-vvv --diff``, with
ANSIBLE_LOG_PATH set, once per stdout callback (``default``, the default
callback's ``result_format=yaml`` -- ansible-core 2.19's YAML output, which
replaces the deprecated community.general.yaml -- and ``ansible.posix.json``),
with and without ``no_log``: happy paths, check mode, a private key given by
mistake, HTTP 500 injected during creates, a broken auth file, the API token
from ``api_token`` and from ``GITLAB_TOKEN``. Meanwhile every process's command
line is sampled every ~20 ms. Then stdout, stderr, the log, every sampled
command line and every file under the test's temporary directory (except the
files meant to hold a credential) are scanned for every secret in every form
(``tests/support/secret_scan.py``). The deploy token secrets are known to the
test without ever being printed: the playbook writes them with
``ansible.builtin.copy`` and ``no_log`` to 0600 files, and the test checks them
against where they are installed (the registry auth file).

``test_the_scan_finds_a_secret_printed_on_purpose`` proves the scan can fail:
a playbook leaks secrets on purpose into each channel, and each leak is found.
The same watch covers what users do around the modules: hand a new token to a
client as deploy_token's EXAMPLES do (``playbooks/secrets_client.yml``), and
give the API token in a wrong form (``playbooks/secrets_mistakes.yml``).

Defects are marked ``xfail(strict=True, reason="defect: ...")`` until fixed.
The roles are not run here: they need a runner user and write to its home.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from urllib.parse import quote

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ansible_cli import BIN, ansible_env
from secret_scan import CmdlineSampler, SecretScanner, report
from sshkeys import public_key

from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_token

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
MAINTAINER = 40
# The stdout callbacks, as users select them (environment variables of ansible-core 2.19).
# The default callback runs without pipelining (each module's AnsiballZ file, its arguments inside, goes to
# ANSIBLE_REMOTE_TEMP), the other two with it (the arguments go through the interpreter's stdin).
CALLBACKS = {
    "default": {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
                "ANSIBLE_PIPELINING": "0"},
    "yaml": {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
             "ANSIBLE_PIPELINING": "1"},
    "json": {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_PIPELINING": "1"},
}
# Settings from the caller's environment that would change what is printed or kept.
CLEARED = ("GITLAB_URL", "GITLAB_TOKEN", "ANSIBLE_KEEP_REMOTE_FILES", "ANSIBLE_DEBUG", "ANSIBLE_NO_LOG",
           "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_RESULT_FORMAT", "ANSIBLE_CALLBACK_FORMAT_PRETTY",
           "ANSIBLE_DISPLAY_ARGS_TO_STDOUT", "ANSIBLE_CONFIG", "ANSIBLE_LOG_PATH", "ANSIBLE_PIPELINING")


# --- running a playbook under watch --------------------------------------------------------------------------------

class Run:
    """One ``ansible-playbook`` run: its output, log, process samples and the files it had."""

    def __init__(self, tmp_path, returncode, stdout, stderr, log_path, sampler, pid, seconds, cpu_seconds):
        self.tmp_path = tmp_path
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.log_path = log_path
        self.sampler = sampler
        self.pid = pid
        self.seconds = seconds
        self.cpu_seconds = cpu_seconds

    @property
    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def commands(self) -> list:
        """The argv of every process of this run the sampler saw."""
        own = self.sampler.descendants(self.pid)
        return [argv for (pid, argv) in self.sampler.seen if pid in own]

    def scan(self, scanner, credential_files=()) -> list:
        """Every channel: stdout, stderr, the log, the sampled command lines, the files left under tmp_path."""
        hits = scanner.scan_text("stdout", self.stdout)
        hits += scanner.scan_text("stderr", self.stderr)
        hits += scanner.scan_text("ANSIBLE_LOG_PATH", self.log, kind="log")
        hits += scanner.scan_cmdlines(self.sampler, own_root=self.pid)
        hits += scanner.scan_tree(str(self.tmp_path), exclude=[self.log_path, *credential_files])
        return hits


def run_watched(tmp_path, playbook, variables, callback, *options, **env):
    """``ansible-playbook playbooks/<playbook>`` on localhost, every process's command line sampled meanwhile.

    Variables go in a 0600 JSON file under ``tmp_path/input``. Ansible's local and
    remote temporary directories, ANSIBLE_HOME, TMPDIR and the log are all under
    ``tmp_path``, so whatever the run leaves behind is scanned.
    """
    inputs = tmp_path / "input"
    inputs.mkdir(mode=0o700, exist_ok=True)
    vars_file = inputs / "vars.json"
    vars_file.write_text(json.dumps(variables))
    vars_file.chmod(0o600)
    for name in ("systmp", "remote"):
        (tmp_path / name).mkdir(mode=0o700, exist_ok=True)
    log_path = str(tmp_path / "ansible.log")
    run_env = ansible_env(tmp_path)
    for name in CLEARED:
        run_env.pop(name, None)
    # TMPDIR is reached through a short symlink to tmp_path/systmp: ansible-core 2.21 serves its workers' RPC on a
    # unix socket under TMPDIR, and a socket path may not exceed 107 bytes, which tmp_path alone nearly is. What
    # lands there is still under tmp_path, so it is scanned.
    alias = tempfile.mkdtemp(prefix="rc-")
    os.symlink(tmp_path / "systmp", os.path.join(alias, "t"))
    run_env.update(CALLBACKS[callback], ANSIBLE_LOG_PATH=log_path, ANSIBLE_REMOTE_TEMP=str(tmp_path / "remote"),
                   TMPDIR=os.path.join(alias, "t"), ANSIBLE_DEPRECATION_WARNINGS="1",
                   # From ansible-core 2.21 results carry `invocation` only on request: ask, so it is scanned too.
                   ANSIBLE_INJECT_INVOCATION="1", **env)
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
               os.path.join(PLAYBOOKS, playbook), "-e", "@%s" % vars_file, *options]
    started, children = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with CmdlineSampler() as sampler:
            with subprocess.Popen(command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) as process:
                stdout, stderr = process.communicate(timeout=300)
    finally:
        shutil.rmtree(alias)  # the symlink only; its target stays under tmp_path
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Run(tmp_path, process.returncode, stdout, stderr, log_path, sampler, process.pid,
               time.monotonic() - started, used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime)


# --- the secrets of a scenario -------------------------------------------------------------------------------------

def openssh_private_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()


def pem_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def auth_pair(config_path, registry) -> tuple:
    """``(username, password)`` of a registry's entry in a Docker/containers auth file."""
    decoded = base64.b64decode(read_json(config_path)["auths"][registry]["auth"]).decode()
    username, dummy, password = decoded.partition(":")
    return username, password


def assert_mode(path, mode) -> None:
    assert stat.S_IMODE(os.stat(path).st_mode) == mode, (str(path), oct(os.stat(path).st_mode))


def stored_tokens(gitlab_target, project) -> list:
    """``(name, username)`` of a project's deploy tokens, read back with an independent client."""
    tokens = gitlab_target.admin_client().projects.get(project.id).deploytokens.list(get_all=True)
    return [(token.name, token.username) for token in tokens]


def fault_path(project) -> str:
    """A fault rule's path regex for the writes on one project, whether it is named by id or by path."""
    encoded = re.escape(quote(project.path_with_namespace, safe=""))
    return r"/projects/(%d|%s)/(deploy_keys|deploy_tokens|protected_tags)$" % (project.id, encoded)


@pytest.fixture
def scenario(gitlab_target, clean_target, tmp_path):
    """Two maintainers (one token for api_token, one for GITLAB_TOKEN), four projects, keys and a password."""
    user_a, token_a = gitlab_target.make_user("secrets-a")
    user_b, token_b = gitlab_target.make_user("secrets-b")
    projects = {name: gitlab_target.make_project("secrets-" + name) for name in ("main", "b", "fault", "refuse")}
    for project in projects.values():
        for user in (user_a, user_b):
            gitlab_target.add_member(project, user, MAINTAINER)
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    registry_password = "reg/%s+=:" % secrets.token_urlsafe(18)
    corrupt = tmp_path / "input" / "corrupt-auth.json"
    corrupt.parent.mkdir(mode=0o700)
    # A half-written auth file: the password is in it, and no error message may echo it.
    corrupt.write_text('{"auths": {"127.0.0.1:5001": {"username": "ci", "password": "%s"' % registry_password)
    corrupt.chmod(0o600)
    return {
        "projects": projects,
        "env_token": token_b,
        "work": work,
        "vars": {
            "secrets_gitlab_url": gitlab_target.url,
            "secrets_api_token": token_a,
            "secrets_project": projects["main"].path_with_namespace,
            "secrets_project_b": projects["b"].path_with_namespace,
            "secrets_fault_project": projects["fault"].path_with_namespace,
            "secrets_refuse_project": projects["refuse"].path_with_namespace,
            "secrets_public_key": public_key("ed25519", comment="secrets-%s" % secrets.token_hex(4)),
            "secrets_key_title": "secrets-fleet",
            "secrets_private_key_openssh": openssh_private_key(),
            "secrets_private_key_pem": pem_private_key(),
            "secrets_work_dir": str(work),
            "secrets_registry": "127.0.0.1:5000",
            "secrets_registry_b": "127.0.0.1:5001",
            "secrets_registry_user": "ci-pull",
            "secrets_registry_password": registry_password,
            "secrets_corrupt_file": str(corrupt),
        },
    }


def scanner_for(variables, env_token=None) -> SecretScanner:
    """The secrets the test knows before the run: API tokens, the registry password, the private keys."""
    scanner = SecretScanner()
    scanner.add("API token (api_token)", variables["secrets_api_token"])
    if env_token:
        scanner.add("API token (GITLAB_TOKEN)", env_token)
    if "secrets_registry_password" in variables:
        scanner.add("registry password", variables["secrets_registry_password"])
        scanner.add_basic_auth("registry password", variables["secrets_registry_user"],
                               variables["secrets_registry_password"])
    for name in ("secrets_private_key_openssh", "secrets_private_key_pem"):
        if name in variables:
            scanner.add_lines("private key (%s)" % name.rsplit("_", 1)[-1], variables[name])
    return scanner


def show(scanner, text, tail=3000) -> str:
    """The end of an output for an assertion message, with every known secret redacted."""
    return scanner.redact(text[-tail:])


# --- the suite -----------------------------------------------------------------------------------------------------

@pytest.mark.needs_control
@pytest.mark.parametrize("callback", sorted(CALLBACKS))
def test_no_secret_reaches_any_output_log_command_line_or_file(gitlab_target, scenario, tmp_path, callback):
    projects, variables, work = scenario["projects"], scenario["vars"], scenario["work"]
    gitlab_target.add_fault(method="POST", path=fault_path(projects["fault"]), status=500, count=1000)

    run = run_watched(tmp_path, "secrets_modules.yml", variables, callback, "-vvv", "--diff",
                      GITLAB_URL=gitlab_target.url, GITLAB_TOKEN=scenario["env_token"])

    scanner = scanner_for(variables, scenario["env_token"])
    # The deploy token secrets, known without being printed: handed over by no_log tasks in 0600 files ...
    token_file, partial_file = work / "deploy_token.json", work / "partial_tokens.json"
    created = read_json(token_file) if token_file.exists() else {"username": None, "token": ""}
    if created["token"]:
        scanner.add("deploy token", created["token"])
        scanner.add_basic_auth("deploy token", created["username"], created["token"])
    partial = read_json(partial_file) if partial_file.exists() else []
    for index, token in enumerate(partial):
        scanner.add("deploy token created before a failure #%d" % index, token)
    docker_config, containers_auth = work / "docker" / "config.json", work / "containers" / "auth.json"
    hits = run.scan(scanner, credential_files=[
        tmp_path / "input" / "vars.json", variables["secrets_corrupt_file"], token_file, partial_file,
        docker_config, containers_auth])
    # The credential files hold their own secret and no other.
    for path, meant in ((docker_config, {"deploy token", "registry password"}), (containers_auth, {"deploy token"}),
                        (token_file, {"deploy token"}), (partial_file, {"deploy token created before a failure #0"})):
        if path.exists():
            hits += [hit for hit in scanner.scan_file(str(path), "credential file %s" % path.name)
                     if hit.label not in meant]
    print("%s callback: %s; %d samples, %d distinct command lines (%d of this run); %.1f s, %.1f s CPU" % (
        callback, scanner.summary(), run.sampler.samples, len(run.sampler.seen), run.sampler.processes(run.pid),
        run.seconds, run.cpu_seconds))
    output = run.stdout + run.stderr
    assert run.returncode == 0, report(hits) + "\n" + show(scanner, output)
    assert not hits, report(hits)

    # ... and the same as where they are legitimately installed.
    assert created["token"].startswith("gldt-") and len(partial) == 1 and partial[0].startswith("gldt-")
    assert auth_pair(docker_config, variables["secrets_registry"]) == (created["username"], created["token"])
    assert auth_pair(containers_auth, variables["secrets_registry"]) == (created["username"], created["token"])
    assert auth_pair(docker_config, variables["secrets_registry_b"]) == (
        variables["secrets_registry_user"], variables["secrets_registry_password"])
    for path in (token_file, partial_file, docker_config, containers_auth):
        assert_mode(path, 0o600)
    for path in (docker_config.parent, containers_auth.parent):  # made by registry_auth
        assert_mode(path, 0o700)

    # GitLab's side: the refused runs created nothing; the no_log runs created what they should.
    def stored(name):
        return stored_tokens(gitlab_target, projects[name])

    assert stored("refuse") == [] and stored("fault") == []
    assert stored("main") == [("secrets-pull", created["username"])]
    assert [name for name, dummy in stored("b")] == ["secrets-partial"]

    # The output is real: invocations with masked options, censored results, the failures' messages.
    for words in ("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", "censored", "invocation", "holds a PRIVATE key",
                  "HTTP 500", "Set no_log: true on the task", "is not valid JSON", "deploy_key_info",
                  "protected_tag_info", "deploy_token_info", "registry_auth_info", "predecessor of the new token"):
        assert words in output, words
    assert run.log.count("\n") > 100
    # The sampler saw the run: ansible-playbook, its workers' shells and the modules' interpreters, which
    # without pipelining ran the AnsiballZ files from ANSIBLE_REMOTE_TEMP, under tmp_path (so scanned after).
    assert run.sampler.samples > 50 and run.sampler.processes(run.pid) >= 10, (
        run.sampler.samples, run.sampler.processes(run.pid))
    ran_from_remote_temp = [argv for argv in run.commands() if any("/AnsiballZ_" in arg for arg in argv)
                            and str(tmp_path / "remote") in " ".join(argv)]
    assert bool(ran_from_remote_temp) == (CALLBACKS[callback]["ANSIBLE_PIPELINING"] == "0")


@pytest.mark.parametrize("callback", sorted(CALLBACKS))
def test_the_scan_finds_a_secret_printed_on_purpose(gitlab_target, clean_target, tmp_path, callback):
    """The scan can fail: each channel gets a leak, and each leak is found, where it is, without showing it."""
    user, token = gitlab_target.make_user("canary")
    project = gitlab_target.make_project("canary")
    gitlab_target.add_member(project, user, MAINTAINER)
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    unknown = "glpat-" + secrets.token_urlsafe(15)[:20]
    variables = {
        "secrets_gitlab_url": gitlab_target.url,
        "secrets_api_token": token,
        "secrets_project": project.path_with_namespace,
        "secrets_work_dir": str(work),
        "secrets_registry_user": "ci-pull",
        "secrets_registry_password": "reg/%s+=:" % secrets.token_urlsafe(18),
        "secrets_private_key_openssh": openssh_private_key(),
        "secrets_unknown_token": unknown,
    }
    run = run_watched(tmp_path, "secrets_canary.yml", variables, callback, "-vvv", "--diff")
    scanner = scanner_for(variables)
    created = read_json(work / "deploy_token.json")
    scanner.add("deploy token", created["token"])
    assert run.returncode == 0, show(scanner, run.stdout + run.stderr)

    hits = run.scan(scanner, credential_files=[tmp_path / "input" / "vars.json", work / "deploy_token.json"])
    found = {(hit.source.split(" ")[0], hit.label, hit.form.split(" ")[0]) for hit in hits}
    expected = {
        ("stdout", "deploy token", "raw"),
        ("ANSIBLE_LOG_PATH", "deploy token", "raw"),
        ("stdout", "private key (openssh)", "line"),
        ("ANSIBLE_LOG_PATH", "private key (openssh)", "line"),
        ("file", "registry password", "base64"),  # user:password
        ("command", "API token (api_token)", "raw"),
        ("stdout", "unknown GitLab personal access token", "pattern"),
    }
    assert expected <= found, report(hits)
    # Every line of the key, not just one, is found in the output.
    key_lines = [hit for hit in hits if hit.source == "stdout" and hit.label == "private key (openssh)"]
    assert len(key_lines) == len(variables["secrets_private_key_openssh"].strip().splitlines()), report(key_lines)
    text = report(hits)
    for secret in (created["token"], token, unknown, variables["secrets_registry_password"]):
        assert secret not in text and secret[6:] not in text
    for line in variables["secrets_private_key_openssh"].splitlines()[1:-1]:
        assert line not in text
    assert "«HERE»" in text and "argv[4]" in text and "file work/leak.txt" in text


@pytest.mark.parametrize("how", ["stdin"])
def test_handing_a_new_token_to_a_client_as_the_module_examples_do(gitlab_target, clean_target, tmp_path, how):
    """deploy_token's EXAMPLES pipe the secret to ``docker login --password-stdin`` (a stand-in here)."""
    user, token = gitlab_target.make_user("example")
    project = gitlab_target.make_project("example")
    gitlab_target.add_member(project, user, MAINTAINER)
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    bin_dir = tmp_path / "input" / "bin"
    bin_dir.mkdir(parents=True)
    docker = bin_dir / "docker"
    # A docker client stand-in: reads the password from stdin, keeps it, takes as long as a login.
    docker.write_text('#!/bin/sh\ncat > "%s/docker-login.stdin"\nsleep 0.5\n' % work)
    docker.chmod(0o700)
    variables = {
        "secrets_gitlab_url": gitlab_target.url,
        "secrets_api_token": token,
        "secrets_project": project.path_with_namespace,
        "secrets_work_dir": str(work),
        "secrets_how": how,
    }
    run = run_watched(tmp_path, "secrets_client.yml", variables, "default", "-vvv",
                      PATH="%s:%s" % (bin_dir, os.environ.get("PATH", "")))
    scanner = scanner_for(variables)
    created = read_json(work / "deploy_token.json")
    scanner.add("deploy token", created["token"])
    assert run.returncode == 0, show(scanner, run.stdout + run.stderr)
    with open(work / "docker-login.stdin", encoding="utf-8") as handle:
        assert handle.read().strip() == created["token"]
    hits = run.scan(scanner, credential_files=[tmp_path / "input" / "vars.json", work / "deploy_token.json",
                                               work / "docker-login.stdin"])
    assert not hits, report(hits)


@pytest.mark.parametrize("case", ["url", "newline"])
def test_an_api_token_given_in_a_wrong_form_stays_secret(gitlab_target, clean_target, tmp_path, case):
    user, token = gitlab_target.make_user("mistake")
    project = gitlab_target.make_project("mistake")
    gitlab_target.add_member(project, user, MAINTAINER)
    netloc = gitlab_target.url.split("://", 1)[1]
    variables = {
        "secrets_case": case,
        "secrets_gitlab_url": gitlab_target.url,
        "secrets_api_token": token,
        "secrets_project": project.path_with_namespace,
        "secrets_url_userinfo": "%s://oauth2:%s@%s" % (gitlab_target.url.split("://")[0], token, netloc),
        "secrets_url_query": "%s/api/v4?private_token=%s" % (gitlab_target.url, token),
        "secrets_url_no_scheme": "oauth2:%s@%s" % (token, netloc),
    }
    env = {"GITLAB_URL": variables["secrets_url_query"]} if case == "url" else {"GITLAB_TOKEN": token + "\n"}
    run = run_watched(tmp_path, "secrets_mistakes.yml", variables, "default", "-vvv", **env)
    scanner = scanner_for(variables)
    hits = run.scan(scanner, credential_files=[tmp_path / "input" / "vars.json"])
    assert run.returncode == 0, report(hits) + "\n" + show(scanner, run.stdout + run.stderr)
    assert not hits, report(hits)


def test_deploy_token_documents_where_the_secrets_of_a_failed_run_are():
    """A user must know that a failed no_log task may still hold live secrets, to register and keep them."""
    documentation = yaml.safe_load(deploy_token.DOCUMENTATION)
    notes = " ".join(" ".join(documentation["notes"]).split())
    assert "created elsewhere are deleted again" not in notes and "nothing is left changed" not in notes
    assert "deletes a token the failed POST may have created" not in notes
    returned = yaml.safe_load(deploy_token.RETURN)
    assert "possible_orphans" in returned
    assert "fail" in json.dumps(returned["deploy_tokens"]), "RETURN says deploy_tokens[].token comes on failures too"


def test_the_examples_never_hand_a_secret_on_through_environment_or_argv():
    """An environment variable or an argument is readable by every local user in /proc and shown by -vvv."""
    for task in yaml.safe_load(deploy_token.EXAMPLES):
        text = json.dumps(task)
        if ".token" in text and "runnercreds.gitlab" not in text:
            assert "environment" not in task, task["name"]
            argv = task.get("ansible.builtin.command", {}).get("argv", [])
            assert not any(".token" in str(arg) for arg in argv), task["name"]


# --- the scanner itself (no GitLab, no Ansible) --------------------------------------------------------------------

def test_the_scanner_reports_where_and_never_what():
    token = "gldt-" + "Ab3_" * 5
    key = openssh_private_key()
    scanner = SecretScanner()
    scanner.add("deploy token", token)
    scanner.add_basic_auth("deploy token", "gitlab+deploy-token-7", token)
    scanner.add_lines("private key", key)
    key_line = key.splitlines()[2]
    unknown = "glpat-" + "Zz9-" * 5
    text = "\n".join([
        "nothing here",
        "a token: %s, again: %s" % (token, token),
        "a key line cut by the window: %s" % (key_line * 3),
        # YAML folds a long double-quoted scalar with an escaped line break: "...\<newline>   ..."
        '"prefix %s\\\n    %s suffix"' % (token[:12], token[12:]),
        "basic auth: " + base64.b64encode(("gitlab+deploy-token-7:" + token).encode()).decode(),
        "unknown: " + unknown,
    ])
    hits = scanner.scan_text("stdout", text)
    where = {(hit.where.split(" (")[0], hit.label, hit.form) for hit in hits}
    assert ("line 2 col 10", "deploy token", "raw") in where
    assert ("line 3 col 31", "private key", "line 3 of %d" % len(key.strip().splitlines())) in where
    assert ("line 4 col 9", "deploy token", "raw") in where  # found squashed: split over two lines
    assert ("line 6 col 13", "deploy token", "base64 user:password") in where
    assert ("line 7 col 10", "unknown GitLab personal access token", "pattern") in where
    assert not [hit for hit in hits if hit.form.startswith("without")], "echoes of a found token are dropped"
    text_of_report = report(hits)
    for piece in (token, token[5:], token[:12], token[12:], unknown, key_line, key_line[:10], key_line[-10:]):
        assert piece not in text_of_report, piece
    assert "(and 1 more)" in text_of_report and "«HERE»" in text_of_report


def test_the_cmdline_sampler_sees_a_short_lived_process(tmp_path):
    secret = "glpat-" + secrets.token_urlsafe(15)[:20]
    scanner = SecretScanner()
    scanner.add("API token", secret)
    with CmdlineSampler() as sampler:
        with subprocess.Popen(["sh", "-c", "sleep 0.2; true", "probe", secret]) as process:
            process.wait()
    hits = scanner.scan_cmdlines(sampler, own_root=process.pid)
    assert [(hit.source.split(" (")[1], hit.where, hit.form) for hit in hits] == [("sh)", "argv[4]", "raw")]
    assert sampler.processes(process.pid) >= 1 and sampler.samples >= 5
