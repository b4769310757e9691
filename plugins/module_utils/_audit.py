# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The fleet audit, pure: inventory expectations + the info modules' results -> credentials and findings.

No client, no module, no I/O: ``fleet_audit`` hands in what ``deploy_key_info``,
``deploy_token_info`` and ``protected_tag_info`` returned and the runner hosts'
variables, and gets back one row per credential and target and the findings.
Rendering is ``_audit_report.py``.

How a credential is tied to the hosts that hold it, without connecting to them:

- a deploy key by its title on a project: the runner_ssh_key role registers a
  host's key as ``runner_ssh_key_title`` or ``runner:<inventory_hostname>``
  (``runner-fleet`` in shared mode), and its rotation gives the successor the
  same title (roles/runner_ssh_key/vars/main.yml);
- a deploy token by its name on a project or group, as runner_deploy_token
  names it (GitLab's ``lib/api/deploy_tokens.rb`` lists tokens per project and
  per group; a token has no other owner).

GitLab reports no creation time for deploy tokens (``lib/api/entities/deploy_token.rb``
exposes id, name, username, expires_at, scopes, revoked, expired), so a token's
age is known only from the lifetime the inventory gave it, as the role computes it.
"""

from __future__ import annotations

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _fleet
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError

SCHEMA_VERSION = 1

# Ordered from least to most urgent; ``fail_on`` given a severity fails on it and above.
SEVERITIES = ("low", "medium", "high")

# Every finding kind, with what it means (docs/audit.md repeats this table).
KINDS = {
    "orphan_deploy_key": "a deploy key enabled on a managed project that no inventory host holds",
    "orphan_deploy_token": "a live deploy token on a managed project or group that no inventory host holds",
    "missing_deploy_key": "a host's inventory gives it a key on a project, and GitLab has none with its title there",
    "missing_deploy_token": "a host's inventory gives it a token, and GitLab has no live token of that name there",
    "key_past_rotation": "a deploy key older than its rotation policy, too close to expiry, or expired",
    "token_past_rotation": "a deploy token older than its rotation policy, too close to expiry, or expired",
    "excess_token_scopes": "a live deploy token with scopes no host's inventory asks for",
    "unprotected_release_tags": "a project with a write deploy key whose release tag patterns are not protected",
    "tag_rule_names_missing_key": "a protected tag allows a deploy key that is not enabled on the project",
    "tag_pattern_matches_branch": "a protected tag pattern that lets someone create tags named like a branch",
}

# Scopes that let a token change something: their excess is worse than a read scope's.
WRITE_SCOPES = frozenset(("write_registry", "write_repository", "write_package_registry"))

DEFAULT_RELEASE_PATTERNS = ("v*",)

# The role defaults the audit needs, as roles/runner_ssh_key/defaults/main.yml and
# roles/runner_deploy_token/defaults/main.yml set them (a unit test compares): hostvars hold
# only what the inventory sets, not the defaults of roles the audit play does not run.
ROLE_DEFAULTS = {
    "runner_ssh_key_state": "present",
    "runner_ssh_key_mode": "per_host",
    "runner_ssh_key_title": "",
    "runner_ssh_key_projects": [],
    "runner_ssh_key_rotate_after_days": 0,
    "runner_ssh_key_rotate_before_expiry_days": 0,
    "runner_deploy_token_state": "present",
    "runner_deploy_token_tokens": [],
    "runner_deploy_token_rotate_after_days": 0,
    "runner_deploy_token_rotate_before_expiry_days": 0,
}

# The host variables the audit reads (the playbook passes only these: never a private key).
HOST_VARS = ("runnercreds_credentials",) + tuple(ROLE_DEFAULTS)


class AuditError(GitlabModuleError):
    """Bad input for the audit, found before anything is written; names the option."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option} {problem}. Nothing was written.")
        self.option = option


def norm(ref) -> str:
    """A project or group reference as the audit compares it: GitLab paths are case-insensitive."""
    return str(ref).strip().strip("/").lower()


# --- inventory expectations ---------------------------------------------------------------

class TokenWant:
    """One token a host's inventory asks for."""

    __slots__ = ("name", "where", "target", "scopes", "lifetime_days", "rotate_after_days",
                 "rotate_before_expiry_days")

    def __init__(self, name, where, target, scopes, lifetime_days, after, before):
        self.name = name
        self.where = where            # "project" or "group"
        self.target = target          # as the inventory spells it
        self.scopes = frozenset(scopes)
        self.lifetime_days = lifetime_days
        self.rotate_after_days = after
        self.rotate_before_expiry_days = before


class HostWant:
    """What one runner host's inventory says it holds on GitLab."""

    __slots__ = ("name", "key_title", "key_projects", "key_after", "key_before", "tokens")

    def __init__(self, name):
        self.name = name
        self.key_title = None         # None: this host holds no deploy key
        self.key_projects = {}        # norm(project) -> (project as written, can_push)
        self.key_after = 0
        self.key_before = 0
        self.tokens = []


def _int(value, option, minimum=0):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AuditError(option, f"must be a whole number of days, got {value!r}") from None
    if number < minimum:
        raise AuditError(option, f"must be {minimum} or more, got {number}")
    return number


def _setting(variables, name):
    value = variables.get(name)
    return ROLE_DEFAULTS[name] if value is None else value


def _tokens(host, variables):
    option = f"hosts[{host}].runner_deploy_token_tokens"
    entries = _setting(variables, "runner_deploy_token_tokens")
    if not isinstance(entries, list):
        raise AuditError(option, f"must be a list of tokens, got {entries!r}")
    default_after = _int(_setting(variables, "runner_deploy_token_rotate_after_days"),
                         f"hosts[{host}].runner_deploy_token_rotate_after_days")
    default_before = _int(_setting(variables, "runner_deploy_token_rotate_before_expiry_days"),
                          f"hosts[{host}].runner_deploy_token_rotate_before_expiry_days")
    tokens = []
    for index, entry in enumerate(entries):
        where_option = f"{option}[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise AuditError(where_option, f"must be a dict with a name, got {entry!r}")
        if bool(entry.get("project")) == bool(entry.get("group")):
            raise AuditError(where_option, "must have exactly one of project and group")
        where = "project" if entry.get("project") else "group"
        lifetime = entry.get("lifetime_days")
        lifetime = None if lifetime in (None, "") else _int(lifetime, f"{where_option}.lifetime_days", 1)
        after = entry.get("rotate_after_days")
        before = entry.get("rotate_before_expiry_days")
        after = default_after if after is None else _int(after, f"{where_option}.rotate_after_days")
        before = default_before if before is None else _int(before, f"{where_option}.rotate_before_expiry_days")
        scopes = entry.get("scopes") or []
        if isinstance(scopes, str):
            scopes = [scopes]
        tokens.append(TokenWant(str(entry["name"]), where, str(entry[where]), scopes, lifetime, after, before))
    return tokens


def host_expectations(host, variables, project_sets):
    """One host's :class:`HostWant` from its inventory variables (role defaults filled in).

    Which kinds a host gets, its key's title and its expanded projects come from ``_fleet.py``, the
    reader the site and rotate playbooks use too, so the audit expects exactly what they converge.
    """
    variables = {name: value for name, value in dict(variables or {}).items() if value is not None}
    want = HostWant(host)
    try:
        kinds = _fleet.host_kinds(host, variables)
        if "ssh_key" in kinds and _setting(variables, "runner_ssh_key_state") == "present":
            mode = _setting(variables, "runner_ssh_key_mode")
            if mode not in ("per_host", "shared"):
                raise AuditError(f"hosts[{host}].runner_ssh_key_mode", f"must be per_host or shared, got {mode!r}")
            want.key_title = _fleet.key_title(host, variables)
            for entry in _fleet.expand_projects(host, variables.get("runner_ssh_key_projects"), project_sets):
                want.key_projects[norm(entry["project"])] = (str(entry["project"]), entry["can_push"])
    except _fleet.FleetError as exc:
        raise AuditError("hosts", f"has a host whose inventory cannot be read: {exc}") from None
    if want.key_title is not None:
        want.key_after = _int(_setting(variables, "runner_ssh_key_rotate_after_days"),
                              f"hosts[{host}].runner_ssh_key_rotate_after_days")
        want.key_before = _int(_setting(variables, "runner_ssh_key_rotate_before_expiry_days"),
                               f"hosts[{host}].runner_ssh_key_rotate_before_expiry_days")
    if "deploy_token" in kinds and _setting(variables, "runner_deploy_token_state") == "present":
        want.tokens = _tokens(host, variables)
    return want


def _tag_patterns(index, entry) -> list:
    """The patterns a tag policy protects: its ``name``, or the names of its ``tags`` (site takes both forms)."""
    if isinstance(entry, dict) and entry.get("state", "present") == "absent":
        return []
    if isinstance(entry, dict) and entry.get("name"):
        return [str(entry["name"])]
    if isinstance(entry, dict) and isinstance(entry.get("tags"), list):
        names = [str(tag["name"]) for tag in entry["tags"] if isinstance(tag, dict) and tag.get("name")]
        if names:
            return names
    raise AuditError(f"tag_policy[{index}]", f"must be a runnercreds_protected_tags entry with a name or tags, "
                                             f"got {entry!r}")


def _tag_projects(index, entry, project_sets):
    try:
        return _fleet.policy_projects(entry, f"runnercreds_protected_tags[{index}]", project_sets)
    except _fleet.FleetError as exc:
        raise AuditError("tag_policy", f"cannot be read: {exc}") from None


def expectations(hosts, project_sets=None, protected_tags=None):
    """Every host's :class:`HostWant`, the release patterns per project and the audit's targets.

    ``hosts`` maps inventory hostname -> its variables (:data:`HOST_VARS`);
    ``project_sets`` maps set name -> its resolved projects (``project_set_info``);
    ``protected_tags`` is the inventory's ``runnercreds_protected_tags``.
    Returns ``(wants, release_patterns, projects, groups)``: ``release_patterns``
    maps norm(project) -> the tag patterns that count as its release tags.
    """
    project_sets = project_sets or {}
    if not isinstance(hosts, dict):
        raise AuditError("hosts", f"must map inventory hostnames to their variables, got {type(hosts).__name__}")
    wants = [host_expectations(host, hosts[host], project_sets) for host in sorted(hosts)]
    projects, groups = {}, {}
    for want in wants:
        for key, (project, dummy) in want.key_projects.items():
            projects.setdefault(key, project)
        for token in want.tokens:
            (projects if token.where == "project" else groups).setdefault(norm(token.target), token.target)
    for members in project_sets.values():
        for project in members:
            projects.setdefault(norm(project), str(project))
    release = {}
    for index, entry in enumerate(protected_tags or []):
        patterns = _tag_patterns(index, entry)
        for project in _tag_projects(index, entry, project_sets):
            projects.setdefault(norm(project), str(project))
            release.setdefault(norm(project), [])
            for pattern in patterns:
                if pattern not in release[norm(project)]:
                    release[norm(project)].append(pattern)
    return wants, release, sorted(projects.values(), key=norm), sorted(groups.values(), key=norm)


def targets(hosts, project_sets=None, protected_tags=None):
    """The projects and groups the audit reads (for the info modules), validated."""
    dummy, dummy2, projects, groups = expectations(hosts, project_sets, protected_tags)
    return {"projects": projects, "groups": groups}


# --- findings -----------------------------------------------------------------------------

def parse_fail_on(values):
    """``fail_on`` -> (kinds, lowest severity or None); AuditError for anything unknown."""
    kinds, severity = set(), None
    for index, value in enumerate(values or []):
        if value in KINDS:
            kinds.add(value)
        elif value in SEVERITIES:
            if severity is None or SEVERITIES.index(value) < SEVERITIES.index(severity):
                severity = value
        else:
            raise AuditError(f"fail_on[{index}]", f"is {value!r}; give finding kinds ({', '.join(KINDS)}) "
                                                  f"or a severity ({', '.join(SEVERITIES)})")
    return kinds, severity


def failing(findings, fail_on):
    kinds, severity = parse_fail_on(fail_on)
    lowest = SEVERITIES.index(severity) if severity else len(SEVERITIES)
    return [f for f in findings if f["kind"] in kinds or SEVERITIES.index(f["severity"]) >= lowest]


def _finding(kind, severity, message, fix, project=None, group=None, credential=None, hosts=()):
    return {"kind": kind, "severity": severity, "project": project, "group": group,
            "credential": credential, "hosts": sorted(hosts), "message": message, "fix": fix}


def _key_ref(key):
    return {"type": "deploy_key", "id": key.get("id"), "name": key.get("title"),
            "fingerprint": key.get("fingerprint_sha256")}


def _token_ref(token):
    return {"type": "deploy_token", "id": token.get("id"), "name": token.get("name"),
            "username": token.get("username")}


def _policy_text(after, before):
    parts = []
    if after:
        parts.append(f"rotate after {after} days")
    if before:
        parts.append(f"rotate {before} days before expiry")
    return ", ".join(parts) or "no rotation policy"


def _due(age, days_left, expired, after, before):
    """Why a credential is past its policy, or None."""
    if expired:
        return "has expired"
    if after and age is not None and age >= after:
        return f"is {age} days old (policy: rotate after {after})"
    if before and days_left is not None and days_left <= before:
        return f"expires in {days_left} days (policy: rotate {before} days before expiry)"
    return None


def audit(hosts, deploy_keys, deploy_tokens, protected_tags, project_sets=None, declared_tags=None):
    """Credentials and findings (pure). Returns a dict with ``credentials``, ``findings``, ``summary`` counts,
    ``projects`` and ``groups``."""
    wants, release, projects, groups = expectations(hosts, project_sets, declared_tags)
    credentials, findings = [], []

    # Who holds which key title on which project, with that host's policy.
    key_holders = {}
    for want in wants:
        for project_key, (project, can_push) in want.key_projects.items():
            key_holders.setdefault((project_key, want.key_title), []).append((want, project, can_push))

    # --- deploy keys, one row per key and project it is enabled on -----------------------
    enabled = {}                      # norm(project) -> {key id: key}
    for key in deploy_keys or []:
        for place in key.get("projects") or []:
            project_key = norm(place["project"])
            enabled.setdefault(project_key, {})[key.get("id")] = key
            holders = key_holders.get((project_key, key.get("title")), [])
            host_names = [want.name for want, dummy, dummy2 in holders]
            after = min([w.key_after for w, dummy, dummy2 in holders if w.key_after] or [0])
            before = max([w.key_before for w, dummy, dummy2 in holders if w.key_before] or [0])
            due = _due(key.get("age_days"), key.get("days_until_expiry"), key.get("expired"), after, before)
            status = "orphan" if not holders else ("expired" if key.get("expired") else ("due" if due else "ok"))
            credentials.append({
                "type": "deploy_key", "id": key.get("id"), "name": key.get("title"),
                "fingerprint": key.get("fingerprint_sha256"), "project": str(place["project"]), "group": None,
                "access": "push" if place.get("can_push") else "read", "can_push": bool(place.get("can_push")),
                "scopes": None, "created_at": key.get("created_at"), "age_days": key.get("age_days"),
                "expires_at": key.get("expires_at"), "days_until_expiry": key.get("days_until_expiry"),
                "active": not key.get("expired"), "hosts": sorted(host_names),
                "policy": _policy_text(after, before), "status": status,
            })
            ref = _key_ref(key)
            if not holders:
                push = bool(place.get("can_push"))
                findings.append(_finding(
                    "orphan_deploy_key", "high" if push else "medium",
                    f"deploy key {key.get('title')!r} (#{key.get('id')}, {'push' if push else 'read'}) is enabled on "
                    f"{place['project']} and no inventory host holds it",
                    "remove it from the project (deploy_key state=absent with its fingerprint), or give the host that "
                    "uses it this project in runner_ssh_key_projects",
                    project=str(place["project"]), credential=ref))
            elif due:
                findings.append(_finding(
                    "key_past_rotation", "high" if key.get("expired") else "medium",
                    f"deploy key {key.get('title')!r} (#{key.get('id')}) on {place['project']} {due}",
                    "run the rotate playbook for these hosts (ansible-playbook runnercreds.gitlab.rotate --limit ...)",
                    project=str(place["project"]), credential=ref, hosts=host_names))

    for (project_key, title), holders in sorted(key_holders.items(), key=lambda item: item[0]):
        if any(key.get("title") == title for key in enabled.get(project_key, {}).values()):
            continue
        project = holders[0][1]
        push = any(can_push for dummy, dummy2, can_push in holders)
        findings.append(_finding(
            "missing_deploy_key", "high",
            f"no deploy key titled {title!r} on {project}, which the inventory gives "
            f"{', '.join(sorted(w.name for w, dummy, dummy2 in holders))} ({'push' if push else 'read'})",
            "run the site playbook for these hosts (ansible-playbook runnercreds.gitlab.site --limit ...)",
            project=project, credential={"type": "deploy_key", "id": None, "name": title, "fingerprint": None},
            hosts=[w.name for w, dummy, dummy2 in holders]))

    # --- deploy tokens, one row per token ---------------------------------------------------
    token_holders = {}
    for want in wants:
        for token in want.tokens:
            token_holders.setdefault((token.where, norm(token.target), token.name), []).append((want, token))
    live_names = set()
    for token in deploy_tokens or []:
        where = "group" if token.get("group") is not None else "project"
        target = token.get(where)
        holders = token_holders.get((where, norm(target), token.get("name")), [])
        host_names = sorted({want.name for want, dummy in holders})
        active = bool(token.get("active"))
        days_left = token.get("days_until_expiry")
        lifetimes = [t.lifetime_days for dummy, t in holders if t.lifetime_days]
        lifetime = max(lifetimes) if lifetimes else None
        age = lifetime - days_left if lifetime is not None and days_left is not None else None
        # The role applies a token's policy only with a lifetime (age = lifetime - days left).
        after = min([t.rotate_after_days for dummy, t in holders if t.rotate_after_days and t.lifetime_days] or [0])
        before = max([t.rotate_before_expiry_days for dummy, t in holders
                      if t.rotate_before_expiry_days and t.lifetime_days] or [0])
        expired = not active and not token.get("revoked")
        due = _due(age, days_left, expired, after, before) if active or expired else None
        if active:
            live_names.add((where, norm(target), token.get("name")))
        if token.get("revoked"):
            status = "revoked"
        elif expired:
            status = "expired"
        else:
            status = "orphan" if not holders else ("due" if due else "ok")
        credentials.append({
            "type": "deploy_token", "id": token.get("id"), "name": token.get("name"), "fingerprint": None,
            "project": target if where == "project" else None, "group": target if where == "group" else None,
            "access": ", ".join(token.get("scopes") or []), "can_push": None, "scopes": list(token.get("scopes") or []),
            "created_at": None, "age_days": age, "expires_at": token.get("expires_at"), "days_until_expiry": days_left,
            "active": active, "hosts": host_names, "policy": _policy_text(after, before), "status": status,
        })
        if not active:
            continue
        ref = _token_ref(token)
        place = {where: str(target)}
        if not holders:
            write = bool(WRITE_SCOPES & set(token.get("scopes") or []))
            findings.append(_finding(
                "orphan_deploy_token", "high" if write else "medium",
                f"deploy token {token.get('name')!r} (#{token.get('id')}, {', '.join(token.get('scopes') or [])}) "
                f"on {where} {target} is live and no inventory host holds it",
                "revoke it (deploy_token state=absent with its name), or give the hosts that use it this token in "
                "runner_deploy_token_tokens", credential=ref, **place))
            continue
        if due:
            findings.append(_finding(
                "token_past_rotation", "medium",
                f"deploy token {token.get('name')!r} (#{token.get('id')}) on {where} {target} {due}",
                "run the rotate playbook (ansible-playbook runnercreds.gitlab.rotate)",
                credential=ref, hosts=host_names, **place))
        asked = set().union(*(t.scopes for dummy, t in holders))
        extra = sorted(set(token.get("scopes") or []) - asked)
        if extra:
            findings.append(_finding(
                "excess_token_scopes", "high" if WRITE_SCOPES & set(extra) else "medium",
                f"deploy token {token.get('name')!r} (#{token.get('id')}) on {where} {target} has scopes "
                f"{', '.join(extra)} that no host asks for (inventory: {', '.join(sorted(asked))})",
                "rotate it with the inventory's scopes (ansible-playbook runnercreds.gitlab.rotate -e "
                "runner_deploy_token_rotate=true); the successor gets exactly the scopes asked for",
                credential=ref, hosts=host_names, **place))
    for (where, target_key, name), holders in sorted(token_holders.items()):
        if (where, target_key, name) in live_names:
            continue
        target = holders[0][1].target
        findings.append(_finding(
            "missing_deploy_token", "high",
            f"no live deploy token named {name!r} on {where} {target}, which the inventory gives "
            f"{', '.join(sorted({w.name for w, dummy in holders}))}",
            "run the site playbook for these hosts (ansible-playbook runnercreds.gitlab.site --limit ...)",
            credential={"type": "deploy_token", "id": None, "name": name, "username": None},
            hosts=[w.name for w, dummy in holders], **{where: target}))

    # --- protected tags ------------------------------------------------------------------------
    rules = {}
    for rule in protected_tags or []:
        rules.setdefault(norm(rule["project"]), []).append(rule)
    for project in projects:
        project_key = norm(project)
        keys_here = enabled.get(project_key, {})
        writers = sorted((k for k in keys_here.values()
                          if any(norm(p["project"]) == project_key and p.get("can_push") for p in k.get("projects") or [])),
                         key=lambda k: k.get("id") or 0)
        protected = {rule["name"] for rule in rules.get(project_key, [])}
        patterns = release.get(project_key) or list(DEFAULT_RELEASE_PATTERNS)
        open_patterns = [p for p in patterns if p not in protected]
        if writers and open_patterns:
            hosts_here = {w.name for k in writers for w, dummy, dummy2 in key_holders.get((project_key, k.get("title")), [])}
            findings.append(_finding(
                "unprotected_release_tags", "high",
                f"{project} has write deploy keys ({', '.join(repr(k.get('title')) for k in writers)}) and its release "
                f"tags {', '.join(open_patterns)} are not protected: anyone who may push may create a release tag",
                "protect them (runnercreds_protected_tags with allowed_to_create naming the release hosts' keys, "
                "then the site playbook), or make the keys read-only",
                project=project, credential=_key_ref(writers[0]) if len(writers) == 1 else None, hosts=hosts_here))
        for rule in rules.get(project_key, []):
            labels = {entry.get("deploy_key_id"): entry.get("deploy_key") for entry in rule.get("allowed_to_create") or []
                      if entry.get("deploy_key_id") is not None}
            for key_id in rule.get("deploy_key_ids") or []:
                if key_id in keys_here:
                    continue
                findings.append(_finding(
                    "tag_rule_names_missing_key", "medium",
                    f"protected tag {rule['name']} on {project} allows deploy key #{key_id} "
                    f"({labels.get(key_id) or 'untitled'}), which is not enabled on the project",
                    "re-apply the tag policy (site playbook, protected_tag with allowed_to_create naming live keys); "
                    "a rotation carries the rule to the successor with deploy_key_rotation",
                    project=project, credential={"type": "deploy_key", "id": key_id, "name": labels.get(key_id),
                                                 "fingerprint": None}))
            branches = rule.get("matching_branches") or []
            entries = rule.get("allowed_to_create") or []
            # block_branch_names' own guards (a branch's exact name, no one allowed) are the remedy, not the problem.
            guard = all(entry.get("access_level") == "no_one" for entry in entries) and entries
            if branches and not guard:
                findings.append(_finding(
                    "tag_pattern_matches_branch", "medium",
                    f"protected tag pattern {rule['name']} on {project} matches branches {', '.join(branches)}: "
                    "whoever it allows may create tags named like them",
                    "rename the branches or narrow the pattern (GitLab applies the most permissive matching rule, so "
                    "block_branch_names cannot take away what this pattern grants)",
                    project=project))
    findings.sort(key=lambda f: (-SEVERITIES.index(f["severity"]), f["kind"], norm(f["project"] or f["group"] or ""),
                                 str((f["credential"] or {}).get("name"))))
    credentials.sort(key=lambda c: (c["type"], norm(c["project"] or c["group"] or ""), str(c["name"]), c["id"] or 0))
    return {
        "projects": projects, "groups": groups, "hosts": [want.name for want in wants],
        "credentials": credentials, "findings": findings,
        "summary": summarize(wants, projects, groups, credentials, findings, protected_tags or []),
    }


def summarize(wants, projects, groups, credentials, findings, protected_tags):
    by_kind = {kind: 0 for kind in KINDS}
    by_severity = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        by_kind[finding["kind"]] += 1
        by_severity[finding["severity"]] += 1
    return {
        "hosts": len(wants), "projects": len(projects), "groups": len(groups),
        "deploy_keys": len({c["id"] for c in credentials if c["type"] == "deploy_key"}),
        "deploy_tokens": len([c for c in credentials if c["type"] == "deploy_token"]),
        "protected_tags": len(protected_tags),
        "findings": len(findings), "by_kind": by_kind, "by_severity": by_severity,
    }
