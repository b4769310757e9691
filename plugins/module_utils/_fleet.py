# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The fleet as the inventory describes it: who should hold which credential where.

The one place that reads the inventory's fleet variables (for the ``site``,
``rotate`` and ``audit`` playbooks, through the filters in
``plugins/filter/fleet.py``):

* ``runnercreds_credentials`` - the kinds a host gets, ``ssh_key`` and/or
  ``deploy_token``; by default ``ssh_key`` when the host has projects or
  checkouts for its key (or removes it, ``runner_ssh_key_state: absent``),
  ``deploy_token`` when it lists tokens. A host that needs no SSH access gets
  no SSH key.
* ``runner_ssh_key_projects`` entries ``{project: ..., can_push: ...}`` or
  ``{project_set: <name>, can_push: ...}``, a set being one of
  ``runnercreds_project_sets`` (resolved by ``project_set_info``);
* the key's title as ``runner_ssh_key`` registers it (``runner:<host>`` per
  host, ``runner-fleet`` shared, or ``runner_ssh_key_title``): titles survive
  rotation, so they name a host's keys across it;
* ``runner_deploy_token_tokens`` entries (name, project or group, scopes).

Every host of the inventory's ``runners`` group counts, not only the hosts of
a run: what a host outside a ``--limit`` run uses is expected, so never pruned.
"""

from __future__ import annotations

KINDS = ("ssh_key", "deploy_token")


class FleetError(ValueError):
    """Inventory that cannot be read: names the host, the variable and the fix."""


def host_kinds(name: str, host_vars) -> list:
    """The credential kinds one host gets (validated ``runnercreds_credentials``, or derived)."""
    given = host_vars.get("runnercreds_credentials")
    if given is None:
        kinds = []
        if (host_vars.get("runner_ssh_key_projects") or host_vars.get("runner_ssh_key_git_checkouts")
                or host_vars.get("runner_ssh_key_state") == "absent"):
            kinds.append("ssh_key")
        if host_vars.get("runner_deploy_token_tokens") or host_vars.get("runner_deploy_token_state") == "absent":
            kinds.append("deploy_token")
        return kinds
    if isinstance(given, str) or not isinstance(given, (list, tuple)):
        raise FleetError(f"{name}: runnercreds_credentials must be a list of {' and/or '.join(KINDS)}, "
                         f"e.g. [ssh_key], got {given!r}")
    unknown = [kind for kind in given if kind not in KINDS]
    if unknown:
        raise FleetError(f"{name}: runnercreds_credentials lists {unknown[0]!r}; the kinds are "
                         f"{' and '.join(KINDS)} (a host with neither gets no credential)")
    return list(dict.fromkeys(given))


def key_title(name: str, host_vars) -> str:
    """The title ``runner_ssh_key`` registers this host's key under."""
    if host_vars.get("runner_ssh_key_title"):
        return str(host_vars["runner_ssh_key_title"])
    return "runner-fleet" if host_vars.get("runner_ssh_key_mode") == "shared" else f"runner:{name}"


def expand_projects(name: str, entries, resolved: dict) -> list:
    """``runner_ssh_key_projects`` with each ``project_set`` entry replaced by the set's projects.

    ``resolved`` is ``project_set_info``'s ``projects`` (set name -> paths).
    A project named twice with different ``can_push`` is refused, naming both.
    """
    if entries in (None, ""):
        return []
    if not isinstance(entries, (list, tuple)):
        raise FleetError(f"{name}: runner_ssh_key_projects must be a list of {{project: ..., can_push: ...}} or "
                         f"{{project_set: ..., can_push: ...}}, got {entries!r}")
    expanded, origin = {}, {}
    for index, entry in enumerate(entries):
        where = f"runner_ssh_key_projects[{index}]"
        if not isinstance(entry, dict):
            raise FleetError(f"{name}: {where} must be a dictionary, got {entry!r}")
        can_push = _bool(entry.get("can_push", False))
        if entry.get("project_set") is not None:
            if entry.get("project") is not None:
                raise FleetError(f"{name}: {where} gives both project and project_set; give one")
            set_name = str(entry["project_set"])
            if set_name not in resolved:
                known = ", ".join(sorted(resolved)) or "none: define runnercreds_project_sets"
                raise FleetError(f"{name}: {where}.project_set is {set_name!r}, not a project set of "
                                 f"runnercreds_project_sets (known: {known})")
            projects = resolved[set_name]
        elif entry.get("project") is not None:
            projects = [entry["project"]]
        else:
            raise FleetError(f"{name}: {where} needs project (a path or id) or project_set (a name of "
                             "runnercreds_project_sets)")
        for project in projects:
            key = str(project).casefold()
            if key in expanded and expanded[key]["can_push"] != can_push:
                raise FleetError(f"{name}: {origin[key]} and {where} give {project} different can_push; "
                                 "give it once (take it out of the set with exclude, or split the set)")
            expanded.setdefault(key, {"project": project, "can_push": can_push})
            origin.setdefault(key, where)
    return list(expanded.values())


def expectations(hosts: dict, resolved: dict) -> dict:
    """What GitLab should hold for the whole fleet.

    ``hosts`` maps each inventory runner to its variables. Returns::

        hosts:  {host: {kinds, key_title, projects: [{project, can_push}], tokens: [...]}}
        keys:   {project (case-folded path): {title: can_push}}   # deploy keys expected on each project
        tokens: {"project:<path>" or "group:<path>": [names]}     # deploy token names expected there
    """
    result = {"hosts": {}, "keys": {}, "tokens": {}}
    for name in sorted(hosts):
        host_vars = hosts[name]
        kinds = host_kinds(name, host_vars)
        title = key_title(name, host_vars)
        projects = expand_projects(name, host_vars.get("runner_ssh_key_projects"), resolved) \
            if "ssh_key" in kinds else []
        tokens = list(host_vars.get("runner_deploy_token_tokens") or []) if "deploy_token" in kinds else []
        result["hosts"][name] = {"kinds": kinds, "key_title": title if "ssh_key" in kinds else None,
                                 "projects": projects, "tokens": tokens}
        for entry in projects:
            titles = result["keys"].setdefault(str(entry["project"]).casefold(), {})
            titles[title] = titles.get(title, False) or entry["can_push"]
        for token in tokens:
            if not isinstance(token, dict) or not token.get("name"):
                raise FleetError(f"{name}: runner_deploy_token_tokens entries need a name "
                                 "(roles/runner_deploy_token/meta/argument_specs.yml)")
            where = f"group:{token['group']}" if token.get("group") else f"project:{token.get('project')}"
            names = result["tokens"].setdefault(where.casefold(), [])
            if token["name"] not in names:
                names.append(token["name"])
    return result


def prune_plan(expected: dict, projects, deploy_keys, deploy_tokens, groups=()) -> dict:
    """The deploy keys and tokens an exclusive project set holds beyond the inventory's.

    ``projects`` (and ``groups``) are the exclusive sets' targets;
    ``deploy_keys``/``deploy_tokens`` are ``deploy_key_info``'s and
    ``deploy_token_info``'s lists for them (a key once, with the projects it
    is enabled on). A key is kept on a project when its title is expected there; a token when its name is expected on that
    project or group (every token of the name, so rotation's predecessors
    are left to rotation). Returns ``deploy_keys``: one entry per key to remove,
    ``{key, title, fingerprint, projects}``, and ``deploy_tokens``: one per
    ``(name, kind)``, ``{name, projects}`` or ``{name, groups}``.
    """
    in_scope = {str(project).casefold() for project in projects}
    group_scope = {str(group).casefold() for group in groups}
    remove_keys = {}
    for record in deploy_keys:
        stale = [link["project"] for link in record.get("projects", ())
                 if str(link["project"]).casefold() in in_scope
                 and record.get("title") not in expected["keys"].get(str(link["project"]).casefold(), {})]
        if stale:
            remove_keys[record["fingerprint_sha256"]] = {
                "key": record["key"], "title": record.get("title"), "fingerprint": record["fingerprint_sha256"],
                "projects": stale}
    remove_tokens = {}
    for record in deploy_tokens:
        kind = "group" if record.get("group") is not None else "project"
        where = str(record.get(kind, "")).casefold()
        if where not in (group_scope if kind == "group" else in_scope) or record.get("revoked"):
            continue
        if record["name"] in expected["tokens"].get(f"{kind}:{where}", []):
            continue
        entry = remove_tokens.setdefault((record["name"], kind), {"name": record["name"], f"{kind}s": []})
        if record[kind] not in entry[f"{kind}s"]:
            entry[f"{kind}s"].append(record[kind])
    return {"deploy_keys": sorted(remove_keys.values(), key=lambda e: (str(e["title"]), e["fingerprint"])),
            "deploy_tokens": sorted(remove_tokens.values(), key=lambda e: (e["name"], "groups" in e))}


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")


TAG_ENTRY_KEYS = ("projects", "project_set", "project_sets", "name", "create_access_level", "allowed_to_create",
                  "tags", "block_branch_names", "branch_names", "purge", "state")


def tag_policies(entries, expected: dict, inventory_groups: dict, resolved: dict) -> list:
    """``runnercreds_protected_tags`` as ``protected_tag`` task arguments, one per entry.

    An entry names its projects by ``projects`` and/or ``project_set(s)``, and
    an ``allowed_to_create`` item may be ``{deploy_keys_of: <inventory group>}``:
    the keys (by title, so they stay allowed through rotations) of every
    host of that group that gets an SSH key - all of the inventory's, not
    only a run's. Everything else is passed to ``protected_tag`` as given, which
    validates it.
    """
    if entries in (None, ""):
        return []
    if not isinstance(entries, (list, tuple)):
        raise FleetError(f"runnercreds_protected_tags must be a list of {{projects or project_set, name, "
                         f"allowed_to_create...}}, got {entries!r}")
    tasks = []
    for index, entry in enumerate(entries):
        where = f"runnercreds_protected_tags[{index}]"
        if not isinstance(entry, dict):
            raise FleetError(f"{where} must be a dictionary, got {entry!r}")
        unknown = sorted(set(entry) - set(TAG_ENTRY_KEYS))
        if unknown:
            raise FleetError(f"{where}.{unknown[0]} is not a key of a tag policy; use {', '.join(TAG_ENTRY_KEYS)}")
        task = {key: value for key, value in entry.items() if key not in ("project_set", "project_sets")}
        task["projects"] = policy_projects(entry, where, resolved)
        if "allowed_to_create" in entry:
            task["allowed_to_create"] = _allowed(entry["allowed_to_create"], f"{where}.allowed_to_create",
                                                 expected, inventory_groups)
        if isinstance(entry.get("tags"), list):
            task["tags"] = [dict(tag, allowed_to_create=_allowed(tag["allowed_to_create"],
                                                                 f"{where}.tags[{number}].allowed_to_create",
                                                                 expected, inventory_groups))
                            if isinstance(tag, dict) and "allowed_to_create" in tag else tag
                            for number, tag in enumerate(entry["tags"])]
        tasks.append(task)
    return tasks


def policy_projects(entry: dict, where: str, resolved: dict) -> list:
    """A tag policy's projects: ``projects`` plus every project of its ``project_set(s)``, each once."""
    names = entry.get("project_sets") or []
    if entry.get("project_set") is not None:
        names = [entry["project_set"]] + list(names)
    projects = list(entry.get("projects") or [])
    for name in names:
        if name not in resolved:
            known = ", ".join(sorted(resolved)) or "none: define runnercreds_project_sets"
            raise FleetError(f"{where}.project_set is {name!r}, not a project set of runnercreds_project_sets "
                             f"(known: {known})")
        projects.extend(resolved[name])
    if not projects:
        raise FleetError(f"{where} names no project; give projects, project_set or project_sets")
    unique = {}
    for project in projects:
        unique.setdefault(str(project).casefold(), project)
    return list(unique.values())


def _allowed(items, where: str, expected: dict, inventory_groups: dict) -> list:
    if not isinstance(items, (list, tuple)):
        return items  # protected_tag names the form
    result = []
    for number, item in enumerate(items):
        if not (isinstance(item, dict) and "deploy_keys_of" in item):
            result.append(item)
            continue
        group = item["deploy_keys_of"]
        if len(item) != 1:
            raise FleetError(f"{where}[{number}] gives deploy_keys_of with other keys; give it alone")
        if group not in inventory_groups:
            raise FleetError(f"{where}[{number}].deploy_keys_of is {group!r}, not an inventory group")
        titles = []
        for host in inventory_groups[group]:
            title = expected["hosts"].get(host, {}).get("key_title")
            if title and title not in titles:
                titles.append(title)
        if not titles:
            raise FleetError(f"{where}[{number}].deploy_keys_of: no host of group {group!r} gets an SSH key "
                             "(runnercreds_credentials, runner_ssh_key_projects), so no deploy key would be allowed")
        result.extend({"deploy_key": title} for title in titles)
    return result


def exclusive_scope(project_sets, resolved_result) -> dict:
    """The projects and groups whose deploy keys and tokens must be exactly the inventory's.

    ``project_sets`` is ``runnercreds_project_sets``; ``resolved_result`` is
    ``project_set_info``'s result. Groups are those the exclusive sets name
    (their group deploy tokens count); projects are the sets' projects.
    """
    if not resolved_result or not resolved_result.get("exclusive"):
        return {"projects": [], "groups": []}
    projects, groups = {}, {}
    for name in resolved_result["exclusive"]:
        for project in resolved_result["projects"][name]:
            projects.setdefault(str(project).casefold(), project)
        for group in (project_sets.get(name) or {}).get("groups") or []:
            ref = group.get("group") if isinstance(group, dict) else group
            groups.setdefault(str(ref).casefold(), ref)
    return {"projects": list(projects.values()), "groups": list(groups.values())}
