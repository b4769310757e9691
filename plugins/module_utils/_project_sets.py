# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Project sets: the fleet's projects named once in inventory, by group, by list, or both.

The pure half of ``project_set_info`` (the API half is ``_project_sets_api``):
the one validator of the inventory variable ``runnercreds_project_sets`` and
the one rule for what a set holds. A set is::

    platform:
      groups: [platform, {group: tools, subgroups: false}]   # every project below the group
      projects: [ops/release-scripts]                       # and these
      exclude: [platform/sandbox-*]                         # minus these (full paths or shell globs)
      exclusive: false                                      # read by site.yml, validated here

A group's projects include those of its subgroups unless ``subgroups: false``.
Exclusions are compared without regard to case, as GitLab compares paths, and
a glob's ``*`` also matches ``/`` (``platform/legacy/*`` excludes a subgroup).
"""

from __future__ import annotations

import fnmatch

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._targets import parse_ref

SET_KEYS = ("groups", "projects", "exclude", "exclusive", "include_archived")
GROUP_KEYS = ("group", "subgroups")


class ProjectSet:
    """One validated set: ``groups`` as ``(ref, subgroups)`` pairs, ``projects`` refs, ``exclude`` patterns."""

    __slots__ = ("name", "groups", "projects", "exclude", "exclusive", "include_archived")

    def __init__(self, name, groups, projects, exclude, exclusive, include_archived) -> None:
        self.name = name
        self.groups = groups
        self.projects = projects
        self.exclude = exclude
        self.exclusive = exclusive
        self.include_archived = include_archived

    def excludes(self, path) -> bool:
        folded = str(path).casefold()
        return any(fnmatch.fnmatchcase(folded, pattern.casefold()) for pattern in self.exclude)

    def select(self, listed_by_group: dict) -> list:
        """The set's projects: each group's listing, then the explicit ones, minus exclusions, each once.

        ``listed_by_group`` maps each group ref to the full paths GitLab listed
        for it. The result is sorted by path (ids last), so every host and
        every run sees the same order.
        """
        chosen = {}
        for ref, dummy in self.groups:
            for path in listed_by_group[ref]:
                chosen.setdefault(str(path).casefold(), path)
        for ref in self.projects:
            chosen.setdefault(str(ref).casefold(), ref)
        kept = [value for value in chosen.values() if not self.excludes(value)]
        return sorted(kept, key=lambda value: (isinstance(value, int), str(value)))


def parse_sets(value, option: str = "sets") -> list:
    """Every set of ``value`` (name -> set), validated before any request; raises :class:`OptionError`."""
    if not isinstance(value, dict) or not value:
        raise OptionError(option, "must be a dictionary of project sets, name -> {groups: [...], projects: [...], "
                                  "exclude: [...]}, for example {platform: {groups: [platform]}}")
    return [_parse_set(str(name), entry, f"{option}.{name}") for name, entry in value.items()]


def _parse_set(name: str, entry, option: str) -> ProjectSet:
    if not isinstance(entry, dict):
        raise OptionError(option, f"must be a dictionary with groups, projects and/or exclude, got {entry!r}")
    unknown = sorted(set(entry) - set(SET_KEYS))
    if unknown:
        raise OptionError(f"{option}.{unknown[0]}", f"is not a project set key; use {', '.join(SET_KEYS)}")
    groups = [_parse_group(item, f"{option}.groups[{index}]")
              for index, item in enumerate(_list(entry, "groups", option))]
    projects = [parse_ref(item, f"{option}.projects[{index}]", "project")
                for index, item in enumerate(_list(entry, "projects", option))]
    if not groups and not projects:
        raise OptionError(option, "selects no project; give groups (every project below each group), projects, "
                                  "or both")
    exclude = []
    for index, pattern in enumerate(_list(entry, "exclude", option)):
        if not isinstance(pattern, str) or not pattern.strip().strip("/"):
            raise OptionError(f"{option}.exclude[{index}]", f"must be a project path or a shell glob such as "
                                                            f"group/sandbox-*, got {pattern!r}")
        exclude.append(pattern.strip().strip("/"))
    return ProjectSet(name, groups, projects, exclude, _flag(entry, "exclusive", option),
                      _flag(entry, "include_archived", option))


def _parse_group(item, option: str) -> tuple:
    if isinstance(item, dict):
        unknown = sorted(set(item) - set(GROUP_KEYS))
        if unknown or "group" not in item:
            raise OptionError(option, f"must be a group path or {{group: <path>, subgroups: true|false}}, "
                                      f"got {item!r}")
        return parse_ref(item["group"], f"{option}.group", "group"), _flag(item, "subgroups", option, True)
    return parse_ref(item, option, "group"), True


def _list(entry: dict, key: str, option: str) -> list:
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OptionError(f"{option}.{key}", f"must be a list, got {value!r}")
    return value


def _flag(entry: dict, key: str, option: str, default: bool = False) -> bool:
    value = entry.get(key, default)
    try:
        # Templated inventory values arrive as strings ("True"): read them as Ansible reads booleans.
        return boolean(value, strict=True)
    except TypeError:
        raise OptionError(f"{option}.{key}", f"must be true or false, got {value!r}") from None
