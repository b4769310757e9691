# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``runnercreds.gitlab.rotate`` through ansible-runner, the engine AWX / Ansible Automation Platform runs jobs with.

Each test lays out a private data directory the way AWX does for a scheduled job of the job template in
``docs/scheduling.md`` and runs it with ``ansible_runner.run()``:

* ``env/envvars``: what the custom credential type "GitLab API token" injects (``GITLAB_URL``, ``GITLAB_TOKEN``),
  plus the collections path an Execution Environment would have built in;
* ``env/extravars``: the job template's extra variables;
* ``env/settings``: runner settings AWX passes (job timeout, no output on the console);
* ``env/cmdline`` and a file under ``env/``: the credential type's ``extra_vars`` injector variant, which AWX
  writes to a file and passes as ``-e @file``;
* ``inventory/hosts``: the inventory (the runner here is localhost itself, connection local, with its key in a
  temporary home directory);
* ``project/rotate.yml``: the project's playbook, which imports ``runnercreds.gitlab.rotate``.

The run is checked through what AWX reads: the status, the return code and the job events (the expected task
results per host), then against GitLab, and every file under ``artifacts/`` is scanned for the token and the
runner's private key. ansible-runner itself records the job's whole environment in ``artifacts/<ident>/command``
(mode 0600; AWX removes the private data directory after the job), so with the environment-variable injector the
token is there, and only there, inside that file's ``env``; with the ``extra_vars`` injector it is in no artifact
file at all.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import stat
import sys

import ansible_runner
import pytest
import yaml

from ansible_cli import BIN, COLLECTIONS_ROOT
from secret_scan import SecretScanner, report

# A real-looking pinned host key for the runner's known_hosts (the test never connects over SSH).
FAKE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMZ8AG4v19NWjLaLreuCvK+sNHapMdansu9OsPy9TAVs"
PLAYBOOK = """\
---
# The AWX project's playbook: the collection's rotate playbook, from the Execution Environment.
- name: Rotate the runner credentials that are due
  ansible.builtin.import_playbook: runnercreds.gitlab.rotate
"""
REGISTER_TASK = "Register the key on its projects"


def layout(root, target, project, token, inject="env"):
    """A private data directory as AWX lays it out for a scheduled job; returns (path, runner home)."""
    pdd = root / "job"
    home = root / "runner-home"
    home.mkdir()
    for sub in ("env", "inventory", "project"):
        (pdd / sub).mkdir(parents=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name

    envvars = {"GITLAB_URL": target.url, "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_ROOT, "ANSIBLE_NOCOLOR": "1"}
    extravars = {"runnercreds_rotate_report": str(root / "rotate-report.json")}
    if inject == "env":
        envvars["GITLAB_TOKEN"] = token
    else:
        # The credential type's extra_vars injector: AWX writes the variables to a file and adds -e @file.
        credential_vars = pdd / "env" / "credential_extravars.json"
        credential_vars.write_text(json.dumps({"runnercreds_gitlab_token": token}))
        credential_vars.chmod(0o600)
        (pdd / "env" / "cmdline").write_text("-e @%s" % credential_vars)
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (pdd / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 600, "suppress_ansible_output": True}))

    localhost = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "runner_ssh_key_user": user,
        "runner_ssh_key_group": group,
        "runner_ssh_key_home": str(home),
        "runner_ssh_key_gitlab_ssh_host": "127.0.0.1",
        "runner_ssh_key_gitlab_ssh_port": 2222,
        "runner_ssh_key_host_keys": [FAKE_HOST_KEY],
        "runner_ssh_key_projects": [{"project": project.path_with_namespace}],
    }
    inventory = {"all": {"hosts": {"localhost": localhost}, "children": {"runners": {"hosts": {"localhost": {}}}}}}
    (pdd / "inventory" / "hosts").write_text(yaml.safe_dump(inventory))
    (pdd / "project" / "rotate.yml").write_text(PLAYBOOK)
    return pdd, home


def run_job(pdd, monkeypatch, ident):
    # AWX's Execution Environment has ansible-playbook on PATH; here it is the venv's.
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    for name in ("GITLAB_URL", "GITLAB_TOKEN", "ANSIBLE_CONFIG", "ANSIBLE_STDOUT_CALLBACK"):
        monkeypatch.delenv(name, raising=False)
    return ansible_runner.run(private_data_dir=str(pdd), playbook="rotate.yml", ident=ident, quiet=True)


def task_events(runner, task, event=None):
    return [e for e in runner.events
            if e.get("event_data", {}).get("task") == task and (event is None or e["event"] == event)]


def artifact_files(pdd, ident):
    root = pdd / "artifacts" / ident
    return root, sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def project(gitlab_target, clean_target):
    return gitlab_target.make_project("scheduled")


def test_scheduled_job_rotates_and_keeps_the_token_out_of_the_artifacts(tmp_path, gitlab_target, project, monkeypatch):
    pdd, home = layout(tmp_path, gitlab_target, project, gitlab_target.admin_token, inject="env")

    runner = run_job(pdd, monkeypatch, "scheduled-1")

    stdout = runner.stdout.read()
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-3000:]
    # The job events AWX stores: the key registered on the project (changed), the report written, the summary.
    registered = task_events(runner, REGISTER_TASK, "runner_on_ok")
    assert [e["event_data"]["host"] for e in registered] == ["localhost"]
    assert registered[0]["event_data"]["res"]["changed"] is True
    assert task_events(runner, "Write the run report", "runner_on_ok")
    summary = task_events(runner, "Summarise", "runner_on_ok")[0]["event_data"]["res"]["msg"]
    assert "SSH keys kept: ['localhost']" in summary
    assert not [e for e in runner.events if e["event"] in ("runner_on_failed", "runner_on_unreachable")]
    assert runner.stats["failures"] == {} and runner.stats["changed"].get("localhost", 0) >= 1
    assert [e for e in runner.events if e["event"] == "playbook_on_stats"]

    # GitLab has the runner's new key on the project; the report names the host.
    public = (home / ".ssh" / "gitlab_deploy_ed25519.pub").read_text().split()[1]
    keys = [k.key.split()[1] for k in gitlab_target.admin_client().projects.get(project.id).keys.list(all=True)]
    assert public in keys
    report_data = json.loads((tmp_path / "rotate-report.json").read_text())
    assert [k["host"] for k in report_data["ssh_keys"]] == ["localhost"]

    # No secret in the artifacts: events, stdout, status, rc, fact cache ...
    scanner = SecretScanner()
    scanner.add("GitLab API token", gitlab_target.admin_token)
    scanner.add_lines("runner private key", (home / ".ssh" / "gitlab_deploy_ed25519").read_text())
    root, files = artifact_files(pdd, "scheduled-1")
    assert len([f for f in files if f.parent.name == "job_events"]) > 20
    command = root / "command"
    hits = scanner.scan_tree(str(root), exclude=[str(command)])
    # ... except ansible-runner's record of the job's environment, by its design: 0600, and only in "env".
    assert stat.S_IMODE(command.stat().st_mode) == 0o600
    recorded = json.loads(command.read_text())
    assert recorded["env"]["GITLAB_TOKEN"] == gitlab_target.admin_token
    del recorded["env"]["GITLAB_TOKEN"]
    hits += scanner.scan_text("artifacts/scheduled-1/command without env.GITLAB_TOKEN", json.dumps(recorded))
    assert not hits, report(hits)


def test_failing_job_ends_failed_and_leaks_no_token(tmp_path, gitlab_target, project, monkeypatch):
    bad_token = "glpat-" + secrets.token_urlsafe(20)
    pdd, home = layout(tmp_path, gitlab_target, project, bad_token, inject="extra_vars")

    runner = run_job(pdd, monkeypatch, "scheduled-2")

    stdout = runner.stdout.read()
    assert (runner.status, runner.rc) == ("failed", 2), stdout[-3000:]
    failed = task_events(runner, REGISTER_TASK, "runner_on_failed")
    assert [e["event_data"]["host"] for e in failed] == ["localhost"]
    assert "401" in failed[0]["event_data"]["res"]["msg"]
    assert runner.stats["failures"] == {"localhost": 1}
    assert gitlab_target.admin_client().projects.get(project.id).keys.list(all=True) == []

    # Injected as an extra variable (-e @file), the token is in no artifact file at all, command included.
    scanner = SecretScanner()
    scanner.add("bad GitLab token", bad_token)
    scanner.add_lines("runner private key", (home / ".ssh" / "gitlab_deploy_ed25519").read_text())
    root, files = artifact_files(pdd, "scheduled-2")
    assert (root / "command") in files and len(files) > 10
    hits = scanner.scan_tree(str(root))
    assert not hits, report(hits)
