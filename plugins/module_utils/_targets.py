# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The one resolver of projects and groups: every module's targets, once, before any write.

GitLab finds a project or group by numeric id, or by full path compared
without regard to case, and the path arrives URL-encoded
(``find_project``/``find_group`` in lib/api/helpers.rb, ``Route`` lookups in
app/models/route.rb). So ``42``, ``Fleet/App``, ``fleet/app`` and
``fleet%2Fapp`` may all be one project. Entries are merged into one
:class:`Target` each; two entries for the same target with different settings
are refused, naming both. Paths alone are compared without a request; ids are
looked up (one ``GET`` each) only when the task mixes ids and paths, so a
no-change run stays at one read per project.
"""

from __future__ import annotations

from urllib.parse import unquote

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import api_path
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._names import PATH_SEGMENT
_FULL_PATH_FIELD = {"project": "path_with_namespace", "group": "full_path"}


class Target:
    """One project or group of a task, however many entries named it."""

    __slots__ = ("kind", "ref", "label", "options", "settings")

    def __init__(self, kind: str, ref, option: str, settings: dict) -> None:
        self.kind = kind  # "project" or "group"
        self.ref = ref  # what API paths use: the id or the full path, as first given
        self.label = ref  # what results and messages show
        self.options = [option]  # where the task named it: projects[0], projects[3]
        self.settings = dict(settings)

    def path(self, *parts) -> str:
        """This target's API path: ``/projects/fleet%2Fapp/deploy_keys``."""
        return api_path(f"{self.kind}s", self.ref, *parts)

    def __str__(self) -> str:
        return str(self.label)

    def __repr__(self) -> str:
        return f"Target({self.kind}, {self.label!r})"


class TargetEntry:
    """One entry of a targets option as the task gave it, with its own settings."""

    __slots__ = ("option", "value", "settings")

    def __init__(self, option: str, value, settings=None) -> None:
        self.option = option  # e.g. "projects[2]"
        self.value = value
        self.settings = dict(settings or {})


def parse_ref(value, option: str, kind: str):
    """A project or group reference: an ``int`` id or a full path (decoded, slashes trimmed)."""
    example = "group/app" if kind == "project" else "group/subgroup"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise OptionError(option, f"must be a {kind} id or full path such as {example}, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise OptionError(option, f"is {value}, not a {kind} id (ids are positive numbers)")
        return value
    text = unquote(value.strip()).strip().strip("/")
    if not text:
        raise OptionError(option, f"is empty; give a {kind} id or full path such as {example}")
    if text.isdigit():
        return parse_ref(int(text), option, kind)
    segments = text.split("/")
    bad = [segment for segment in segments if not PATH_SEGMENT.match(segment)]
    if bad:
        raise OptionError(option, f"is {text!r}, not a {kind} path: {bad[0]!r} has characters GitLab does not "
                                  f"allow in a path (give the path, not the display name, e.g. {example})")
    if segments[-1].endswith((".git", ".atom")):
        raise OptionError(option, f"is {text!r}; GitLab paths never end in .git or .atom (lib/gitlab/path_regex.rb): "
                                  f"drop the suffix, e.g. {example}")
    if kind == "project" and len(segments) < 2:
        raise OptionError(option, f"is {text!r}, not a project's full path; give namespace and project, "
                                  f"e.g. {example}, or the numeric id")
    return text


def _conflict(first: Target, option: str, settings: dict, looked_up: bool):
    for name, value in settings.items():
        mine = first.settings.get(name)
        if value is not None and mine is not None and mine != value:
            options = f"{first.options[0]} and {option}"
            problem = (f"name the same {first.kind} ({first.label}) with different {name} ({mine} and {value}); "
                       "give it once")
            if looked_up:  # ids were looked up to find this out: something was sent, nothing was changed
                raise GitlabModuleError(f"{options} {problem}")
            raise OptionError(options, problem)


def resolve_targets(client, kind: str, entries) -> list:
    """The task's distinct targets, in the order first named; raises before any write.

    ``client`` is used only when ids and paths are mixed: each id is then
    looked up once to learn its full path.
    """
    parsed = [(entry, parse_ref(entry.value, entry.option, kind)) for entry in entries]
    ids = sorted({ref for dummy, ref in parsed if isinstance(ref, int)})
    paths_by_id = {}
    if ids and any(not isinstance(ref, int) for dummy, ref in parsed):
        answers = client.map_all(
            f"resolving {kind} ids", ids,
            lambda ident: client.get(api_path(f"{kind}s", ident), f"look up {kind} {ident}"))
        paths_by_id = {ident: answer[_FULL_PATH_FIELD[kind]] for ident, answer in answers.items()}
    targets = {}
    for entry, ref in parsed:
        key = str(paths_by_id.get(ref, ref)).casefold() if not isinstance(ref, int) or ref in paths_by_id else ref
        found = targets.get(key)
        if found is None:
            targets[key] = Target(kind, ref, entry.option, entry.settings)
            continue
        _conflict(found, entry.option, entry.settings, looked_up=bool(paths_by_id))
        found.options.append(entry.option)
        for name, value in entry.settings.items():
            if found.settings.get(name) is None:
                found.settings[name] = value
    return list(targets.values())


def simple_entries(option: str, values) -> list:
    """:class:`TargetEntry` objects for a plain list option (``projects: [a, 42]``)."""
    return [TargetEntry(f"{option}[{index}]", value) for index, value in enumerate(values or ())]
