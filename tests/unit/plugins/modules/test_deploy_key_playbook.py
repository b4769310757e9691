# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_key and deploy_key_info through ansible-playbook and ansible-doc, as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TARGET = os.path.join(REPO, "tests", "integration", "targets", "deploy_key")
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


@pytest.mark.parametrize("module", ["deploy_key", "deploy_key_info"])
def test_ansible_doc_renders_with_examples(tmp_path, module):
    out = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "module", "runnercreds.gitlab.%s" % module],
                         env=ansible_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
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
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    out = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", os.path.join(TARGET, "playbook.yml"),
         "-e", "@%s" % vars_file],
        env=ansible_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout
    # apply, remove: changed; the checks in check mode count as changed too.
    assert "changed=3" in out.stdout, out.stdout
    for project in projects:
        assert gl.projects.get(project.id).keys.list(get_all=True) == []
