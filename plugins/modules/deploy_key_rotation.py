#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_key_rotation
short_description: Replace an SSH deploy key on GitLab projects and their protected tags, successor first
version_added: 0.2.0
description:
  - The GitLab side of rotating a deploy key, in two steps with the host's own work between them. The
    R(runnercreds.gitlab.runner_ssh_key, ansible_collections.runnercreds.gitlab.runner_ssh_key_role) role
    runs them around switching the host to the successor and verifying it from the host.
  - O(step=add_successor) links the successor (O(successor)) on every project of the task, with the predecessor's
    write access there (or the entry's own C(can_push)), and adds it to every protected tag that allows the
    predecessor. Afterwards both keys work everywhere.
  - O(step=retire_predecessor) is refused while the successor is missing from a project that still has the
    predecessor. Then every protected tag names the successor instead of the predecessor, and only after that is
    the predecessor removed from the projects, so no rule ever points at a deleted key.
  - Protected tags change without an unprotected moment (see M(runnercreds.gitlab.protected_tag)). Both steps
    are idempotent, so a rotation that stopped anywhere resumes when the step is run again.
  - Reading costs one request per project for the keys and one for the protected tags.
  - GitLab writes a protected tag's rule as a whole, so hosts rotating at the same moment (the forks of one play)
    would write each other's successor out of a shared rule. On the controller they take turns per project (a lock
    file under the temporary directory, per user, released when the task ends however it ends); each plans its
    change again from a fresh read once it has the lock, and reads the rule back after writing it.
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab
  - cryptography
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
attributes:
  check_mode:
    support: full
    details:
      - Reads the projects and returns the plan without sending a write request. A successor GitLab has not seen
        yet is shown with id V(0) in protected-tag entries.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  projects:
    description:
      - "The projects the host uses, by numeric id or full path, or as V({project: group/app, can_push: true}) to
        set the successor's write access there. Without C(can_push), the successor gets the predecessor's."
    type: list
    elements: raw
    required: true
    aliases: [project]
  key:
    description:
      - The predecessor, the public key in use now (an OpenSSH public key line).
    type: str
    required: true
  successor:
    description:
      - The successor's public key. Generate it where it is used; its private key never needs to leave that host.
    type: str
    required: true
  title:
    description:
      - The successor's title. Defaults to the predecessor's title, so protected tags and tasks that name the key
        by its title keep naming the host's current key.
    type: str
  expires_at:
    description:
      - When the successor expires, as a date or an ISO 8601 date-time. Mutually exclusive with O(lifetime_days).
    type: str
  lifetime_days:
    description:
      - The successor expires this many days after it is added. This is a rolling lifetime, which the next rotation
        renews before it is reached.
    type: int
  protected_tags:
    description:
      - Whether to carry the protected tags that allow the predecessor over to the successor.
    type: bool
    default: true
  step:
    description:
      - V(add_successor) or V(retire_predecessor); see the description.
    type: str
    required: true
    choices: [add_successor, retire_predecessor]
seealso:
  - module: runnercreds.gitlab.deploy_key
  - module: runnercreds.gitlab.protected_tag
  - name: Rotation guide
    description: How the runner_ssh_key role rotates host keys with this module.
    link: https://github.com/runnercreds/runnercreds.gitlab/tree/main/docs/rotation.md
"""

EXAMPLES = r"""
- name: Add the runner's new key next to the current one (projects and release tags)
  runnercreds.gitlab.deploy_key_rotation:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - project: platform/api
        can_push: true
      - platform/shared-lib
    key: "{{ current_public_key }}"
    successor: "{{ new_public_key }}"
    lifetime_days: 90
    step: add_successor

# ... switch the host to the new key and verify it with git ls-remote ...

- name: Retire the old key once the host works with the new one
  runnercreds.gitlab.deploy_key_rotation:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - platform/api
      - platform/shared-lib
    key: "{{ current_public_key }}"
    successor: "{{ new_public_key }}"
    step: retire_predecessor
"""

RETURN = r"""
actions:
  description: The changes made (or that would be made in check mode), deploy keys and protected tags, in order.
  returned: always
  type: list
  elements: dict
successor:
  description: The successor after the run.
  returned: always
  type: dict
  contains:
    id:
      description: GitLab's id of the successor (V(null) in check mode when it is new).
      type: int
    fingerprint_sha256:
      description: The successor's SHA256 fingerprint.
      type: str
    projects:
      description: The projects of the task that have (or will have) the successor.
      type: list
      elements: str
predecessor:
  description: The predecessor after the run.
  returned: always
  type: dict
  contains:
    fingerprint_sha256:
      description: The predecessor's SHA256 fingerprint.
      type: str
    projects:
      description: The projects that still have the predecessor (none after O(step=retire_predecessor)).
      type: list
      elements: str
    before:
      description: The predecessor on each project before the run (id, title, can_push, expires_at, project).
      type: list
      elements: dict
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key_rotation_api import (
    DeployKeyRotationOperation,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(DeployKeyRotationOperation)


if __name__ == "__main__":
    main()
