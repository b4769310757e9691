# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""protected_tag and protected_tag_info through ansible-playbook, as users run them."""

from __future__ import annotations

from ansible_cli import run_playbook
from sshkeys import public_key


def new_key(comment):
    return public_key("ed25519", comment=comment)


def test_playbook_changes_then_reports_no_change(gitlab_target, clean_target, tmp_path):
    projects = [gitlab_target.make_project("ptpb") for dummy in range(2)]
    gl = gitlab_target.admin_client()
    key = new_key("fleet@ctl")
    for project in projects:
        handle = gl.projects.get(project.id)
        handle.keys.create({"title": "runner-fleet", "key": key, "can_push": True})
        handle.protectedtags.create({"name": "old-*", "create_access_level": 30})
    variables = {
        "gitlab_url": gitlab_target.url,
        "gitlab_token": gitlab_target.admin_token,
        "protected_tag_projects": [p.path_with_namespace for p in projects],
    }
    out = run_playbook(tmp_path, "protected_tag", "playbook.yml", variables)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout
    # check, apply and remove change; the second check and apply do not.
    assert "changed=3" in out.stdout, out.stdout
    for project in projects:
        assert gl.projects.get(project.id).protectedtags.list(get_all=True) == []
