# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The "desired -> plan -> apply" vocabulary shared by every module.

A module reads current state, then a *pure* planning function (no client, no
``module``, no I/O) turns current and desired state into a list of
:class:`Action`. Check mode returns that list unapplied, so check mode and a
real run report the same plan by construction. The diff is derived from the
plan, one before/after pair per project, and never holds a secret.
"""

from __future__ import annotations


class Action:
    """One change on one target (project or group).

    ``kind`` is a verb the module documents (``create``, ``enable``,
    ``update``, ``delete``, ``protect``, ``unprotect``...). ``before`` and
    ``after`` are the non-secret attributes of the object on that target
    (``None`` for "absent"). ``note`` explains anything GitLab will not do
    the way the user may expect.
    """

    __slots__ = ("kind", "target", "before", "after", "note", "data")

    def __init__(self, kind, target, before=None, after=None, note=None, data=None):
        self.kind = kind
        self.target = target
        self.before = before
        self.after = after
        self.note = note
        # Anything apply() needs that is not for the user's eyes (ids, objects).
        self.data = data or {}

    def as_dict(self):
        result = {"action": self.kind, "project": self.target, "before": self.before, "after": self.after}
        if self.note:
            result["note"] = self.note
        return result

    def __repr__(self):
        return "Action(%r, %r)" % (self.kind, self.target)


def diff_for(actions, header="%s"):
    """Ansible diff entries: one before/after pair per target that changes.

    Targets with several actions get their states merged in action order, so
    the diff shows the state before the first and after the last action.
    """
    per_target = {}
    order = []
    for action in actions:
        if action.target not in per_target:
            per_target[action.target] = {"before": {}, "after": {}}
            order.append(action.target)
        entry = per_target[action.target]
        key = action.data.get("diff_key", action.kind)
        entry["before"].setdefault(key, action.before)
        entry["after"][key] = action.after
    return [
        {
            "before_header": header % target,
            "after_header": header % target,
            "before": _yaml_friendly(per_target[target]["before"]),
            "after": _yaml_friendly(per_target[target]["after"]),
        }
        for target in order
    ]


def _yaml_friendly(states):
    # Drop "absent" entries so the diff shows only what exists on each side.
    return {key: value for key, value in states.items() if value is not None}
