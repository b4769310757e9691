#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_audit
short_description: Audit a runner fleet's deploy keys, deploy tokens and protected tags against its inventory
version_added: 0.2.0
description:
  - Compares what the inventory says each runner host holds (its deploy key title and projects, its deploy tokens,
    their rotation policies, the release tag policy) with what GitLab has, as the info modules read it, and writes
    a report as JSON, Markdown and a self-contained HTML page with a table sortable by clicking its headers.
  - Runs on the controller and sends no request to GitLab - the playbook C(runnercreds.gitlab.audit) reads GitLab
    with M(runnercreds.gitlab.deploy_key_info), M(runnercreds.gitlab.deploy_token_info) and
    M(runnercreds.gitlab.protected_tag_info) and hands their results in. Use that playbook rather than this module.
  - "Findings: C(orphan_deploy_key), C(orphan_deploy_token) (held by no inventory host), C(missing_deploy_key),
    C(missing_deploy_token) (the inventory gives a host one and GitLab has none), C(key_past_rotation),
    C(token_past_rotation) (older than the rotation policy, too close to expiry, or expired), C(excess_token_scopes),
    C(unprotected_release_tags) (a write deploy key on a project whose release tag patterns are not protected),
    C(tag_rule_names_missing_key) (a protected tag allows a deploy key not enabled on the project),
    C(tag_pattern_matches_branch). Each has a severity (V(low), V(medium), V(high)), the project or group,
    the credential, the hosts, a message and the fix."
  - A host holds a deploy key when the key's title on a project is the host's key title
    (C(runner_ssh_key_title), else C(runner:<inventory_hostname>), or C(runner-fleet) in shared mode) and the host's
    C(runner_ssh_key_projects) list that project; a deploy token when its C(runner_deploy_token_tokens) list the
    token's name on that project or group.
  - The report holds no secret. Its files are written with mode 0644, each atomically.
  - The JSON report's schema is C(docs/audit-report.schema.json) in the collection (documented in C(docs/audit.md)).
author:
  - runnercreds.gitlab contributors (@runnercreds)
attributes:
  check_mode:
    support: full
    details:
      - Computes and returns the findings and fails on O(fail_on) as a real run does; writes no file.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run writes a fresh report (it holds the time it was made and the credentials' ages).
extends_documentation_fragment:
  - runnercreds.gitlab._attributes
options:
  hosts:
    description:
      - Inventory hostname of each runner host -> its variables that the audit reads. Give every host of the
        fleet (C(groups['runners'])), not only those of the play, or the keys and tokens of the others are orphans.
      - "The variables: C(runnercreds_credentials) (V(ssh_key), V(deploy_token); default: V(ssh_key) if the host has
        C(runner_ssh_key_projects), V(deploy_token) if it has C(runner_deploy_token_tokens)),
        C(runner_ssh_key_state), C(runner_ssh_key_mode), C(runner_ssh_key_title), C(runner_ssh_key_projects)
        (entries C({project, can_push}) or C({project_set, can_push})), C(runner_ssh_key_rotate_after_days),
        C(runner_ssh_key_rotate_before_expiry_days), C(runner_deploy_token_state), C(runner_deploy_token_tokens)
        (C(name), C(project) or C(group), C(scopes), C(lifetime_days), C(rotate_after_days),
        C(rotate_before_expiry_days)), C(runner_deploy_token_rotate_after_days),
        C(runner_deploy_token_rotate_before_expiry_days). Unset ones take the roles' defaults; others are ignored."
    type: dict
    required: true
  project_sets:
    description:
      - Each project set's projects, as RV(runnercreds.gitlab.project_set_info#module:projects) returns them;
        needed when a host's C(runner_ssh_key_projects) or O(tag_policy) name a C(project_set).
    type: dict
    default: {}
  tag_policy:
    description:
      - The inventory's C(runnercreds_protected_tags) (entries with C(projects) or C(project_set), and C(name)).
      - The C(name)s of the entries covering a project are its release tag patterns; a project no entry covers
        has the release pattern V(v*).
    type: list
    elements: dict
    default: []
  deploy_keys:
    description: RV(runnercreds.gitlab.deploy_key_info#module:deploy_keys) for the projects in RV(projects).
    type: list
    elements: dict
    default: []
  deploy_tokens:
    description:
      - RV(runnercreds.gitlab.deploy_token_info#module:deploy_tokens) for the projects in RV(projects) and the
        groups in RV(groups) (two runs of that module, concatenated).
    type: list
    elements: dict
    default: []
  protected_tags:
    description:
      - RV(runnercreds.gitlab.protected_tag_info#module:protected_tags) for the projects in RV(projects), read with
        O(runnercreds.gitlab.protected_tag_info#module:match_branches=true) so patterns matching branches are found.
    type: list
    elements: dict
    default: []
  targets_only:
    description:
      - Only validate O(hosts), O(project_sets) and O(tag_policy) and return RV(projects) and RV(groups), the
        targets the info modules must read. Writes nothing; O(report_dir) is not needed.
    type: bool
    default: false
  report_dir:
    description:
      - The directory for C(audit-report.json), C(audit-report.md) and C(audit-report.html); created (0755) if
        missing. Required unless O(targets_only=true).
      - Checked before anything is written - a path that is a file, or a directory this user may not write in,
        fails naming this option, and no file is written.
    type: path
  fail_on:
    description:
      - Fail the task when a finding of one of these kinds, or of this severity or a higher one, is found
        (for CI gates). Items are finding kinds (see the description) or severities (V(low), V(medium), V(high)).
      - The report is written first, so the failed run leaves it for the person who reads the failure.
      - An unknown item fails before anything is written, naming the item.
    type: list
    elements: str
    default: []
seealso:
  - module: runnercreds.gitlab.deploy_key_info
  - module: runnercreds.gitlab.deploy_token_info
  - module: runnercreds.gitlab.protected_tag_info
  - module: runnercreds.gitlab.project_set_info
"""

EXAMPLES = r"""
# The playbook runnercreds.gitlab.audit does all of this:
#   ansible-playbook -i inventory runnercreds.gitlab.audit -e runnercreds_audit_report_dir=/srv/audit
- name: Which projects and groups to read
  runnercreds.gitlab.fleet_audit:
    hosts: "{{ audit_hosts }}"
    tag_policy: "{{ runnercreds_protected_tags | default([]) }}"
    targets_only: true
  register: audit_targets

- name: Read the deploy keys
  runnercreds.gitlab.deploy_key_info:
    projects: "{{ audit_targets.projects }}"
  register: audit_keys
  when: audit_targets.projects | length > 0

- name: Write the report; fail the CI job on high findings and orphans
  runnercreds.gitlab.fleet_audit:
    hosts: "{{ audit_hosts }}"
    tag_policy: "{{ runnercreds_protected_tags | default([]) }}"
    deploy_keys: "{{ audit_keys.deploy_keys | default([]) }}"
    deploy_tokens: "{{ audit_tokens.deploy_tokens | default([]) }}"
    protected_tags: "{{ audit_tags.protected_tags | default([]) }}"
    report_dir: /srv/audit
    fail_on: [high, orphan_deploy_token]
  register: audit

- name: One screen
  ansible.builtin.debug:
    msg: "{{ audit.summary_lines }}"
"""

RETURN = r"""
projects:
  description: The projects the audit covers (every project of the hosts' keys and tokens, of the project sets and
    of O(tag_policy)), sorted.
  returned: always
  type: list
  elements: str
  sample: [fleet/apps/api, fleet/apps/web]
groups:
  description: The groups of the hosts' group deploy tokens, sorted.
  returned: always
  type: list
  elements: str
  sample: [fleet]
findings:
  description: What is wrong, most severe first.
  returned: unless O(targets_only=true)
  type: list
  elements: dict
  contains:
    kind:
      description: The finding's kind (see the description).
      type: str
    severity:
      description: V(low), V(medium) or V(high).
      type: str
    project:
      description: The project, or V(null).
      type: str
    group:
      description: The group (group deploy tokens), or V(null).
      type: str
    credential:
      description: C(type) (V(deploy_key) or V(deploy_token)), C(id) (V(null) for a missing one), C(name) (title or
        token name) and C(fingerprint) or C(username); V(null) when the finding is about a project.
      type: dict
    hosts:
      description: The inventory hosts concerned, sorted.
      type: list
      elements: str
    message:
      description: One line saying what is wrong.
      type: str
    fix:
      description: One line saying what to do.
      type: str
  sample:
    - kind: orphan_deploy_key
      severity: high
      project: fleet/apps/api
      group: null
      credential: {type: deploy_key, id: 12, name: "runner:old-host", fingerprint: "SHA256:Jrs3LD1..."}
      hosts: []
      message: "deploy key 'runner:old-host' (#12, push) is enabled on fleet/apps/api and no inventory host holds it"
      fix: remove it from the project (deploy_key state=absent with its fingerprint), or give the host ...
credentials:
  description: One entry per deploy key and project it is enabled on, and per deploy token, as the JSON report
    lists them (C(age_days), C(expires_at), C(days_until_expiry), C(access), C(hosts), C(policy), C(status)).
  returned: unless O(targets_only=true)
  type: list
  elements: dict
summary:
  description: Counts - C(hosts), C(projects), C(groups), C(deploy_keys), C(deploy_tokens), C(protected_tags),
    C(findings), C(by_kind), C(by_severity).
  returned: unless O(targets_only=true)
  type: dict
summary_lines:
  description: The one-screen summary (at most 20 lines), ending with the report's paths.
  returned: unless O(targets_only=true)
  type: list
  elements: str
  sample:
    - "Audit of 3 runner hosts, 2 projects, 0 groups: 3 deploy keys, 1 deploy tokens, 1 protected tags"
    - "Findings: 1 (1 high, 0 medium, 0 low)"
    - "    1 orphan_deploy_key [high], e.g. fleet/apps/api: deploy key 'runner:old-host' (#12, push) is enabled ..."
    - "Report: /srv/audit/audit-report.html, /srv/audit/audit-report.md, /srv/audit/audit-report.json"
report_files:
  description: The files written (V([]) in check mode and with O(targets_only=true)).
  returned: always
  type: list
  elements: str
failing:
  description: The findings that matched O(fail_on) (the task fails when there is one).
  returned: unless O(targets_only=true)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _audit, _audit_report
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import format_time, utcnow


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            project_sets=dict(type="dict", default={}),
            tag_policy=dict(type="list", elements="dict", default=[]),
            deploy_keys=dict(type="list", elements="dict", default=[], no_log=False),
            deploy_tokens=dict(type="list", elements="dict", default=[], no_log=False),
            protected_tags=dict(type="list", elements="dict", default=[]),
            targets_only=dict(type="bool", default=False),
            report_dir=dict(type="path"),
            fail_on=dict(type="list", elements="str", default=[]),
        ),
        required_if=[("targets_only", False, ("report_dir",))],
        supports_check_mode=True,
    )
    params = module.params
    try:
        # Every input is checked before anything is written: a bad fail_on or report_dir leaves no file.
        _audit.parse_fail_on(params["fail_on"])
        if params["targets_only"]:
            found = _audit.targets(params["hosts"], params["project_sets"], params["tag_policy"])
            module.exit_json(changed=False, report_files=[], **found)
        path = _audit_report.check_report_dir(params["report_dir"])
        result = _audit.audit(params["hosts"], params["deploy_keys"], params["deploy_tokens"], params["protected_tags"],
                              params["project_sets"], params["tag_policy"])
        doc = _audit_report.report(result, format_time(utcnow()), params["fail_on"])
        written = [] if module.check_mode else _audit_report.write(path, _audit_report.render(doc))
    except _audit.AuditError as exc:
        module.fail_json(msg=f"fleet_audit: {exc.msg}")
    except OSError as exc:
        module.fail_json(msg=f"fleet_audit: could not write the report in {params['report_dir']}: {exc}")
    failing = _audit.failing(result["findings"], params["fail_on"])
    output = dict(
        changed=bool(written) or module.check_mode, projects=result["projects"], groups=result["groups"],
        findings=result["findings"], credentials=result["credentials"], summary=result["summary"],
        summary_lines=_audit_report.summary_lines(doc, path), report_files=written, failing=failing,
    )
    if failing:
        kinds = {}
        for finding in failing:
            kinds[finding["kind"]] = kinds.get(finding["kind"], 0) + 1
        module.fail_json(
            msg=(f"fleet_audit: {len(failing)} findings match fail_on ({', '.join(params['fail_on'])}): "
                 + ", ".join(f"{kind} ({count})" for kind, count in kinds.items())
                 + f". The report is in {path}" + (" (not written: check mode)." if module.check_mode else ".")),
            **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
