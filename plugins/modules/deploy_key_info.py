#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_key_info
short_description: List the SSH deploy keys of GitLab projects, with fingerprints, ages and where each is enabled
version_added: 0.1.0
description:
  - Lists the deploy keys of the given projects, one entry per key (matched by its SHA256 fingerprint)
    with the projects it is enabled on and its write access there.
  - Without O(projects), lists every deploy key of the instance (C(GET /deploy_keys)); only an admin may.
  - Filters by O(fingerprint), O(key) or a O(title) pattern, for audits and rotation.
  - One request per project, in one module run with one authenticated session.
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab
  - cryptography
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
  - runnercreds.gitlab._attributes.info_module
options:
  projects:
    description:
      - The projects, by numeric id or full path. If one cannot be read, the task fails naming each
        such project.
      - Omit to list every deploy key of the instance with the projects it is enabled on (admin only).
    type: list
    elements: raw
    aliases: [project]
  fingerprint:
    description:
      - Only the key with this SHA256 fingerprint (V(SHA256:abc...) or GitLab's bare V(abc...)).
    type: str
  key:
    description:
      - Only this public key (compared by fingerprint, so the comment does not matter).
    type: str
  title:
    description:
      - Only keys whose title matches this shell glob (V(runner-*)) or exact title.
    type: str
seealso:
  - module: runnercreds.gitlab.deploy_key
"""

EXAMPLES = r"""
- name: Which deploy keys do the runner projects have, and how old are they?
  runnercreds.gitlab.deploy_key_info:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - platform/api
      - platform/web
  register: keys

- name: Warn about runner keys older than 90 days (rotation)
  ansible.builtin.debug:
    msg: "{{ item.title }} ({{ item.fingerprint_sha256 }}) is {{ item.age_days }} days old"
  loop: "{{ keys.deploy_keys | selectattr('age_days', 'gt', 90) }}"

- name: Where is the fleet key enabled, and with write access?
  runnercreds.gitlab.deploy_key_info:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects: "{{ runner_projects }}"
    key: "{{ lookup('ansible.builtin.file', 'files/runner-fleet.pub') }}"
  register: fleet_key

- name: Every runner-* deploy key of the instance (admin token)
  runnercreds.gitlab.deploy_key_info:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_admin_token }}"
    title: runner-*
"""

RETURN = r"""
deploy_keys:
  description: The matching keys, one per fingerprint, in the order first seen; V([]) when none.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: GitLab's id of the key.
      type: int
    title:
      description: The key's title.
      type: str
    key:
      description: The public key as GitLab stores it.
      type: str
    fingerprint_sha256:
      description: The SHA256 fingerprint, with the C(SHA256:) prefix.
      type: str
    created_at:
      description: When the key was added to GitLab.
      type: str
    expires_at:
      description: When the key expires, or V(null).
      type: str
    expired:
      description: Whether RV(deploy_keys[].expires_at) is in the past.
      type: bool
    age_days:
      description: Whole days since RV(deploy_keys[].created_at).
      type: int
    days_until_expiry:
      description:
        - Whole days left before RV(deploy_keys[].expires_at) by the controller's clock (negative once expired),
          or V(null) when the key never expires. Rotation policies compare it with a number of days.
      type: int
      version_added: 0.2.0
    projects:
      description: The projects (among those listed, or all for an admin) the key is enabled on.
      type: list
      elements: dict
      contains:
        project:
          description: The project as given in O(projects), or its full path when listing the instance.
          type: raw
        can_push:
          description: Whether the key may push to that project.
          type: bool
  sample:
    - id: 17
      title: runner-fleet
      key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB... runner@host
      fingerprint_sha256: "SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU"
      created_at: "2025-01-10T08:00:00.000Z"
      expires_at: null
      expired: false
      age_days: 142
      projects:
        - {project: platform/api, can_push: true}
        - {project: platform/web, can_push: false}
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key_api import DeployKeyInfoOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(DeployKeyInfoOperation)


if __name__ == "__main__":
    main()
