# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one target resolver: references parsed, duplicates merged, conflicts refused naming both entries."""

from __future__ import annotations

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._targets import (
    TargetEntry,
    parse_ref,
    resolve_targets,
    simple_entries,
)


class FakeClient:
    """Answers GET /projects/:id and /groups/:id from a table; counts requests."""

    def __init__(self, paths):
        self.paths = paths
        self.requests = []

    def get(self, path, action, target=None):
        self.requests.append(path)
        kind, ident = path.strip("/").split("/")
        field = "path_with_namespace" if kind == "projects" else "full_path"
        return {field: self.paths[int(ident)]}

    def map_all(self, step, items, work):
        return {item: work(item) for item in items}


@pytest.mark.parametrize("value, expected", [
    (42, 42), ("42", 42), (" 42 ", 42), ("group/app", "group/app"), ("/group/app/", "group/app"),
    ("group%2Fsub%2Fapp", "group/sub/app"), ("Group/App", "Group/App"), ("g.x/a_b-c", "g.x/a_b-c"),
])
def test_parse_ref(value, expected):
    assert parse_ref(value, "projects[0]", "project") == expected


@pytest.mark.parametrize("value, words", [
    ("", "is empty"), ("  ", "is empty"), (0, "not a project id"), (-3, "not a project id"), (True, "must be a project"),
    (1.5, "must be a project"), ("app", "not a project's full path"), ("group/my app", "characters GitLab does not allow"),
    ("group/ä", "characters GitLab does not allow"),
])
def test_bad_refs_name_the_entry(value, words):
    with pytest.raises(OptionError) as raised:
        parse_ref(value, "projects[3]", "project")
    assert raised.value.msg.startswith("projects[3] ") and words in raised.value.msg


def test_a_group_may_be_one_segment():
    assert parse_ref("fleet", "groups[0]", "group") == "fleet"


def test_paths_in_any_case_and_encoding_are_one_target_without_a_request():
    client = FakeClient({})
    entries = simple_entries("projects", ["Fleet/App", "fleet/app", "fleet%2Fapp", "fleet/web"])
    targets = resolve_targets(client, "project", entries)
    assert [(t.label, t.options) for t in targets] == [
        ("Fleet/App", ["projects[0]", "projects[1]", "projects[2]"]), ("fleet/web", ["projects[3]"])]
    assert client.requests == []


def test_ids_alone_cost_no_request():
    client = FakeClient({})
    targets = resolve_targets(client, "project", simple_entries("projects", [7, "7", 8]))
    assert [t.ref for t in targets] == [7, 8] and client.requests == []


def test_an_id_and_a_path_of_the_same_project_are_one_target():
    client = FakeClient({7: "fleet/app"})
    targets = resolve_targets(client, "project", simple_entries("projects", ["fleet/web", 7, "FLEET/APP"]))
    assert [(t.ref, t.options) for t in targets] == [("fleet/web", ["projects[0]"]), (7, ["projects[1]", "projects[2]"])]
    assert client.requests == ["/projects/7"]  # looked up once, only because ids and paths are mixed


def test_conflicting_settings_are_refused_naming_both_entries():
    entries = [TargetEntry("projects[0]", "fleet/app", {"can_push": True}),
               TargetEntry("projects[1]", "fleet/web", {"can_push": None}),
               TargetEntry("projects[2]", "Fleet/App", {"can_push": False})]
    with pytest.raises(OptionError) as raised:
        resolve_targets(FakeClient({}), "project", entries)
    assert raised.value.msg.startswith("projects[0] and projects[2] name the same project (fleet/app)")
    assert "can_push (True and False)" in raised.value.msg


def test_agreeing_and_unset_settings_merge():
    entries = [TargetEntry("projects[0]", "fleet/app", {"can_push": None}),
               TargetEntry("projects[1]", "fleet/app", {"can_push": True})]
    (target,) = resolve_targets(FakeClient({}), "project", entries)
    assert target.settings == {"can_push": True}


def test_target_paths():
    (target,) = resolve_targets(FakeClient({}), "group", simple_entries("groups", ["fleet/runners"]))
    assert target.path("deploy_tokens", 3) == "/groups/fleet%2Frunners/deploy_tokens/3"
    assert str(target) == "fleet/runners" and target.kind == "group"
