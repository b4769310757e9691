#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_key
short_description: One SSH deploy key on many GitLab projects, matched by its fingerprint
version_added: 0.1.0
description:
  - Adds, links, updates and removes one SSH deploy key on a list of GitLab projects, in one module run
    with one authenticated session and a bounded number of projects at a time (O(concurrency)).
  - The key's identity is the SHA256 fingerprint of its key blob, so a different comment or whitespace
    is the same key. O(title) and O(can_push) are attributes updated in place.
  - A key that GitLab already has (on another project of the task, or anywhere the token can see it) is
    linked to the project instead of duplicated. GitLab keeps one key per fingerprint.
  - Reading costs one request per project; a run with nothing to change sends no write request.
  - With an administrator's token and 10 projects or more, the module reads GitLab's list of every deploy key of the
    instance instead (C(GET /deploy_keys), which names the projects holding each key read-only and with push). That is
    one request per 100 keys of the instance, plus C(GET /user), plus one per project that holds no deploy key at all.
    So a no-change run on 200 projects costs a few requests, not 200. It falls back to one request per project when
    the instance holds more than one page of keys per 10 projects of the task, on GitLab before 16.0, or when the
    list cannot be read.
  - The key is validated before any request; a private key passed by mistake is refused and never sent.
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
      - Reads the projects and returns the plan a real run would apply, without sending a write request.
  diff_mode:
    support: full
    details:
      - One before/after pair per project, keyed by fingerprint, with title, can_push and expires_at.
  idempotent:
    support: full
    details:
      - When GitLab refuses a rename (the key is used in several projects and the token's user is not an
        admin), the module says so in RV(notes) and does not try again on later runs.
options:
  projects:
    description:
      - The projects, by numeric id or full path (V(group/subgroup/project)).
      - "An entry may also be a dictionary such as V({project: group/app, can_push: true}) to give that project
        its own O(can_push), so one task registers a runner's key read-only on some projects and with push on
        others."
      - Duplicates are ignored. All are read before anything is written; if one cannot be read (missing,
        no access) the task fails naming each such project and nothing is changed.
    type: list
    elements: raw
    required: true
    aliases: [project]
  key:
    description:
      - The OpenSSH public key line, for example the content of C(~/.ssh/id_ed25519.pub).
      - Accepted types are C(ssh-ed25519), C(ecdsa-sha2-nistp256), C(ecdsa-sha2-nistp384),
        C(ecdsa-sha2-nistp521), C(ssh-rsa) of 2048 bits or more, and the C(sk-) security-key variants.
        DSA keys, short RSA keys, malformed text and private keys are refused before any request.
      - Required with O(state=present). With O(state=absent), either O(key) or O(title) selects the key.
    type: str
  title:
    description:
      - The key's title. Defaults to the key's comment when a new key is added.
      - GitLab renames a key only when the token's user is an admin, or the key is on exactly one project.
        Otherwise the existing title is kept and RV(notes) says so.
      - With O(state=absent) and no O(key), every key with exactly this title is removed from the projects.
    type: str
  can_push:
    description:
      - Whether the key may push (write access) to each of the projects.
    type: bool
    default: false
  expires_at:
    description:
      - When the key expires, as a date (V(2030-01-31)) or an ISO 8601 date-time (UTC unless an offset is
        given). Omit it to leave the expiry of an existing key alone.
      - GitLab cannot change the expiry of an existing key. When it differs, the module warns and changes
        nothing, unless O(recreate=true).
      - A key that has expired no longer authenticates. The task then fails saying so, unless O(recreate=true)
        with a new O(expires_at) or O(lifetime_days) adds it again.
    type: str
  lifetime_days:
    description:
      - A rolling lifetime. A key this run adds expires this many days later; an existing key keeps its expiry, so
        no run ever asks to recreate it. Rotate the key before the date (M(runnercreds.gitlab.deploy_key_rotation),
        or the P(runnercreds.gitlab.runner_ssh_key#role) role's rotation policy).
      - Mutually exclusive with O(expires_at).
    type: int
    version_added: 0.2.0
  recreate:
    description:
      - When the existing key's O(expires_at) differs, remove the key from the projects and add it again
        with the new expiry.
      - GitLab keeps one key per fingerprint, so the key must be removed before it is added again, and the
        projects are without the key for a moment. If the key is also on projects outside the task,
        GitLab keeps it and re-links the old key; the module reports the expiry it really got.
    type: bool
    default: false
  purge_titles:
    description:
      - Title patterns (shell globs such as V(runner-*)) of other deploy keys to remove from the projects
        in the same task, so rotation and clean-up are one step.
      - The declared key is never removed, whatever its title. Removals happen after the declared key
        is in place on that project; if that fails, the project keeps its old keys.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) adds, links or updates the key on every project.
      - V(absent) removes it (selected by O(key), or by O(title) when no key is given) from every
        project. GitLab deletes a project deploy key once no project uses it.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: runnercreds.gitlab.deploy_key_info
  - module: runnercreds.gitlab.protected_tag
  - module: community.general.gitlab_deploy_key
    description: Handles one project per task and matches keys by title.
  - name: GitLab deploy keys API
    description: The endpoints this module uses.
    link: https://docs.gitlab.com/api/deploy_keys/
"""

EXAMPLES = r"""
- name: Let a runner push release tags (git push --tags over SSH) with its own key
  runnercreds.gitlab.deploy_key:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    project: platform/api
    key: "{{ lookup('ansible.builtin.file', '/etc/gitlab-runner/ssh/id_ed25519.pub') }}"
    title: "runner-{{ inventory_hostname }}"
    can_push: true

- name: One fleet key, read-write, on many projects in one run
  runnercreds.gitlab.deploy_key:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - platform/api
      - platform/web
      - 4242
    key: "{{ fleet_public_key }}"
    title: runner-fleet
    can_push: true
    expires_at: "2030-01-31"

- name: A runner's key, with push on one project and read-only on another, in one run
  runnercreds.gitlab.deploy_key:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - project: platform/api
        can_push: true
      - platform/shared-lib
    key: "{{ runner_public_key }}"
    title: "runner:{{ inventory_hostname }}"

- name: Rotate - add the new key, then remove the old runner-* keys from the same projects
  runnercreds.gitlab.deploy_key:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects: "{{ runner_projects }}"
    key: "{{ new_public_key }}"
    title: runner-2025-06
    can_push: true
    purge_titles:
      - runner-*

- name: Remove a key from projects, found by its title
  runnercreds.gitlab.deploy_key:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - platform/api
      - platform/web
    title: runner-old
    state: absent
"""

RETURN = r"""
actions:
  description:
    - The changes made, or that would be made in check mode, one per project and key, in order.
    - RV(actions[].action) is V(create) (a new key), V(enable) (link a key GitLab already has),
      V(update) (title, can_push), V(recreate) (remove and add again for a new expiry) or V(delete).
  returned: always
  type: list
  elements: dict
  sample:
    - action: enable
      project: platform/web
      before: null
      after: {id: 17, title: runner-fleet, fingerprint_sha256: "SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU",
              can_push: true, expires_at: null}
  contains:
    action:
      description: What is done.
      type: str
      returned: always
    project:
      description: The project, as given in O(projects).
      type: raw
      returned: always
    before:
      description: The key on that project before (id, title, fingerprint_sha256, can_push, expires_at), or V(null).
      type: dict
      returned: always
    after:
      description: The key on that project after, or V(null) when removed.
      type: dict
      returned: always
    note:
      description: Why the action is done, or what GitLab does differently than asked.
      type: str
      returned: when there is one
deploy_key:
  description: The declared key after the run. Not returned with O(state=absent).
  returned: when O(state=present)
  type: dict
  contains:
    id:
      description: GitLab's id of the key (V(null) in check mode when the key is new).
      type: int
    title:
      description: The key's title in GitLab.
      type: str
    fingerprint_sha256:
      description: The SHA256 fingerprint of the key, with the C(SHA256:) prefix.
      type: str
    expires_at:
      description: When the key expires, or V(null).
      type: str
    key:
      description: The public key as GitLab stores it (type, base64, first comment word).
      type: str
    projects:
      description: Each project of the task, with the key's write access there.
      type: list
      elements: dict
  sample:
    id: 17
    title: runner-fleet
    fingerprint_sha256: "SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU"
    expires_at: null
    key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB... runner@host
    projects:
      - {project: platform/api, can_push: true}
notes:
  description:
    - What GitLab would not do as asked (a rename it ignores, an expiry it cannot change). Also shown as warnings.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key_api import DeployKeyOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(DeployKeyOperation)


if __name__ == "__main__":
    main()
