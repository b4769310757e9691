#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: protected_tag_info
short_description: List the protected tags of GitLab projects, with readable access levels and matching tags
version_added: 0.1.0
description:
  - Lists the protected tag patterns of one or many projects, who may create matching tags (roles by
    name, deploy keys, users and groups), and which of the project's existing tags each pattern matches,
    using GitLab's own wildcard rules.
  - One list request per project for the protections and one for the tags (unless O(match_tags=false));
    projects are read concurrently (O(concurrency)).
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
  - runnercreds.gitlab._attributes.info_module
options:
  projects:
    description:
      - The projects, by full path or numeric id. The token's user needs the Maintainer role on each.
    type: list
    elements: str
    required: true
    aliases: [project]
  name:
    description:
      - Only the protection with exactly this name pattern (V(v*) lists the rule V(v*), not every rule
        matching V(v...)).
    type: str
  match_tags:
    description:
      - Whether to list the project's tags and report which ones each pattern matches.
    type: bool
    default: true
  match_branches:
    description:
      - Whether to list the project's branches and report which ones each pattern matches (one more request per
        project with protected tags). A tag named like a branch makes C(git checkout <name>) ambiguous; see
        O(runnercreds.gitlab.protected_tag#module:block_branch_names).
    type: bool
    default: false
    version_added: 0.2.0
seealso:
  - module: runnercreds.gitlab.protected_tag
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab
"""

EXAMPLES = r"""
- name: Who may create which tags on the fleet's projects
  runnercreds.gitlab.protected_tag_info:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    projects:
      - platform/api
      - platform/web
  register: protections

- name: Show the patterns that let a deploy key create tags
  ansible.builtin.debug:
    msg: "{{ protections.protected_tags | selectattr('deploy_key_ids') | map(attribute='name') | list }}"
"""

RETURN = r"""
protected_tags:
  description: One item per project and protected pattern, in the order of O(projects), then GitLab's.
  returned: always
  type: list
  elements: dict
  contains:
    project:
      description: The project as given in O(projects).
      type: str
      sample: platform/api
    name:
      description: The protected name or wildcard pattern.
      type: str
      sample: v*
    create_access_levels:
      description: Who may create matching tags, as GitLab returns it, with the role's name added.
      type: list
      elements: dict
      contains:
        access_level:
          description: GitLab's number for the role (also set, and meaningless, on deploy key, user and group rows).
          type: int
          sample: 40
        access_level_name:
          description: V(no_one), V(developer), V(maintainer) or V(admin) for role rows; V(deploy_key), V(user) or V(group) otherwise.
          type: str
          sample: maintainer
        access_level_description:
          description: GitLab's description (C(Maintainers), the deploy key's title, the user's or group's name).
          type: str
          sample: Maintainers
        deploy_key_id:
          description: The deploy key allowed, or V(null).
          type: int
        user_id:
          description: The user allowed, or V(null) (GitLab Premium).
          type: int
        group_id:
          description: The group allowed, or V(null) (GitLab Premium).
          type: int
    allowed_to_create:
      description: The same entries in the form M(runnercreds.gitlab.protected_tag) takes and reports them.
      type: list
      elements: dict
      sample:
        - access_level: maintainer
        - deploy_key_id: 7
          deploy_key: runner-fleet
    deploy_key_ids:
      description: The ids of the deploy keys allowed to create matching tags.
      type: list
      elements: int
      sample: [7]
    matching_tags:
      description:
        - The project's existing tags this pattern matches, by GitLab's wildcard rules.
        - Only with O(match_tags=true).
      type: list
      elements: str
      returned: when O(match_tags=true)
      sample: [v1.0.0, v1.1.0]
    matching_branches:
      description:
        - The project's branches this pattern matches, by GitLab's wildcard rules.
        - Only with O(match_branches=true).
      type: list
      elements: str
      returned: when O(match_branches=true)
      sample: [v2-maintenance]
      version_added: 0.2.0
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._protected_tag_api import ProtectedTagInfoOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(ProtectedTagInfoOperation)


if __name__ == "__main__":
    main()
