# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults suite, protected_tag: every write step (and the read) x every fault, on one project of three.

The machinery and the faults are described in ``test_faults.py``. GitLab has
no update for a protected tag, so an update is four writes, each faulted on
its own: protect the temporary rule ``v**`` (``match_body`` picks that POST),
unprotect ``v*``, protect ``v*`` again (the second POST: ``skip: 1``) and
unprotect ``v**``. Here the "credential" is the guard: a project whose ``v*``
tags were protected must have some rule covering them (``v*`` or a temporary
``v**``) at the end of every run, and no rule may be left that the task did
not ask for once the task has converged.

An update stopped for good before ``v*`` was re-created (its unprotect or its
re-protect keeps failing) converges in two runs, not one: a run removes a
temporary rule only once ``v*`` was re-created after it (it may be another
run's, in use, until then), so the first re-run re-creates ``v*`` and the
second removes ``v**`` (:func:`test_an_update_stopped_before_the_rule_was_re_created_converges_in_two_runs`).
"""

from __future__ import annotations

import pytest

from test_faults import PERSISTENT, Scenario, cases, fresh_projects, run_case, run_task

from ansible_collections.runnercreds.gitlab.plugins.modules import protected_tag

pytestmark = pytest.mark.needs_control

MAINTAINER, DEVELOPER = 40, 30
COVERING = ("v*", "v**", "v***")  # GitLab's matcher: each of these matches every v... tag


class TagScenario(Scenario):
    module = protected_tag

    def __init__(self, target, projects, args, method, path, faulted, level=None, **match):
        super().__init__(target, projects, dict(args, name="v*"), method, path, faulted, **match)
        self.level = level

    @property
    def absent(self) -> bool:
        return self.args.get("state") == "absent"

    def snapshot(self) -> dict:
        gl = self.target.admin_client()
        state = {}
        for project in self.projects:
            found = {}
            for item in gl.projects.get(project.id, lazy=True).protectedtags.list(get_all=True):
                found[item.name] = tuple(sorted((row.get("access_level"), row.get("deploy_key_id"), row.get("user_id"),
                                                 row.get("group_id")) for row in item.create_access_levels))
            state[project.path_with_namespace] = found
        return state

    def credentials(self, before, after, run) -> list:
        problems = []
        for label in self.labels():
            covered = [name for name in COVERING if name in after[label]]
            if self.absent:
                if label != self.faulted_label and "v*" in after[label]:
                    problems.append(f"{label} still protects v*, and no fault hit it")
                continue
            if any(name in before[label] for name in COVERING) and not covered:
                problems.append(f"{label}: its v* tags were protected before the run and are not now")
            if self.exempt(label) or (self.all_or_nothing and run.failed):
                continue
            if label != self.faulted_label and after[label] != {"v*": ((self.level, None, None, None),)}:
                problems.append(f"{label}: no fault hit it, and it has {after[label]}, not v* at {self.level}")
        return problems

    def report(self, before, after, run) -> list:
        """An interrupted update says what GitLab has now for v* and the temporary v**: it must be true."""
        said = run.msg.partition("Now on GitLab: ")[2].partition(". Run the task again")[0]
        if not run.failed or not said:
            return []
        problems = []
        state = after[self.faulted_label]
        for name, text in (part.split(": ", 1) for part in said.split("; ")):
            if (text == "not protected") is (name in state):
                problems.append(f"the message says {name}: {text}; GitLab has {state.get(name, 'no rule')}")
        return problems

    def desired(self, after, run) -> list:
        wanted = {} if self.absent else {"v*": ((self.level, None, None, None),)}
        return [f"{label}: {after[label]}, expected {wanted}" for label in self.labels() if after[label] != wanted]


def _seed(target, projects, level=MAINTAINER):
    gl = target.admin_client()
    for project in projects:
        gl.projects.get(project.id, lazy=True).protectedtags.create({"name": "v*", "create_access_level": level})


def _protect(target, projects):
    return TagScenario(target, projects, dict(create_access_level="maintainer"), "POST",
                       target.api_path_regex(projects[1], "protected_tags"), projects[1], level=MAINTAINER)


def _update(target, projects, method, path, **match):
    """v* at Maintainer on every project; the task asks Developer: an update (four writes) on each."""
    _seed(target, projects)
    return TagScenario(target, projects, dict(create_access_level="developer"), method, path, projects[1],
                       level=DEVELOPER, **match)


def _temporary(target, projects):
    return _update(target, projects, "POST", target.api_path_regex(projects[1], "protected_tags"),
                   match_body={"name": "v**"})


def _unprotect_old(target, projects):
    return _update(target, projects, "DELETE", target.api_path_regex(projects[1], "protected_tags", "v%2A"))


def _reprotect(target, projects):
    # The second POST of the update on that project: the first one protects the temporary rule.
    return _update(target, projects, "POST", target.api_path_regex(projects[1], "protected_tags"), skip=1)


def _remove_temporary(target, projects):
    return _update(target, projects, "DELETE", target.api_path_regex(projects[1], "protected_tags", "v%2A%2A"))


def _unprotect(target, projects):
    _seed(target, projects)
    return TagScenario(target, projects, dict(state="absent"), "DELETE",
                       target.api_path_regex(projects[1], "protected_tags", "v%2A"), projects[1])


def _read(target, projects):
    _seed(target, projects[:1])
    return TagScenario(target, projects, dict(create_access_level="maintainer"), "GET",
                       target.api_path_regex(projects[1], "protected_tags"), projects[1], level=MAINTAINER)


STEPS = {
    "protect": _protect,
    "update_protect_temporary": _temporary,
    "update_unprotect": _unprotect_old,
    "update_reprotect": _reprotect,
    "update_remove_temporary": _remove_temporary,
    "unprotect": _unprotect,
    "read": _read,
}

# Defects this suite found in plugins/ (fixed): a DELETE whose answers were all lost is confirmed by
# reading back.
DEFECTS: dict = {}


# The update stops before v* is re-created, and the temporary v** stays: one more run is needed (below).
STOPPED_BEFORE_RE_CREATE = {(step, fault) for step in ("update_unprotect", "update_reprotect") for fault in PERSISTENT
                            if fault != "lost"}  # a lost answer is confirmed by reading back: the update finishes


@pytest.mark.parametrize("step, fault", cases(STEPS, DEFECTS))
def test_protected_tag_fault(gitlab_target, step, fault):
    projects = fresh_projects(gitlab_target, "fpt")
    scenario = STEPS[step](gitlab_target, projects)
    if (step, fault) in STOPPED_BEFORE_RE_CREATE:
        scenario = TwoRunScenario(scenario)
    run_case(gitlab_target, scenario, fault)


class TwoRunScenario:
    """A scenario whose faulted run leaves ``v*`` not re-created and ``v**`` in place: the first re-run
    re-creates ``v*`` and keeps ``v**``, the next removes ``v**``.

    ``run_case`` re-runs the task twice and wants the second re-run to write
    nothing; here the first of those is two runs. The task's ``main`` is
    wrapped: when the faulted run is over (its state read by ``snapshot``),
    the first call without the fault runs the task once, checks exactly what
    it did, and runs it again, which must remove ``v**`` and nothing else.
    """

    def __init__(self, scenario) -> None:
        self.scenario = scenario
        self.calls = 0
        self.problems: list = []
        self.module = self

    def __getattr__(self, name):
        return getattr(self.scenario, name)

    def main(self) -> None:
        self.calls += 1
        if self.calls != 2:  # the faulted run, and the last re-run (which must write nothing)
            self.scenario.module.main()
            return
        args = self.scenario.args
        label = self.scenario.faulted_label
        stopped = self.scenario.snapshot()[label]
        level = ((self.scenario.level, None, None, None),)
        if "v**" not in stopped or stopped.get("v*") == level:
            self.problems.append(f"the faulted run did not stop before v* was re-created: {stopped}")
        first = run_task(self.scenario.module.main, args)
        between = self.scenario.snapshot()
        # The first re-run re-creates v* (or protects it, if the faulted run had unprotected it) and keeps
        # v**: v* was not re-created after v**, so v** may be another run's temporary rule, still in use.
        if first.failed or first.result["changed"] is not True or between[label] != {"v*": level, "v**": level}:
            self.problems.append(f"the first re-run: {first!r}, changed={first.result.get('changed')}, "
                                 f"left {between[label]}")
        for other in self.scenario.labels():
            if other != label and between[other] != {"v*": level}:
                self.problems.append(f"the first re-run left {other} with {between[other]}")
        # The second removes v**, now older than v*, and nothing else; the tags stay covered throughout.
        self.scenario.module.main()

    def desired(self, after, run) -> list:
        """``run`` is the second re-run: it removed v** on the faulted project, nothing more, and said so."""
        problems = list(self.problems)
        if self.calls < 3:
            problems.append(f"run_case ran the task {self.calls} times, expected 3 or more")
        done = [(action["action"], action["before"] and action["before"]["name"])
                for action in run.result.get("actions", ())]
        if run.result.get("changed") is not True or done != [("unprotect", "v**")]:
            problems.append(f"the second re-run: changed={run.result.get('changed')}, actions {done}, "
                            "expected the removal of v** alone")
        return problems + self.scenario.desired(after, run)
