# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared plan vocabulary: Action, Plan, Journal and the diff."""

from __future__ import annotations

import threading

from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Action, Journal, Plan, diff_for, label


class Target:
    kind = "group"

    def __init__(self, label_):
        self.label = label_


def test_action_as_dict_shows_the_label_and_the_note_only_when_set():
    target = Target("fleet")
    assert Action("create", target, None, {"id": 1}).as_dict() == {
        "action": "create", "project": "fleet", "before": None, "after": {"id": 1}}
    assert Action("delete", "g/p", {"id": 1}, None, note="why").as_dict()["note"] == "why"


def test_plan_summary_and_grouping():
    a, b = Target("a"), Target("b")
    plan = Plan([Action("create", a), Action("delete", a), Action("create", b)])
    assert list(plan.by_target()) == [a, b]
    assert plan.summary() == "2 create, 1 delete on 2 groups"
    assert Plan().summary() == "no change"


def test_journal_is_thread_safe_and_ordered_per_thread():
    journal = Journal()
    assert journal.changed is False

    def work(index):
        for step in range(100):
            journal.record(index, step)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(journal.changes) == 800 and journal.changed
    for index in range(8):
        assert [step for who, step in journal.changes if who == index] == list(range(100))


def test_diff_merges_several_actions_per_target_and_drops_absent_sides():
    target = Target("fleet/app")
    actions = [Action("create", target, None, {"id": 2}, data={"diff_key": "new"}),
               Action("delete", target, {"id": 1}, None, data={"diff_key": "old"})]
    assert diff_for(actions, "{} deploy tokens") == [{
        "before_header": "fleet/app deploy tokens", "after_header": "fleet/app deploy tokens",
        "before": {"old": {"id": 1}}, "after": {"new": {"id": 2}}}]


def test_label():
    assert label(Target("x")) == "x" and label("g/p") == "g/p" and label(None) is None
