# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters that read the fleet from inventory for the collection's playbooks (rules: module_utils/_fleet.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnercreds.gitlab.plugins.module_utils._fleet import (
    FleetError,
    exclusive_scope,
    expand_projects,
    expectations,
    host_kinds,
    prune_plan,
    tag_policies,
)

# The variables _fleet reads; only these are copied out of hostvars (templating the rest would be wasted work).
FLEET_VARIABLES = ("runnercreds_credentials", "runner_ssh_key_projects", "runner_ssh_key_git_checkouts",
                   "runner_ssh_key_state", "runner_ssh_key_title", "runner_ssh_key_mode",
                   "runner_deploy_token_tokens", "runner_deploy_token_state")


def _host_vars(hostvars, name):
    source = hostvars[name]
    return {variable: source[variable] for variable in FLEET_VARIABLES if variable in source}


def _resolved(project_sets):
    """``project_set_info``'s registered result (or its ``projects``), or nothing when no set was resolved."""
    if not project_sets or project_sets.get("skipped"):
        return {}
    return dict(project_sets.get("projects", project_sets))


def fleet_expectations(hostvars, hosts, project_sets=None):
    try:
        return expectations({name: _host_vars(hostvars, name) for name in hosts}, _resolved(project_sets))
    except FleetError as exc:
        raise AnsibleFilterError(str(exc)) from None


def fleet_credentials(host_vars, name):
    try:
        return host_kinds(name, host_vars)
    except FleetError as exc:
        raise AnsibleFilterError(str(exc)) from None


def fleet_projects(entries, name, project_sets=None):
    try:
        return expand_projects(name, entries, _resolved(project_sets))
    except FleetError as exc:
        raise AnsibleFilterError(str(exc)) from None


def fleet_tag_policies(entries, expected, inventory_groups, project_sets=None):
    try:
        return tag_policies(entries, expected, inventory_groups, _resolved(project_sets))
    except FleetError as exc:
        raise AnsibleFilterError(str(exc)) from None


def fleet_exclusive_scope(project_sets_result, project_sets):
    return exclusive_scope(project_sets or {}, project_sets_result if project_sets_result
                           and not project_sets_result.get("skipped") else {})


def fleet_prune(expected, projects, deploy_keys, deploy_tokens, groups=None):
    return prune_plan(expected, projects, deploy_keys, deploy_tokens, groups or ())


class FilterModule:
    def filters(self):
        return {
            "fleet_expectations": fleet_expectations,
            "fleet_credentials": fleet_credentials,
            "fleet_projects": fleet_projects,
            "fleet_prune": fleet_prune,
            "fleet_tag_policies": fleet_tag_policies,
            "fleet_exclusive_scope": fleet_exclusive_scope,
        }
