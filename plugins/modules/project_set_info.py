#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: project_set_info
short_description: Resolve named sets of GitLab projects - every project of a group, a list, or both, minus exclusions
version_added: 0.2.0
description:
  - Turns the fleet's project sets, named once in inventory (C(runnercreds_project_sets)), into lists of project
    paths the other modules take, so a playbook for "every project of group C(platform)" never lists the projects.
  - A set selects every project below each of its C(groups) (subgroups included unless
    C(subgroups=false)), plus its C(projects), minus its C(exclude) patterns.
  - Each group is listed once per run however many sets name it, one request per 100 projects, over one session.
    The playbooks C(runnercreds.gitlab.site), C(runnercreds.gitlab.rotate) and C(runnercreds.gitlab.audit) run this
    module once per run on the controller, not once per host.
  - Projects that are only shared with a group are not its projects here (C(with_shared=false)), and archived
    projects are left out unless the set says C(include_archived).
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
  - runnercreds.gitlab._attributes.info_module
options:
  sets:
    description:
      - The project sets, by name. Each value is a dictionary with these keys (all optional, but a set must select
        something).
      - "C(groups) - groups whose projects belong to the set, each a full path (V(platform/backend)), an id, or
        C({group: <path>, subgroups: false}) for the group's own projects only."
      - C(projects) - more projects, by full path or id, whatever group they are in.
      - C(exclude) - full paths or shell globs (V(platform/sandbox-*)) of projects to leave out, compared without
        regard to case; C(*) also matches C(/), so V(platform/legacy/*) leaves out a whole subgroup.
      - C(exclusive) - V(true) when the set's deploy keys and deploy tokens must be exactly the inventory's (read
        by C(runnercreds.gitlab.site), which removes the rest; validated here and listed in RV(exclusive)).
      - C(include_archived) - V(true) to keep the groups' archived projects.
    type: dict
    required: true
seealso:
  - name: GitLab groups API, list a group's projects
    description: The endpoint this module reads.
    link: https://docs.gitlab.com/api/groups/#list-projects
  - module: runnercreds.gitlab.deploy_key
  - module: runnercreds.gitlab.deploy_token
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab >= 4.0 on the host that runs the module (usually the controller)
"""

EXAMPLES = r"""
- name: Resolve the fleet's project sets once
  runnercreds.gitlab.project_set_info:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    sets:
      platform:
        groups: [platform]
        projects: [ops/release-scripts]
        exclude: [platform/sandbox-*]
      tools:
        groups:
          - group: tools
            subgroups: false
  register: project_sets
  run_once: true
  delegate_to: localhost

- name: One deploy key on every project of the platform set
  runnercreds.gitlab.deploy_key:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    projects: "{{ project_sets.projects.platform }}"
    key: "{{ lookup('ansible.builtin.file', 'files/runner-fleet.pub') }}"
    title: runner-fleet
"""

RETURN = r"""
projects:
  description: Each set's projects, sorted by full path (numeric ids given in O(sets) last, as given).
  returned: always
  type: dict
  sample:
    platform: [ops/release-scripts, platform/api, platform/backend/worker, platform/web]
    tools: [tools/lint]
all_projects:
  description: The union of every set's projects, each once, sorted the same way.
  returned: always
  type: list
  elements: raw
  sample: [ops/release-scripts, platform/api, platform/backend/worker, platform/web, tools/lint]
exclusive:
  description: The names of the sets with C(exclusive=true), sorted.
  returned: always
  type: list
  elements: str
  sample: [platform]
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._project_sets_api import ProjectSetInfoOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(ProjectSetInfoOperation)


if __name__ == "__main__":
    main()
