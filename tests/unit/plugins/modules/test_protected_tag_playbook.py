# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""protected_tag and protected_tag_info through ansible-playbook, as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TARGET = os.path.join(REPO, "tests", "integration", "targets", "protected_tag")
COLLECTIONS_ROOT = os.path.join(REPO, "build", "collections")  # made by tests/unit/conftest.py
BIN = os.path.dirname(sys.executable)


def new_key(comment):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return "%s %s" % (text, comment)


def ansible_env(tmp_path):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    return env


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
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    out = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", os.path.join(TARGET, "playbook.yml"),
         "-e", "@%s" % vars_file],
        env=ansible_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout
    # check, apply and remove change; the second check and apply do not.
    assert "changed=3" in out.stdout, out.stdout
    for project in projects:
        assert gl.projects.get(project.id).protectedtags.list(get_all=True) == []
