# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook and ansible-doc on this checkout, as users run them.

The collection is found through build/collections (made by tests/support/collection_tree.py,
a symlink to the checkout). Variables go through a JSON file, never the command
line, so tokens never sit in a process's arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_ROOT = os.path.join(REPO, "build", "collections")
TARGETS = os.path.join(REPO, "tests", "integration", "targets")
BIN = os.path.dirname(sys.executable)


def ansible_env(tmp_path, **extra):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    env.update(extra)
    return env


def run_playbook(tmp_path, target, playbook, variables, *options, **env):
    """``ansible-playbook tests/integration/targets/<target>/<playbook>`` on localhost."""
    vars_file = tmp_path / ("%s-%s.vars.json" % (target, os.path.splitext(playbook)[0]))
    vars_file.write_text(json.dumps(variables))
    return subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
         os.path.join(TARGETS, target, playbook), "-e", "@%s" % vars_file, *options],
        env=ansible_env(tmp_path, **env), capture_output=True, text=True, timeout=300, check=False,
    )


def ansible_doc(tmp_path, module):
    """``ansible-doc -t module runnercreds.gitlab.<module>``."""
    return subprocess.run(
        [os.path.join(BIN, "ansible-doc"), "-t", "module", "runnercreds.gitlab.%s" % module],
        env=ansible_env(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )
