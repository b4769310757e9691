#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: protected_tag
short_description: Decide who may create tags such as V(v*) on many GitLab projects
version_added: 0.1.0
description:
  - Protects tag names or wildcard patterns on one or many projects and sets who may create matching
    tags (roles, a deploy key, users or groups).
  - Can block tags named like the project's branches, with no one allowed to create them, so that
    C(git checkout qa) never picks a tag instead of the branch.
  - A protection is identified by its name pattern. Its settings are compared as a set of access
    entries (roles, deploy key, user and group ids), in any order, after GitLab's own defaulting, so a
    second run sends no write request.
  - B(Updates.) GitLab cannot update a protected tag; it can only unprotect and protect. When the settings
    differ, the module first protects a temporary pattern that matches the same tags (C(v**) for C(v*)) with
    the new settings, then unprotects the pattern, protects it again with the new settings and removes the
    temporary pattern, so the tags stay protected throughout. If a step fails, the task fails naming what
    is left and how a re-run finishes it; a temporary pattern is removed only once the pattern it stands
    in for has been re-created after it, so a run never removes the one another run is still using.
  - All projects are read first (one list request per project, plus one for its deploy keys when
    O(allowed_to_create) names a deploy key, plus one for its branches with O(block_branch_names)); if
    any read fails, nothing is changed. Projects are then changed concurrently (O(concurrency)).
  - Several rules can match one tag; GitLab then allows whoever any of them allows. A pattern such as
    V(v*) therefore also governs tags named like a branch V(v2-dev); O(block_branch_names) cannot take
    away what a wider pattern grants.
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the projects and returns the same plan a real run would apply, without a write request.
  diff_mode:
    support: full
    details:
      - One before/after pair per project, keyed by tag pattern.
  idempotent:
    support: full
    details:
      - On GitLab Free, user and group entries are ignored by GitLab (a Premium feature); the module warns
        and would try again on the next run.
options:
  projects:
    description:
      - The projects, by full path (V(group/sub/project)) or numeric id.
      - The token's user needs the Maintainer role on each.
    type: list
    elements: str
    required: true
    aliases: [project]
  name:
    description:
      - One tag name or wildcard pattern to protect, for example V(v*) or V(release-1.0).
      - V(*) matches any characters, V(/) included; there are no other wildcards.
      - Mutually exclusive with O(tags).
    type: str
  create_access_level:
    description:
      - The role that may create tags matching O(name).
      - V(no_one), V(developer) (Developers and Maintainers), V(maintainer), V(admin) (instance admins,
        self-managed only), or GitLab's numbers V(0), V(30), V(40), V(60).
      - When neither this nor a role in O(allowed_to_create) is set, GitLab allows Maintainers, unless
        O(allowed_to_create) names a deploy key, a user or a group; then only those may create the tags.
    type: str
  allowed_to_create:
    description:
      - Who else may create tags matching O(name). Each entry names exactly one of O(allowed_to_create[].access_level),
        O(allowed_to_create[].deploy_key), O(allowed_to_create[].user) or O(allowed_to_create[].group).
      - Everything is resolved to ids before anything changes; an unknown user, group or deploy key fails
        the task with nothing changed.
    type: list
    elements: dict
    suboptions:
      access_level:
        description:
          - A role, as in O(create_access_level).
          - GitLab Free keeps one role per pattern; several roles need Premium.
        type: str
      deploy_key:
        description:
          - A deploy key by its title (exact), its public key line, or its SHA256 fingerprint (V(SHA256:...)).
          - The key must be enabled on each project with write access, and its owner must be a project
            member (GitLab's rules). Add it with M(runnercreds.gitlab.deploy_key) and O(runnercreds.gitlab.deploy_key#module:can_push=true) first.
          - A title names every key with that title and write access on the project, so a host's key stays
            allowed through a rotation (the successor takes the predecessor's title). A key or fingerprint names
            exactly one key.
        type: str
      user:
        description:
          - A username. Needs GitLab Premium or Ultimate; GitLab Free ignores it (the module warns).
        type: str
      group:
        description:
          - A group's full path. The project must be shared with the group. Needs GitLab Premium or Ultimate.
        type: str
  tags:
    description:
      - Several patterns in one task, each with its own settings. Mutually exclusive with O(name),
        O(create_access_level) and O(allowed_to_create).
      - With O(purge=true), the list is the complete set of protections of each project.
    type: list
    elements: dict
    suboptions:
      name:
        description: A tag name or wildcard pattern, as O(name).
        type: str
        required: true
      create_access_level:
        description: As O(create_access_level).
        type: str
      allowed_to_create:
        description: As O(allowed_to_create), with the same suboptions.
        type: list
        elements: dict
        suboptions:
          access_level:
            description:
              - A role, as in O(create_access_level).
              - GitLab Free keeps one role per pattern; several roles need Premium.
            type: str
          deploy_key:
            description:
              - A deploy key by its title (exact), its public key line, or its SHA256 fingerprint (V(SHA256:...)).
              - The key must be enabled on each project with write access, and its owner must be a project
                member (GitLab's rules). Add it with M(runnercreds.gitlab.deploy_key) and O(runnercreds.gitlab.deploy_key#module:can_push=true) first.
              - A title names every key with that title and write access on the project, so a host's key stays
                allowed through a rotation (the successor takes the predecessor's title). A key or fingerprint
                names exactly one key.
            type: str
          user:
            description:
              - A username. Needs GitLab Premium or Ultimate; GitLab Free ignores it (the module warns).
            type: str
          group:
            description:
              - A group's full path. The project must be shared with the group. Needs GitLab Premium or Ultimate.
            type: str
  block_branch_names:
    description:
      - Also protect, with no one allowed to create them, tags named exactly like each project's existing
        branches (one more list request per project), or like O(branch_names) when given.
      - A name the task declares in O(name) or O(tags) keeps the declared settings.
      - With O(state=absent), these protections are removed instead.
    type: bool
    default: false
  branch_names:
    description:
      - The branch names to block as tag names instead of each project's existing branches.
      - Setting it turns on O(block_branch_names).
    type: list
    elements: str
  purge:
    description:
      - Unprotect every protected tag of the projects that the task does not declare (in O(name), O(tags)
        or through O(block_branch_names)).
      - Removals appear in the plan (C(actions)) and in check mode like every other change.
      - Only with O(state=present).
    type: bool
    default: false
    aliases: [exclusive]
  state:
    description:
      - V(present) protects the patterns with these settings; V(absent) unprotects them (settings are ignored).
    type: str
    choices: [present, absent]
    default: present
notes:
  - GitLab's API has no update for protected tags. Terraform's C(gitlab_tag_protection) and
    community.general leave a tag unprotected when the second request fails; this module protects it
    again with the old settings.
  - Tag creation rules apply to the REST API, the web UI and C(git push) alike.
seealso:
  - module: runnercreds.gitlab.protected_tag_info
  - module: runnercreds.gitlab.deploy_key
  - name: GitLab protected tags
    description: How GitLab matches and applies protected tags.
    link: https://docs.gitlab.com/user/project/protected_tags/
  - name: Protected tags API
    description: The endpoints this module uses.
    link: https://docs.gitlab.com/api/protected_tags/
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab
  - cryptography (to read a deploy key given as a public key line)
"""

EXAMPLES = r"""
- name: Only the runner fleet's deploy key may create release tags
  runnercreds.gitlab.protected_tag:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - platform/api
      - platform/web
    name: "v*"
    allowed_to_create:
      - deploy_key: runner-fleet

- name: Release tags for Maintainers and the deploy key; nobody may create tags named like a branch
  runnercreds.gitlab.protected_tag:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects: [platform/api]
    name: "v*"
    create_access_level: maintainer
    allowed_to_create:
      - deploy_key: "{{ lookup('ansible.builtin.file', 'files/runner-fleet.pub') }}"
    block_branch_names: true

- name: The complete set of protections; any other protection is removed
  runnercreds.gitlab.protected_tag:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects: [platform/api, platform/web]
    tags:
      - name: "v*"
        create_access_level: maintainer
      - name: "stable"
        create_access_level: no_one
      - name: "*-deploy"
        create_access_level: 30
    purge: true

- name: Block tags named main, qa and stable (branch names), whatever branches exist
  runnercreds.gitlab.protected_tag:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    project: platform/api
    branch_names: [main, qa, stable]

- name: Unprotect a pattern
  runnercreds.gitlab.protected_tag:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    project: platform/api
    name: "release-*"
    state: absent
"""

RETURN = r"""
actions:
  description:
    - The changes made, or that would be made in check mode, in the order they are applied.
    - C(action) is V(protect), V(update) (unprotect and protect again) or V(unprotect).
    - C(before) and C(after) are the protection (C(name), C(create_access_levels)); V(null) when absent.
      Roles show as C(access_level) names; deploy keys, users and groups as C(deploy_key_id),
      C(user_id), C(group_id) with their title, username or path.
    - After a protect, C(after) is what GitLab stored, if it differs from what was asked (GitLab Free
      ignores user and group entries).
  returned: always
  type: list
  elements: dict
  sample:
    - action: protect
      project: platform/api
      before: null
      after:
        name: v*
        create_access_levels:
          - deploy_key_id: 7
            deploy_key: runner-fleet
    - action: update
      project: platform/web
      before:
        name: v*
        create_access_levels:
          - access_level: maintainer
      after:
        name: v*
        create_access_levels:
          - deploy_key_id: 7
            deploy_key: runner-fleet
      note: GitLab cannot update a protected tag; ...
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._protected_tag_api import ProtectedTagOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(ProtectedTagOperation)


if __name__ == "__main__":
    main()
