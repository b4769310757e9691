# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The "read -> plan -> apply" vocabulary shared by every module.

A module reads current state, then a *pure* planning function (no client, no
``module``, no I/O) turns current and desired state into a :class:`Plan`: a
list of :class:`Action` plus notes. Check mode returns that plan unapplied,
so check mode and a real run report the same plan by construction. While a
plan is applied, a :class:`Journal` records every write GitLab accepted, so a
failed run says exactly what had changed. The diff is derived from the plan,
one before/after pair per target, and never holds a secret.
"""

from __future__ import annotations

import threading


class Action:
    """One change on one target (project or group).

    ``kind`` is a verb the module documents (``create``, ``enable``,
    ``update``, ``delete``, ``protect``, ``unprotect``...). ``before`` and
    ``after`` are the non-secret attributes of the object on that target
    (``None`` for "absent"). ``note`` explains anything GitLab will not do
    the way the user may expect. ``data`` holds what apply needs and the user
    does not see (ids, request bodies); ``data["diff_key"]`` names the object
    in the diff.
    """

    __slots__ = ("kind", "target", "before", "after", "note", "data")

    def __init__(self, kind: str, target, before=None, after=None, note=None, data=None) -> None:
        self.kind = kind
        self.target = target
        self.before = before
        self.after = after
        self.note = note
        self.data = data or {}

    def as_dict(self) -> dict:
        result = {"action": self.kind, "project": label(self.target), "before": self.before, "after": self.after}
        if self.note:
            result["note"] = self.note
        return result

    def __repr__(self) -> str:
        return f"Action({self.kind!r}, {self.target!r})"


class Plan:
    """What a run will do: the actions in the order apply runs them, and notes for the user.

    ``context`` carries what the module's result needs besides the actions
    (the token each target keeps, the key's id...), so planning stays pure.
    """

    __slots__ = ("actions", "notes", "context")

    def __init__(self, actions=(), notes=(), context=None) -> None:
        self.actions = list(actions)
        self.notes = list(notes)
        self.context = dict(context or {})

    def by_target(self) -> dict:
        """``{target: [actions]}``, targets in the order of their first action."""
        grouped: dict = {}
        for action in self.actions:
            grouped.setdefault(action.target, []).append(action)
        return grouped

    def summary(self) -> str:
        """``2 enable, 1 update on 3 projects`` (or ``no change``)."""
        if not self.actions:
            return "no change"
        counts: dict = {}
        for action in self.actions:
            counts[action.kind] = counts.get(action.kind, 0) + 1
        targets = self.by_target()
        noun = getattr(next(iter(targets)), "kind", "target")
        kinds = ", ".join(f"{number} {kind}" for kind, number in counts.items())
        return f"{kinds} on {len(targets)} {noun}{'' if len(targets) == 1 else 's'}"


class Journal:
    """Every write GitLab accepted during one run, in order, as ``(target, what)``.

    Thread-safe: per-target work runs on a pool. ``changed`` is the truth a
    result reports, also when the run fails part-way.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.changes: list = []

    def record(self, target, what: str) -> None:
        with self._lock:
            self.changes.append((target, what))

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def diff_for(actions, header: str = "{}") -> list:
    """Ansible diff entries: one before/after pair per target that changes.

    Targets with several actions get their states merged in action order, so
    the diff shows the state before the first and after the last action.
    """
    per_target: dict = {}
    for action in actions:
        entry = per_target.setdefault(action.target, {"before": {}, "after": {}})
        key = action.data.get("diff_key", action.kind)
        entry["before"].setdefault(key, action.before)
        entry["after"][key] = action.after
    return [
        {
            "before_header": header.format(label(target)),
            "after_header": header.format(label(target)),
            "before": _present(states["before"]),
            "after": _present(states["after"]),
        }
        for target, states in per_target.items()
    ]


def label(target):
    """How a target is shown in results: its label (as the task named it), or itself."""
    return getattr(target, "label", target)


def _present(states: dict) -> dict:
    # Drop "absent" entries so the diff shows only what exists on each side.
    return {key: value for key, value in states.items() if value is not None}
