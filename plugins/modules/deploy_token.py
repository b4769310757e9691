#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_token
short_description: Create, rotate and revoke GitLab deploy tokens of projects and groups
version_added: 0.1.0
description:
  - Makes sure a live deploy token named O(name) with the requested O(scopes), O(username) and expiry exists in each
    of O(projects) (or O(groups)), and returns its secret when it creates one.
  - A deploy token is identified by its O(name) within its project or group. A live token (not revoked, not expired)
    with that name and the requested scopes, username and expiry satisfies the task; then nothing changes and no secret
    is returned, because GitLab shows a token's secret only once, when it is created.
  - GitLab cannot edit a deploy token. When the request differs from the live token (other scopes, username or
    expiry), the module creates a successor with the new settings and returns its secret. The predecessor keeps
    working until you revoke it with O(revoke_predecessors=true), so you can install the new secret everywhere
    first. Both ids are returned (RV(deploy_tokens[].id), RV(deploy_tokens[].predecessor_ids)).
  - Rotation follows the same successor-first rule; O(rotate=true), O(rotate_before_expiry_days) or
    O(rotate_after_days) create the successor; revoking the old token is a separate, explicit step.
  - Expiry is decided from the token's C(expires_at) and the controller's clock (UTC), not from GitLab's C(expired)
    flag, which stays false until the day after the expiry date although the token stops working at C(expires_at).
  - GitLab's API has no revoke call for deploy tokens; the module revokes a token by deleting it, which takes effect
    at once.
  - All projects (or groups) of one task are handled in one run over one authenticated session and a bounded
    pool (O(concurrency)); a run that changes nothing costs one list request per project or group.
extends_documentation_fragment:
  - runnercreds.gitlab._auth
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.actiongroup_gitlab
attributes:
  check_mode:
    support: full
    details:
      - Reports the tokens that would be created or revoked; no secret exists, so none is returned.
  diff_mode:
    support: full
    details:
      - Shows the name, id, username, scopes and expiry of each token created or revoked, never a secret.
  idempotent:
    support: partial
    details:
      - Idempotent unless O(rotate=true), which creates a new token on every run by design, or a rotation
        threshold (O(rotate_before_expiry_days), O(rotate_after_days)) is reached.
options:
  projects:
    description:
      - Projects whose deploy tokens to manage, each as C(group/subgroup/project) or numeric id.
      - The token's user needs at least the Maintainer role on each project.
      - Exactly one of O(projects) and O(groups) is required.
    type: list
    elements: str
    aliases: [project]
  groups:
    description:
      - Groups whose group deploy tokens to manage, each as C(group/subgroup) or numeric id. A group deploy token
        works for every project of the group.
      - GitLab requires the Owner role on the group to create or revoke group deploy tokens.
    type: list
    elements: str
    aliases: [group]
  name:
    description:
      - The token's name, its identity within the project or group.
      - The name V(gitlab-deploy-token) is special in GitLab; CI/CD jobs get it as E(CI_DEPLOY_USER) and
        E(CI_DEPLOY_PASSWORD).
    type: str
    required: true
  username:
    description:
      - The HTTP username that goes with the token (letters, digits, C(_), C(-), C(+) and C(.)).
      - If not set, GitLab picks C(gitlab+deploy-token-<id>) and any username satisfies the task.
    type: str
  scopes:
    description:
      - What the token may do. Required with O(state=present).
      - V(read_repository) clones over HTTPS (deploy tokens cannot push to repositories); V(read_registry) and
        V(write_registry) pull and push container images (pushing needs both); V(read_package_registry) and
        V(write_package_registry) pull and publish packages; V(read_virtual_registry) and
        V(write_virtual_registry) exist from GitLab 18 on.
    type: list
    elements: str
    choices:
      - read_repository
      - read_registry
      - write_registry
      - read_package_registry
      - write_package_registry
      - read_virtual_registry
      - write_virtual_registry
  expires_at:
    description:
      - A fixed expiry, as V(YYYY-MM-DD) (midnight UTC, when GitLab expires tokens) or an ISO 8601 date and time
        such as V(2030-01-31T12:00:00Z). It must be in the future.
      - A live token with another expiry (or none) gets a successor.
      - If neither O(expires_at) nor O(lifetime_days) is set, the token never expires.
      - Mutually exclusive with O(lifetime_days).
    type: str
  lifetime_days:
    description:
      - Create tokens that expire this many days after their creation.
      - GitLab does not report when a deploy token was created. This option is how the module knows a token's age
        anyway; a token it created with this lifetime is C(lifetime_days - days left) days old. Tokens that expire
        later than O(lifetime_days) from now do not satisfy the task and get a successor.
      - Needed by O(rotate_before_expiry_days) and O(rotate_after_days), so that a successor always lives longer than
        its predecessor. Changing it changes the computed age of existing tokens.
    type: int
  rotate_before_expiry_days:
    description:
      - Create a successor when the newest matching token expires within this many days.
      - Works on every GitLab because it needs only C(expires_at). Requires O(lifetime_days).
    type: int
  rotate_after_days:
    description:
      - Create a successor when the newest matching token is at least this many days old, its age being
        O(lifetime_days) minus the days it has left (see O(lifetime_days)).
      - The same as O(rotate_before_expiry_days=lifetime_days - rotate_after_days); offered for policies written
        as a maximum age. Requires O(lifetime_days).
    type: int
  rotate:
    description:
      - Create a successor now, even if a matching token exists ("rotate now").
      - Not idempotent by design. Use it from a rotation playbook or with a C(when) condition.
    type: bool
    default: false
  revoke_predecessors:
    description:
      - Revoke (delete) every other token with this O(name) in the project or group, keeping only the newest
        live token that satisfies the task (or the one this run creates).
      - Run it as a separate task once the new secret is installed everywhere, so no job fails during a rotation.
      - Combined with a creation in the same run, the new token is created first and the old ones are revoked
        after it; if revoking fails, the run fails and the new token's secret is not returned.
    type: bool
    default: false
  revoke_grace_minutes:
    description:
      - With O(revoke_predecessors=true), a predecessor created less than this many minutes ago is left alone,
        because another run at the same moment may have just created it and handed it out; a later run revokes it.
      - A token's age is known only from O(lifetime_days) (GitLab records no creation time), so this applies only to
        tokens created with the task's O(lifetime_days).
      - V(0) revokes every predecessor now, for example after a secret leaked.
    type: int
    default: 15
  state:
    description:
      - V(present) makes sure a matching token exists; V(absent) revokes (deletes) every token with this O(name).
    type: str
    choices: [present, absent]
    default: present
notes:
  - "A task that creates a token must run with C(no_log: true): the secret is returned in
    RV(deploy_tokens[].token) (and C(deploy_token.token)) of the run that creates it, and Ansible prints the result of
    a task without C(no_log). Without it the module refuses to create a token, before any write. Check mode and runs
    that create nothing work without it, so C(--check --diff) stays useful. Register the result and hand the secret
    on only through options that are C(no_log) themselves or through C(stdin), never through C(environment) or a
    command line (see the examples). The module never puts a secret in messages, warnings, errors, C(actions) or
    the diff."
  - A token is created with one POST that is not sent again after a server error, a timeout or a dropped
    connection (only HTTP 429, which GitLab answers before doing anything, is retried). After such a failure the
    module lists the tokens again. If no token of that name appeared, the POST is sent again, at most
    O(max_retries) times. If one appeared, the run cannot prove it is its own (another run may have created it at
    the same moment), so it deletes nothing and fails, listing it in RV(possible_orphans).
  - O(revoke_predecessors) leaves a predecessor alone when it was created less than O(revoke_grace_minutes) ago
    (known from O(lifetime_days), since the module gives its tokens exactly that lifetime), because another run at the
    same moment may have just created and handed it out; a later run revokes it. GitLab records no creation time, so
    without
    O(lifetime_days) this cannot be told, and two overlapping runs that both revoke predecessors can revoke each
    other's successor. The P(runnercreds.gitlab.runner_deploy_token#role) role and the scheduled rotate playbook
    never overlap such runs.
  - With several projects or groups each works on its own, successor first. If one fails, the others keep the
    tokens this run created, and a failed run still returns their secrets in RV(deploy_tokens) (with C(no_log),
    the result is hidden but registered).
seealso:
  - module: runnercreds.gitlab.deploy_token_info
  - module: runnercreds.gitlab.deploy_key
  - name: GitLab deploy tokens
    description: What deploy tokens can do and the scopes GitLab offers.
    link: https://docs.gitlab.com/user/project/deploy_tokens/
  - name: GitLab deploy tokens API
    description: The endpoints this module uses.
    link: https://docs.gitlab.com/api/deploy_tokens/
author:
  - runnercreds.gitlab contributors (@runnercreds)
requirements:
  - python-gitlab >= 4.0 on the host that runs the module (usually the controller)
"""

EXAMPLES = r"""
- name: A registry pull token for every application project (secret returned on creation only)
  runnercreds.gitlab.deploy_token:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    projects:
      - fleet/apps/api
      - fleet/apps/web
    name: server-pull
    scopes: [read_registry]
    lifetime_days: 90
  no_log: true
  register: pull_tokens

- name: A group token that clones every project of the group and pulls its packages
  runnercreds.gitlab.deploy_token:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    group: fleet
    name: runner-clone
    username: fleet-runner
    scopes: [read_repository, read_package_registry]
    expires_at: "2030-01-31"
  no_log: true
  register: clone_token

# Scheduled rotation, successor first:
# 1. create a successor when the token is 60 days old (it lives 90 days),
# 2. install the new secret on the hosts,
# 3. then revoke the predecessors.
- name: Rotate the pull token when it is 60 days old
  runnercreds.gitlab.deploy_token:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    project: fleet/apps/api
    name: server-pull
    scopes: [read_registry]
    lifetime_days: 90
    rotate_after_days: 60
  no_log: true
  register: rotated

# The secret goes through stdin: an environment variable or an argument would be
# readable by every local user in /proc and shown by -vvv.
- name: Log the runners in with the new token
  ansible.builtin.command:
    argv: [docker, login, registry.example.com, -u, "{{ rotated.deploy_token.username }}", --password-stdin]
    stdin: "{{ rotated.deploy_token.token }}"
  when: rotated.deploy_token.created
  no_log: true
  changed_when: true

- name: Now revoke the tokens it replaced
  runnercreds.gitlab.deploy_token:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    project: fleet/apps/api
    name: server-pull
    scopes: [read_registry]
    lifetime_days: 90
    revoke_predecessors: true

- name: Remove every token with this name
  runnercreds.gitlab.deploy_token:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    project: fleet/apps/api
    name: server-pull
    state: absent
"""

RETURN = r"""
deploy_token:
  description:
    - The entry of RV(deploy_tokens) when the task names exactly one project or group.
    - Holds the secret in C(deploy_token.token) when the token was created by this run.
  returned: when exactly one project or group is given
  type: dict
  sample:
    project: fleet/apps/api
    id: 42
    name: server-pull
    username: gitlab+deploy-token-42
    scopes: [read_registry]
    expires_at: "2030-01-31T00:00:00.000Z"
    revoked: false
    expired: false
    days_until_expiry: 1450
    token: "gldt-(the secret, shown only by the run that creates it)"
    created: true
    predecessor_ids: [17]
    deleted_ids: []
deploy_tokens:
  description:
    - One entry per project or group, in the order given.
    - In a failed result, only the projects and groups where the run created or revoked a token, so the secrets of
      tokens created before the failure are not lost.
  returned: always
  type: list
  elements: dict
  contains:
    project:
      description: The project, as given. Only for O(projects).
      returned: with O(projects)
      type: str
    group:
      description: The group, as given. Only for O(groups).
      returned: with O(groups)
      type: str
    id:
      description: The id of the token that satisfies the task; V(null) in check mode before creation and with
        O(state=absent).
      type: int
      returned: always
    name:
      description: The token's name; V(null) with O(state=absent).
      type: str
      returned: always
    username:
      description: The HTTP username to use with the token.
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
      returned: with O(state=present)
    expired:
      description: GitLab's C(expired) flag, which lags up to a day behind C(expires_at).
      type: bool
      returned: with O(state=present)
    days_until_expiry:
      description: Whole days left before C(expires_at) by the controller's clock; V(null) if it never expires.
      type: int
      returned: with O(state=present)
    token:
      description:
        - The secret, the password for HTTP basic authentication with RV(deploy_tokens[].username).
        - B(Only) in the run that created the token; GitLab never shows it again. Set C(no_log) on the task.
      type: str
      returned: when this run created the token (never in check mode)
    created:
      description: Whether this run created the token (in check mode, whether it would).
      type: bool
      returned: always
    predecessor_ids:
      description: Ids of the other tokens with this name that still exist (revoke them with
        O(revoke_predecessors=true)).
      type: list
      elements: int
      returned: always
    deleted_ids:
      description: Ids of the tokens this run revoked (deleted), or would revoke in check mode.
      type: list
      elements: int
      returned: always
actions:
  description:
    - The plan that was applied (or would be in check mode), one entry per token created or revoked. Never
      contains a secret.
    - C(project) holds the project or group.
  returned: always
  type: list
  elements: dict
  sample:
    - action: create
      project: fleet/apps/api
      before: null
      after: {id: 43, name: server-pull, username: null, scopes: [read_registry], expires_at: "2030-04-30T10:00:00Z"}
      note: token #42 expires in 6.5 days (rotate_before_expiry_days=7)
possible_orphans:
  description:
    - Only in a failed result. Tokens that appeared after a create whose answer was lost. GitLab may have created them
      for this run, or another run at the same moment; nothing was deleted. Each entry has the token's fields
      (never its secret) and C(project) or C(group).
  returned: on failure, when a create's answer was lost
  type: list
  elements: dict
"""

from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_token_api import DeployTokenOperation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import run_operation


def main():
    run_operation(DeployTokenOperation)


if __name__ == "__main__":
    main()
