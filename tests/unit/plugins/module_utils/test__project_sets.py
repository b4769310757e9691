# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The project-set rules: validation before any request, and what a set holds."""

from __future__ import annotations

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._project_sets import parse_sets


def one(entry):
    return parse_sets({"s": entry})[0]


def test_groups_default_to_subgroups_and_flags_read_like_ansible_booleans():
    project_set = one({"groups": ["platform", {"group": "tools", "subgroups": "no"}], "exclusive": "True"})
    assert project_set.groups == [("platform", True), ("tools", False)]
    assert project_set.exclusive is True and project_set.include_archived is False


def test_select_merges_lists_case_blind_and_excludes_by_glob():
    project_set = one({"groups": ["platform"], "projects": ["Platform/API", "ops/release", 42],
                       "exclude": ["platform/sandbox-*", "PLATFORM/legacy/*"]})
    listed = {"platform": ["platform/api", "platform/sandbox-1", "platform/legacy/old", "platform/web"]}
    assert project_set.select(listed) == ["ops/release", "platform/api", "platform/web", 42]


@pytest.mark.parametrize("value, option, words", [
    ({}, "sets", "dictionary of project sets"),
    ([], "sets", "dictionary of project sets"),
    ({"s": ["platform"]}, "sets.s", "must be a dictionary"),
    ({"s": {}}, "sets.s", "selects no project"),
    ({"s": {"group": ["platform"]}}, "sets.s.group", "not a project set key"),
    ({"s": {"groups": "platform"}}, "sets.s.groups", "must be a list"),
    ({"s": {"groups": [{"name": "platform"}]}}, "sets.s.groups[0]", "group path or {group"),
    ({"s": {"groups": ["bad path!"]}}, "sets.s.groups[0]", "characters GitLab does not allow"),
    ({"s": {"projects": ["lonely"]}}, "sets.s.projects[0]", "not a project's full path"),
    ({"s": {"groups": ["g"], "exclude": [""]}}, "sets.s.exclude[0]", "shell glob"),
    ({"s": {"groups": ["g"], "exclusive": "maybe"}}, "sets.s.exclusive", "true or false"),
])
def test_bad_sets_name_the_option_and_the_fix(value, option, words):
    with pytest.raises(OptionError) as raised:
        parse_sets(value)
    assert raised.value.option == option
    assert words in raised.value.msg and "Nothing was sent" in raised.value.msg
