# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_key and deploy_key_info through ansible-playbook and ansible-doc, as users run them."""

from __future__ import annotations

import pytest

from ansible_cli import ansible_doc, run_playbook
from sshkeys import public_key


def new_key(comment):
    return public_key("ed25519", comment=comment)


@pytest.mark.parametrize("module", ["deploy_key", "deploy_key_info"])
def test_ansible_doc_renders_with_examples(tmp_path, module):
    out = ansible_doc(tmp_path, module)
    assert out.returncode == 0, out.stderr
    assert "EXAMPLES:" in out.stdout and "RETURN VALUES:" in out.stdout
    assert "[WARNING]" not in out.stderr, out.stderr
    if module == "deploy_key":
        assert "seed 000" in out.stdout and "seed 003" in out.stdout
        assert "purge_titles" in out.stdout and "can_push: true" in out.stdout


def test_playbook_changes_then_reports_no_change(gitlab_target, clean_target, tmp_path):
    projects = [gitlab_target.make_project("dkpb") for dummy in range(2)]
    old = new_key("old@host")
    gl = gitlab_target.admin_client()
    for project in projects:
        gl.projects.get(project.id).keys.create({"title": "runner-old", "key": old})
    variables = {
        "gitlab_url": gitlab_target.url,
        "gitlab_token": gitlab_target.admin_token,
        "deploy_key_projects": [p.path_with_namespace for p in projects],
        "deploy_key_public": new_key("fleet@ctl"),
    }
    out = run_playbook(tmp_path, "deploy_key", "playbook.yml", variables)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout
    # apply, remove: changed; the checks in check mode count as changed too.
    assert "changed=3" in out.stdout, out.stdout
    for project in projects:
        assert gl.projects.get(project.id).keys.list(get_all=True) == []
