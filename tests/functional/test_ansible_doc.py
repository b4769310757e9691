# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module's documentation through ansible-doc, as users read it.

(The modules at work through ansible-playbook are the ansible-test integration
targets in tests/integration/targets: scripts/integration.sh, ``make integration``.)
"""

from __future__ import annotations

import os

import pytest

from ansible_cli import ansible_doc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))


def test_every_module_is_checked():
    assert {"deploy_key", "deploy_key_info", "deploy_token", "deploy_token_info", "project_set_info",
            "protected_tag", "protected_tag_info"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_with_examples(tmp_path, module):
    out = ansible_doc(tmp_path, module)
    assert out.returncode == 0, out.stderr
    assert "EXAMPLES:" in out.stdout and "RETURN VALUES:" in out.stdout
    assert "[WARNING]" not in out.stderr, out.stderr


def test_deploy_key_doc_tells_the_runner_fleets_story_in_users_words(tmp_path):
    out = ansible_doc(tmp_path, "deploy_key")
    assert out.returncode == 0, out.stderr
    assert "push release tags (git push --tags over SSH)" in out.stdout and "One fleet key" in out.stdout
    assert "seed" not in out.stdout.lower()  # the documents the project grew from mean nothing to a user
    assert "purge_titles" in out.stdout and "can_push: true" in out.stdout


def test_deploy_token_doc_says_how_to_keep_the_secret(tmp_path):
    out = ansible_doc(tmp_path, "deploy_token")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for words in ("A task that creates a token must run with `no_log: true'", "revoke_grace_minutes", "lifetime_days", "rotate_after_days",
                  "revoke_predecessors", "GitLab does not report when a deploy token was created"):
        assert words in text, words
