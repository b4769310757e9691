# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_token and deploy_token_info through ansible-playbook and ansible-doc, as users run them,
and the proof that a token's secret never reaches Ansible's output."""

from __future__ import annotations

import json

import pytest

from ansible_cli import ansible_doc, run_playbook


def playbook(tmp_path, name, variables, *options, **env):
    return run_playbook(tmp_path, "deploy_token", name, variables, *options, **env)


@pytest.mark.parametrize("module", ["deploy_token", "deploy_token_info"])
def test_ansible_doc_renders_with_examples(tmp_path, module):
    out = ansible_doc(tmp_path, module)
    assert out.returncode == 0, out.stderr
    assert "EXAMPLES:" in out.stdout and "RETURN VALUES:" in out.stdout
    assert "[WARNING]" not in out.stderr, out.stderr
    if module == "deploy_token":
        text = " ".join(out.stdout.split())
        for words in ("Set `no_log: true' on every task that creates tokens", "lifetime_days", "rotate_after_days",
                      "revoke_predecessors", "GitLab does not report when a deploy token was created"):
            assert words in text, words


def test_playbook_changes_then_reports_no_change(gitlab_target, clean_target, tmp_path):
    projects = [gitlab_target.make_project("dtpb") for _index in range(2)]
    out = playbook(tmp_path, "playbook.yml", {
        "gitlab_url": gitlab_target.url,
        "gitlab_token": gitlab_target.admin_token,
        "deploy_token_projects": [p.path_with_namespace for p in projects],
    })
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout
    # check, apply, successor, revoke, remove: changed.
    assert "changed=5" in out.stdout, out.stdout
    gl = gitlab_target.admin_client()
    for project in projects:
        assert gl.projects.get(project.id).deploytokens.list(get_all=True) == []


@pytest.mark.parametrize("callback", ["default", "ansible.posix.json"])
def test_the_secret_is_nowhere_in_the_output_at_vvv(gitlab_target, clean_target, tmp_path, callback):
    project = gitlab_target.make_project("dtleak")
    secret_file = tmp_path / "secret"
    out = playbook(tmp_path, "leak.yml", {
        "gitlab_url": gitlab_target.url,
        "gitlab_token": gitlab_target.admin_token,
        "deploy_token_project": project.path_with_namespace,
        "secret_file": str(secret_file),
    }, "-vvv", "--diff", ANSIBLE_STDOUT_CALLBACK=callback)
    assert out.returncode == 0, out.stdout + out.stderr
    secret = secret_file.read_text()
    assert secret.startswith("gldt-") and len(secret) > 10
    output = out.stdout + out.stderr
    assert secret not in output
    assert secret[5:] not in output, "not even without its prefix"
    # The output is real: it shows the module's invocation, the plan and the diff.
    assert "leak-check" in output and '"invocation"' in output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output
    assert "predecessor of the new token" in output
    assert "censored" in output
    assert gitlab_target.admin_token not in output
    if callback == "ansible.posix.json":
        # The JSON the callback would hand to a log shipper (after -vvv's own lines): the
        # create task's result is censored there too.
        document = json.loads(out.stdout[out.stdout.index("\n{\n") + 1:])
        (play,) = document["plays"]
        create = play["tasks"][0]["hosts"]["localhost"]
        assert "censored" in create and "deploy_token" not in create
