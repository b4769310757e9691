# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad role variables (issue 12): each role refuses them before it changes anything.

Every case of :data:`CASES` runs the role (``include_role``) through a real
``ansible-playbook`` on ``localhost`` (connection local), with its own
temporary runner home, a temporary ``HOME`` for Ansible, and
``GITLAB_URL``/``GITLAB_TOKEN`` pointing at the GitLab test server. The
run must fail, with a message that names the variable and the accepted
form, before any task changes anything: the case's home is byte-for-byte,
mode and owner the same afterwards, and the server saw no request. A
private key given by mistake must not show in the output.

Two tripwires make "before any change" strict and cheap: in each case's
home ``~/.ssh`` is a plain file, so the first task that would create or
write anything there fails at once; and while the roles run, the test
server answers every API request with 403 (never retried), so a role that
reaches GitLab stops at its first request, which the counters record. A
role passes only by failing, naming the variable, before either.

One playbook per role holds all of that role's cases, each in a ``block``
whose ``rescue`` records the failure and the server's counters, so a role
costs one ``ansible-playbook`` start. Under pytest-xdist the playbook runs
once (a lock file in the session's shared temporary directory); every
worker reads its results.

``runner_deploy_token`` finds the runner's home with ``getent passwd``; a
``getent`` earlier in ``PATH`` answers with the case's temporary home, so
nothing outside the temporary directory is touched.

A case with ``defect=`` is not refused yet; it is marked
``xfail(strict=True)`` until roles/ is fixed.
"""

from __future__ import annotations

import collections
import fcntl
import grp
import json
import os
import pwd
import re
import subprocess
import textwrap
import time
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_cli import BIN, ansible_env
from disk_snapshot import snapshot
from sshkeys import public_key

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
PROJECT = "bad-input/project"  # replaced by each case's own new project (run_role_cases)
HOST_KEY = " ".join(public_key("ed25519", comment=None).split()[:2])
FLEET_KEY = public_key("ed25519", comment="runner-fleet")
PRIVATE_KEY = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
OTHER_PRIVATE_KEY = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA: that is the point of this key
    DSA_KEY = public_key("dsa", 1024, comment="old@host")

SSH_ROLE = "runner_ssh_key"
TOKEN_ROLE = "runner_deploy_token"


class RoleBad:
    """One bad role variable (or combination): the variables over the role's base, what the failure must say.

    ``variable`` must appear in the message and ``fix`` (a regular
    expression) is the accepted form it must state. ``drop`` names base
    variables to leave out. ``secret`` must appear nowhere in the output.
    """

    __slots__ = ("role", "name", "variables", "variable", "fix", "defect", "drop", "secret")

    def __init__(self, role, name, variables, variable, fix, defect=None, drop=(), secret=None):
        self.role = role
        self.name = name
        self.variables = variables
        self.variable = variable
        self.fix = fix
        self.defect = defect
        self.drop = tuple(drop)
        self.secret = secret

    @property
    def ident(self):
        return f"{self.role}-{self.name}"

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=f"defect: {self.defect}")] if self.defect else []
        return pytest.param(self, id=self.ident, marks=marks)


def ssh(name, variables, variable, fix, **kwargs):
    return RoleBad(SSH_ROLE, name, variables, variable, fix, **kwargs)


def tok(name, variables, variable, fix, **kwargs):
    return RoleBad(TOKEN_ROLE, name, variables, variable, fix, **kwargs)


def token_entry(**changes):
    entry = {"name": "bad-input", "project": PROJECT, "scopes": ["read_registry"]}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


CHOICES = r"one of: |must be one of"
BOOL = r"bool"
PORT_FIX = r"1.*65535"
HOST_FIX = r"gitlab\.example\.com"
DATE_FIX = r"2030-01-31"
KEY_FIX = r"ssh-ed25519"
SHARED = {"runner_ssh_key_mode": "shared", "runner_ssh_key_shared_public_key": FLEET_KEY,
          "runner_ssh_key_shared_private_key": OTHER_PRIVATE_KEY}

CASES = [
    # --- runner_ssh_key ---------------------------------------------------------------------------------
    ssh("state-unknown", {"runner_ssh_key_state": "gone"}, "runner_ssh_key_state", CHOICES),
    ssh("mode-unknown", {"runner_ssh_key_mode": "fleet"}, "runner_ssh_key_mode", CHOICES),
    ssh("port-word", {"runner_ssh_key_gitlab_ssh_port": "twenty-two"}, "runner_ssh_key_gitlab_ssh_port", r"int"),
    ssh("port-0", {"runner_ssh_key_gitlab_ssh_port": 0}, "runner_ssh_key_gitlab_ssh_port", PORT_FIX),
    ssh("port-70000", {"runner_ssh_key_gitlab_ssh_port": 70000}, "runner_ssh_key_gitlab_ssh_port", PORT_FIX),
    ssh("ssh_host-empty", {"runner_ssh_key_gitlab_ssh_host": ""}, "runner_ssh_key_gitlab_ssh_host", HOST_FIX),
    ssh("ssh_host-missing", {}, "runner_ssh_key_gitlab_ssh_host", HOST_FIX, drop=["runner_ssh_key_gitlab_ssh_host"]),
    ssh("ssh_host-url", {"runner_ssh_key_gitlab_ssh_host": "https://gitlab.example.com"},
        "runner_ssh_key_gitlab_ssh_host", HOST_FIX),
    ssh("ssh_host-with-user", {"runner_ssh_key_gitlab_ssh_host": "git@gitlab.example.com"},
        "runner_ssh_key_gitlab_ssh_host", HOST_FIX),
    ssh("projects-string", {"runner_ssh_key_projects": PROJECT}, "runner_ssh_key_projects", r"dict"),
    ssh("projects-entry-without-project", {"runner_ssh_key_projects": [{"can_push": True}]},
        "project", r"runner_ssh_key_projects"),
    ssh("projects-both-project-and-set", {"runner_ssh_key_projects": [{"project": PROJECT, "project_set": "apps"}]},
        "runner_ssh_key_projects", r"give one"),
    ssh("projects-unknown-set", {"runner_ssh_key_projects": [{"project_set": "apps"}]},
        "runner_ssh_key_projects", r"not a project set of runnercreds_project_sets"),
    ssh("projects-can_push-word", {"runner_ssh_key_projects": [{"project": PROJECT, "can_push": "maybe"}]},
        "can_push", BOOL),
    ssh("projects-unknown-suboption", {"runner_ssh_key_projects": [{"project": PROJECT, "push": True}]},
        "push", r"Supported parameters include"),
    ssh("projects-namespace-alone", {"runner_ssh_key_projects": [{"project": "fleet", "can_push": True}]},
        "runner_ssh_key_projects", r"group/app|namespace and project"),
    ssh("projects-empty-project", {"runner_ssh_key_projects": [{"project": ""}]}, "runner_ssh_key_projects",
        r"group/app|id or full path"),
    ssh("projects-duplicate-conflicting-can_push",
        {"runner_ssh_key_projects": [{"project": PROJECT, "can_push": True},
                                     {"project": PROJECT, "can_push": False}]},
        "runner_ssh_key_projects", r"give it once|once"),
    ssh("expires_at-day-first", {"runner_ssh_key_expires_at": "31/01/2030"}, "runner_ssh_key_expires_at", DATE_FIX),
    ssh("expires_at-past", {"runner_ssh_key_expires_at": "2020-01-31"}, "runner_ssh_key_expires_at",
        r"past|future"),
    ssh("shared_public_key-is-private", dict(SHARED, runner_ssh_key_shared_public_key=PRIVATE_KEY),
        "runner_ssh_key_shared_public_key", r"public key", secret=PRIVATE_KEY),
    ssh("shared_public_key-dsa", dict(SHARED, runner_ssh_key_shared_public_key=DSA_KEY),
        "runner_ssh_key_shared_public_key", KEY_FIX),
    ssh("shared_private_key-is-public", dict(SHARED, runner_ssh_key_shared_private_key=FLEET_KEY),
        "runner_ssh_key_shared_private_key", r"PRIVATE KEY|private key"),
    ssh("shared-without-keys", {"runner_ssh_key_mode": "shared"}, "runner_ssh_key_shared_public_key",
        r"shared mode|runner_ssh_key_shared_private_key"),
    ssh("host_keys-garbage", {"runner_ssh_key_host_keys": ["not a host key"]}, "runner_ssh_key_host_keys", KEY_FIX),
    ssh("host_keys-private-key", {"runner_ssh_key_host_keys": [PRIVATE_KEY]}, "runner_ssh_key_host_keys",
        r"public", secret=PRIVATE_KEY),
    ssh("name-path-traversal", {"runner_ssh_key_name": "../escaped"}, "runner_ssh_key_name", r"file name"),
    ssh("name-empty", {"runner_ssh_key_name": ""}, "runner_ssh_key_name", r"file name"),
    ssh("host_alias-wildcard", {"runner_ssh_key_host_alias": "*"}, "runner_ssh_key_host_alias", HOST_FIX),
    ssh("lifetime_days-negative", {"runner_ssh_key_lifetime_days": -1}, "runner_ssh_key_lifetime_days",
        r"0 .*or more|positive|never expire"),
    ssh("rotate_after_days-negative", {"runner_ssh_key_lifetime_days": 90, "runner_ssh_key_rotate_after_days": -5},
        "runner_ssh_key_rotate_after_days", r"0 .*or more|between|turns it off"),
    ssh("rotate_before_expiry_days-beyond-lifetime",
        {"runner_ssh_key_lifetime_days": 30, "runner_ssh_key_rotate_before_expiry_days": 45},
        "runner_ssh_key_rotate_before_expiry_days", r"lifetime_days|less than|between"),
    ssh("rotate-in-shared-mode", dict(SHARED, runner_ssh_key_rotate=True), "runner_ssh_key_rotate", r"per_host"),
    ssh("rotate-word", {"runner_ssh_key_rotate": "now"}, "runner_ssh_key_rotate", BOOL),
    ssh("verify-word", {"runner_ssh_key_verify": "perhaps"}, "runner_ssh_key_verify", BOOL),
    ssh("scan_host_keys-word", {"runner_ssh_key_scan_host_keys": "yes please"}, "runner_ssh_key_scan_host_keys",
        BOOL),
    # --- runner_deploy_token ----------------------------------------------------------------------------
    tok("state-unknown", {"runner_deploy_token_state": "gone"}, "runner_deploy_token_state", CHOICES),
    tok("tokens-string", {"runner_deploy_token_tokens": "server-pull"}, "runner_deploy_token_tokens", r"dict"),
    tok("tokens-entry-without-name", {"runner_deploy_token_tokens": [token_entry(name=None)]}, "name",
        r"runner_deploy_token_tokens"),
    tok("tokens-project-and-group", {"runner_deploy_token_tokens": [token_entry(group="fleet")]},
        "runner_deploy_token_tokens", r"exactly one of project and group"),
    tok("tokens-neither-project-nor-group", {"runner_deploy_token_tokens": [token_entry(project=None)]},
        "runner_deploy_token_tokens", r"exactly one of project and group"),
    tok("tokens-without-scopes", {"runner_deploy_token_tokens": [token_entry(scopes=None)]},
        "runner_deploy_token_tokens", r"scopes"),
    tok("tokens-scope-typo", {"runner_deploy_token_tokens": [token_entry(scopes=["read_regsitry"])]},
        "runner_deploy_token_tokens", r"read_registry"),
    tok("tokens-lifetime_days-0", {"runner_deploy_token_tokens": [token_entry(lifetime_days=0)]},
        "runner_deploy_token_tokens", r"1 or more"),
    tok("tokens-rotate_after_days-beyond-lifetime",
        {"runner_deploy_token_tokens": [token_entry(lifetime_days=90, rotate_after_days=120)]},
        "runner_deploy_token_tokens", r"between 0 and lifetime_days - 1 \(89\)"),
    tok("rotate_before_expiry_days-negative", {"runner_deploy_token_rotate_before_expiry_days": -1},
        "runner_deploy_token_rotate_before_expiry_days", r"0 \(off\) or more"),
    tok("revoke_grace_minutes-negative", {"runner_deploy_token_revoke_grace_minutes": -15},
        "runner_deploy_token_revoke_grace_minutes", r"0 \(revoke now\) or more"),
    tok("revoke_grace_minutes-word", {"runner_deploy_token_revoke_grace_minutes": "soon"},
        "runner_deploy_token_revoke_grace_minutes", r"int"),
    tok("tokens-expires_at-day-first", {"runner_deploy_token_tokens": [token_entry(expires_at="31/01/2030")]},
        "runner_deploy_token_tokens", DATE_FIX),
    tok("tokens-expires_at-and-lifetime_days",
        {"runner_deploy_token_tokens": [token_entry(expires_at="2030-01-31", lifetime_days=90)]},
        "runner_deploy_token_tokens", r"mutually exclusive|not both|either"),
    tok("tokens-project-namespace-alone", {"runner_deploy_token_tokens": [token_entry(project="fleet")]},
        "runner_deploy_token_tokens", r"group/app|namespace and project"),
    tok("tokens-username-space", {"runner_deploy_token_tokens": [token_entry(username="fleet runner")]},
        "runner_deploy_token_tokens", r"letters, digits"),
    tok("tokens-name-empty", {"runner_deploy_token_tokens": [token_entry(name="")]},
        "runner_deploy_token_tokens", r"name"),
    tok("tokens-duplicate-conflicting-scopes",
        {"runner_deploy_token_tokens": [token_entry(scopes=["read_package_registry"]),
                                        token_entry(scopes=["read_package_registry", "write_package_registry"])]},
        "runner_deploy_token_tokens", r"once|conflict|differ"),
    tok("tokens-registry_login-word", {"runner_deploy_token_tokens": [token_entry(registry_login="maybe")]},
        "registry_login", BOOL),
    tok("tokens-two-registry-logins",
        {"runner_deploy_token_tokens": [token_entry(), token_entry(name="second-pull")]},
        "runner_deploy_token_registry", r"at most one entry per host"),
    tok("registry-empty", {"runner_deploy_token_registry": ""}, "runner_deploy_token_registry",
        r"needs runner_deploy_token_registry"),
    tok("registry-with-credentials", {"runner_deploy_token_registry": "deployer:hunter2@registry.example.com"},
        "runner_deploy_token_registry", r"registry\.gitlab\.example\.com|host\[:port\]", secret="hunter2"),
    tok("gitlab_url-no-scheme",
        {"runner_deploy_token_gitlab_url": "gitlab.example.com",
         "runner_deploy_token_tokens": [token_entry(scopes=["read_repository"])]},
        "runner_deploy_token_gitlab_url", r"https://gitlab\.example\.com"),
    # package registry credentials (version 0.2.0)
    tok("tokens-two-pip-package-tokens",
        {"runner_deploy_token_tokens": [token_entry(scopes=["read_package_registry"]),
                                        token_entry(name="second-packages", scopes=["write_package_registry"])]},
        "runner_deploy_token_tokens", r"at most one token per host may write pip.*package_clients without pip"),
    tok("tokens-pip_index-underscore",
        {"runner_deploy_token_tokens": [token_entry(scopes=["read_package_registry"], pip_index="index_url")]},
        "pip_index", CHOICES),
    tok("tokens-package_clients-yarn",
        {"runner_deploy_token_tokens": [token_entry(scopes=["read_package_registry"], package_clients=["pip", "yarn"])]},
        "package_clients", r"one or more of: pip, npm, curl"),
    tok("tokens-group-package-without-project",
        {"runner_deploy_token_tokens": [token_entry(project=None, group="fleet", scopes=["read_package_registry"])]},
        "runner_deploy_token_tokens", r"package_project"),
    tok("tokens-npm_scope-with-space",
        {"runner_deploy_token_tokens": [token_entry(scopes=["read_package_registry"], npm_scope="Fleet Team")]},
        "runner_deploy_token_tokens", r"npm_scope must be an npm scope"),
    tok("tokens-same-npm-scope",
        {"runner_deploy_token_tokens": [token_entry(scopes=["read_package_registry"], package_clients=["npm"]),
                                        token_entry(name="second-npm", scopes=["read_package_registry"],
                                                    package_clients=["npm"])]},
        "runner_deploy_token_tokens", r"npm scope @.* different npm_scope"),
    tok("verify-word", {"runner_deploy_token_verify": "perhaps"}, "runner_deploy_token_verify", BOOL),
    tok("user-empty", {"runner_deploy_token_user": ""}, "runner_deploy_token_user", r"gitlab-runner|user"),
]


# --- the runs -----------------------------------------------------------------------------------------

def base_variables(role, home, gitlab_url):
    if role == SSH_ROLE:
        return {
            "runner_ssh_key_user": USER, "runner_ssh_key_group": GROUP, "runner_ssh_key_home": home,
            "runner_ssh_key_gitlab_ssh_host": "gitlab.example.com", "runner_ssh_key_host_keys": [HOST_KEY],
            "runner_ssh_key_projects": [{"project": PROJECT, "can_push": True}],
        }
    return {
        "runner_deploy_token_user": USER, "runner_deploy_token_registry": "registry.example.com",
        "runner_deploy_token_gitlab_url": gitlab_url, "runner_deploy_token_verify": False,
        "runner_deploy_token_tokens": [token_entry()],
    }


def case_variables(case, home, gitlab_url, project):
    """The role's variables for ``case``; the placeholder PROJECT becomes the case's own project."""
    variables = base_variables(case.role, home, gitlab_url)
    for name in case.drop:
        variables.pop(name)
    variables.update(case.variables)
    return json.loads(json.dumps(variables).replace(json.dumps(PROJECT), json.dumps(project)))


def case_home(root, case):
    """The case's runner home, with what a runner already has there (which must stay as it is).

    ``.ssh`` is a plain file, the tripwire of the module docstring.
    """
    home = os.path.join(root, "homes", case.ident)
    os.makedirs(os.path.join(home, ".docker"), mode=0o700)
    files = {
        ".ssh": "a file where ~/.ssh would be: the first change the role makes there fails\n",
        ".docker/config.json": json.dumps({"auths": {"other.example.com": {"auth": "c29tZW9uZTpzZWNyZXQ="}}}),
        ".gitconfig": "[user]\n\tname = Runner\n",
    }
    for name, text in files.items():
        path = os.path.join(home, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
    return home


def case_block(case, home, gitlab_url, project):
    """One case: include the role; record its failure (with each failed loop item's message) and the counters.

    Tasks that run no module (``set_fact``, the ``url`` lookup on the controller) keep a case cheap.
    """
    counters = "lookup('ansible.builtin.url', %s, split_lines=False) | from_json" % json.dumps(
        gitlab_url + "/-/test/requests")
    return {
        "name": case.ident,
        # The fake getent (FAKE_GETENT) answers with this case's home.
        "environment": {"BAD_INPUT_HOME": home},
        "block": [
            {"name": f"run {case.role}", "ansible.builtin.include_role": {"name": f"runnercreds.gitlab.{case.role}"},
             "vars": case_variables(case, home, gitlab_url, project)},
            {"name": "note that the role succeeded", "ansible.builtin.set_fact": {"bad_outcome": {"failed": False}}},
        ],
        "rescue": [{"name": "note the failure", "ansible.builtin.set_fact": {"bad_outcome": {
            "failed": True,
            "msg": "{{ ansible_failed_result.msg | default('') }}",
            "item_msgs": "{{ ansible_failed_result.results | default([]) | selectattr('failed', 'defined') "
                         "| selectattr('failed') | map(attribute='msg', default='') | list }}",
            "task": "{{ ansible_failed_task.name | default('') }}",
        }}}],
        "always": [{"name": "record the case and the server's counters", "ansible.builtin.set_fact": {
            "bad_results": "{{ bad_results | combine({%s: bad_outcome | combine({'counters': %s})}) }}"
                           % (json.dumps(case.ident), counters)}}],
    }


FAKE_GETENT = textwrap.dedent("""\
    #!/bin/sh
    # getent passwd USER for the tests: the real entry, with the case's home ($BAD_INPUT_HOME) instead.
    if [ "$1" = passwd ] && [ -n "$2" ] && entry=$(/usr/bin/getent passwd "$2"); then
        echo "$entry" | awk -F: -v home="$BAD_INPUT_HOME" 'BEGIN {OFS=":"} {$6=home; print}'
        exit 0
    fi
    exec /usr/bin/getent "$@"
    """)


def run_role_cases(role, root, target):
    """Run every case of ``role`` in one playbook; the results by case, the homes' snapshots and the output."""
    cases = [case for case in CASES if case.role == role]
    bin_dir = os.path.join(root, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    getent = os.path.join(bin_dir, "getent")
    with open(getent, "w", encoding="utf-8") as fh:
        fh.write(FAKE_GETENT)
    os.chmod(getent, 0o755)
    results_file = os.path.join(root, "results.json")
    homes = {case.ident: case_home(root, case) for case in cases}
    # Each case its own project: what one case does wrong cannot change what the next one meets.
    projects = {case.ident: target.make_project("badrole").path_with_namespace for case in cases}
    before = {ident: snapshot(home) for ident, home in homes.items()}
    play = {
        "name": f"bad input for {role}",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"bad_results": {}},
        "tasks": [case_block(case, homes[case.ident], target.url, projects[case.ident]) for case in cases] + [
            {"name": "write the results", "ansible.builtin.copy": {
                "dest": results_file, "content": "{{ bad_results | to_nice_json }}", "mode": "0600"}},
        ],
    }
    playbook = os.path.join(root, "playbook.yml")
    with open(playbook, "w", encoding="utf-8") as fh:
        json.dump([play], fh, indent=1)
    controller_home = os.path.join(root, "controller-home")
    os.makedirs(controller_home, exist_ok=True)
    env = ansible_env(_Path(root), HOME=controller_home, GITLAB_URL=target.url, GITLAB_TOKEN=target.admin_token,
                      ANSIBLE_PIPELINING="1", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    target.clear_requests()
    target.add_fault(method="*", path=r"^/api/v4/", status=403)  # the tripwire of the module docstring
    try:
        out = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook],
                             env=env, capture_output=True, text=True, timeout=600, check=False)
    finally:
        target.clear_faults()
    output = out.stdout + out.stderr
    assert out.returncode == 0 and os.path.exists(results_file), output
    with open(results_file, encoding="utf-8") as fh:
        results = json.load(fh)
    found = {}
    seen = {"total": 0, "reads": 0, "writes": 0}
    for case in cases:  # the counters are the run's so far: each case's share is the difference
        result = results[case.ident]
        counters = result.pop("counters")
        requests = {key: counters[key] - seen[key] for key in seen}
        requests["log"] = counters["log"][seen["total"]:counters["total"]]
        seen = {key: counters[key] for key in seen}
        result.update(requests=requests, changed_files=_changes(before[case.ident], snapshot(homes[case.ident])))
        found[case.ident] = result
    return found, output


class _Path(str):
    """``ansible_env`` takes a pathlib-like ``tmp_path``: ``root / "tmp"``."""

    def __truediv__(self, other):
        return os.path.join(self, other)


def _changes(before, after):
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


@pytest.fixture(scope="session")
def role_results(gitlab_target, tmp_path_factory):
    """``get(role)`` -> (results by case, output); each role's playbook runs once for all xdist workers.

    A worker that finds a role's playbook running on another worker runs the other role's meanwhile,
    so under ``-n 2`` both playbooks run at the same time.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the directory all workers of this session share
    cache = {}

    def get(role):
        if role not in cache:
            if not _run_once(role, shared, gitlab_target, wait=False):
                for other in (SSH_ROLE, TOKEN_ROLE):
                    if other != role:
                        _run_once(other, shared, gitlab_target, wait=False)
                _run_once(role, shared, gitlab_target, wait=True)
            with open(os.path.join(str(shared), f"bad-input-{role}", "done.json"), encoding="utf-8") as fh:
                data = json.load(fh)
            cache[role] = data
        data = cache[role]
        if "error" in data:
            pytest.fail(f"the {role} playbook did not run through (on {data['worker']}):\n{data['error']}")
        return data["results"], data["output"]
    return get


def _run_once(role, shared, target, wait):
    """Run ``role``'s playbook unless some worker did; False if another worker holds it and ``wait`` is false.

    ``done.json`` holds the results, or the error that stopped the run, so no worker runs it twice.
    """
    root = os.path.join(str(shared), f"bad-input-{role}")
    os.makedirs(root, exist_ok=True)
    done = os.path.join(root, "done.json")
    with open(os.path.join(root, "lock"), "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            if not os.path.exists(done):
                data = {"worker": os.environ.get("PYTEST_XDIST_WORKER", "master")}
                started = time.monotonic()
                try:
                    data["results"], data["output"] = run_role_cases(role, os.path.join(root, "run"), target)
                except Exception as exc:  # pylint: disable=broad-except  # every worker fails with it
                    data["error"] = f"{type(exc).__name__}: {exc}"
                data["seconds"] = round(time.monotonic() - started, 1)
                with open(done + ".tmp", "w", encoding="utf-8") as fh:
                    json.dump(data, fh)
                os.replace(done + ".tmp", done)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return True


@pytest.mark.needs_control
@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_bad_role_variable_fails_the_play_before_any_change(role_results, case):
    results, output = role_results(case.role)
    outcome = results[case.ident]
    summary = json.dumps(outcome, indent=1)[:3000]
    assert outcome["failed"], f"the role accepted it:\n{summary}"
    # What the user reads: the task's message, and each failed loop item's.
    msg = "\n".join([outcome["msg"]] + outcome.get("item_msgs", []))
    assert "Traceback" not in msg, summary
    assert case.variable in msg, f"the message does not name {case.variable}:\n{summary}"
    assert re.search(case.fix, msg), f"the message does not state the fix /{case.fix}/:\n{summary}"
    assert outcome["changed_files"] == [], f"the role changed the runner's files first:\n{summary}"
    assert outcome["requests"]["total"] == 0, f"the role went to GitLab first:\n{summary}"
    if case.secret:
        for line in case.secret.splitlines():
            if len(line.strip()) > 8:
                assert line.strip() not in output, "the secret is in the output"


def test_the_role_catalogue_holds_distinct_bad_variables():
    idents = [case.ident for case in CASES]
    assert not [ident for ident, count in collections.Counter(idents).items() if count > 1]
    per_role = collections.Counter(case.role for case in CASES)
    print(f"{len(CASES)} bad role variables:", dict(per_role))
    assert per_role[SSH_ROLE] >= 10 and per_role[TOKEN_ROLE] >= 10
