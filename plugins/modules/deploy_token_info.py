#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_token_info
short_description: List the deploy tokens of GitLab projects, groups or the whole instance
version_added: 0.1.0
description:
  - Lists the deploy tokens of O(projects) or O(groups), or of the whole instance when neither is given (this needs
    an administrator's token).
  - For each token it returns its id, name, username, scopes, expiry, GitLab's C(revoked) and C(expired) flags, and
    what the module judges from C(expires_at) and the controller's clock (UTC) - RV(deploy_tokens[].active) and
    RV(deploy_tokens[].days_until_expiry) - because GitLab's C(expired) flag lags up to a day behind C(expires_at).
  - Never returns a secret; GitLab shows a token's secret only once, when it is created.
  - GitLab reports no creation time for deploy tokens, so no age is returned. Tokens created by
    M(runnercreds.gitlab.deploy_token) with O(runnercreds.gitlab.deploy_token#module:lifetime_days) are
    C(lifetime_days - days_until_expiry) days old.
  - All projects (or groups) are read in one run over one authenticated session and a bounded pool
    (O(concurrency)), one list request each (per 100 tokens).
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
  - runnercreds.gitlab._attributes.info_module
options:
  projects:
    description:
      - Projects to list, each as C(group/subgroup/project) or numeric id. Needs the Maintainer role on each.
      - Mutually exclusive with O(groups). If neither is given, every deploy token of the instance is listed
        (administrators only).
    type: list
    elements: str
    aliases: [project]
  groups:
    description:
      - Groups whose group deploy tokens to list, each as C(group/subgroup) or numeric id. Needs the Maintainer
        role on each.
    type: list
    elements: str
    aliases: [group]
  name:
    description: Only tokens with this name.
    type: str
  active:
    description:
      - V(true) lists only live tokens (not revoked and C(expires_at) in the future), V(false) only dead ones.
        Unset lists all.
      - Judged by the module from C(expires_at), not by GitLab's C(expired) flag.
    type: bool
seealso:
  - module: runnercreds.gitlab.deploy_token
  - name: GitLab deploy tokens API
    description: The list endpoints this module uses.
    link: https://docs.gitlab.com/api/deploy_tokens/
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab >= 4.0 on the host that runs the module (usually the controller)
"""

EXAMPLES = r"""
- name: Deploy tokens of two projects
  runnercreds.gitlab.deploy_token_info:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    projects:
      - fleet/apps/api
      - fleet/apps/web
  register: token_audit

- name: Live tokens of a group that expire within 14 days
  runnercreds.gitlab.deploy_token_info:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    group: fleet
    active: true
  register: group_tokens

- name: Show the ones to rotate
  ansible.builtin.debug:
    msg: "{{ group_tokens.deploy_tokens | selectattr('days_until_expiry', 'ne', none)
             | selectattr('days_until_expiry', 'lt', 14) | map(attribute='name') | list }}"

- name: Every deploy token of the instance (administrators only)
  runnercreds.gitlab.deploy_token_info:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_admin_token }}"
  register: all_tokens
"""

RETURN = r"""
deploy_tokens:
  description: The tokens found, by project or group in the order given, then by id; V([]) when none.
  returned: always
  type: list
  elements: dict
  contains:
    project:
      description: The project, as given. V(null) for an instance-wide listing, which does not say where a token
        lives.
      returned: unless O(groups) is given
      type: str
    group:
      description: The group, as given.
      returned: with O(groups)
      type: str
    id:
      description: The token's id.
      type: int
      returned: always
    name:
      description: The token's name.
      type: str
      returned: always
    username:
      description: The HTTP username of the token.
      type: str
      returned: always
    scopes:
      description: The token's scopes, sorted.
      type: list
      elements: str
      returned: always
    expires_at:
      description: When the token stops working, as GitLab reports it; V(null) if it never expires.
      type: str
      returned: always
    revoked:
      description: GitLab's C(revoked) flag.
      type: bool
      returned: always
    expired:
      description: GitLab's C(expired) flag (C(expires_at) before today's date), which lags up to a day.
      type: bool
      returned: always
    active:
      description: Whether the token works now - not revoked and C(expires_at) in the future by the controller's
        clock.
      type: bool
      returned: always
    days_until_expiry:
      description: Whole days left before C(expires_at) (floored; negative once expired); V(null) if it never
        expires.
      type: int
      returned: always
  sample:
    - project: fleet/apps/api
      id: 42
      name: server-pull
      username: gitlab+deploy-token-42
      scopes: [read_registry]
      expires_at: "2030-01-31T00:00:00.000Z"
      revoked: false
      expired: false
      active: true
      days_until_expiry: 1450
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_token_api import DeployTokenInfoOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(DeployTokenInfoOperation)


if __name__ == "__main__":
    main()
