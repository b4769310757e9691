# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Faults" suite (issue 12): every API module, every write step, four kinds of fault, one project hit.

Each case builds three projects, injects ONE fault on the test server for one
step of one project (method, path regex of that project, and where needed the
request body or position), runs the module once with ``max_retries: 1``, and
then checks, against the state read back with an independent python-gitlab
client before and after:

* the fault fired (else the case proves nothing);
* no target ended without a working credential, and the other projects got
  what the task asked for;
* the module's report: ``changed``, ``actions_done``, ``failed_targets``,
  "failed on 1 of N projects", "Changed before the failure" / "Nothing was
  changed." and the module's own fields all say what the server really has;
* without the fault, a re-run converges (then a further run has
  ``changed=False`` and sends no write) and leaves exactly the desired state.

The faults (``FAULTS``), all on the one step of the one project:

* ``5xx``: HTTP 500 on every attempt (nothing applied);
* ``lost``: GitLab applies every attempt, and every answer is lost (the
  connection drops after the handler committed);
* ``429``: a rate-limit storm, ``Retry-After: 0``, outlasting the retries;
* ``drop``: the connection drops before GitLab handles the request, every attempt;
* ``lost_once`` / ``drop_once``: the same, once (a retry or a check follows).

The matrix (``STEPS`` x ``FAULTS`` in each file; a read step too, where a
failure stops the task before any write, as documented):

* ``test_faults_deploy_key.py``: create, enable (link by key text),
  enable_by_id (a key known outside the task), update (PUT), delete (a
  purge_titles rotation), absent, recreate's removal, recreate's re-add, read;
* ``test_faults_deploy_token.py``: create, rotate_create (successor of a
  spec change), revoke (its predecessor's DELETE), absent, read;
* ``test_faults_protected_tag.py``: protect, the four writes of an update
  (protect the temporary rule, unprotect, re-protect, remove the temporary
  rule), unprotect, read;
* ``test_faults_info.py``: each read of the three ``*_info`` modules.

This file holds the shared machinery and the cases that cross modules. A case
that shows a defect in plugins/ carries a strict ``xfail`` naming it, a
temporary marker removed once the defect is fixed. Nothing secret is printed:
token secrets are taken out of every result before any assertion (``Run``).
"""

from __future__ import annotations

import re
from unittest import mock

import pytest
from ansible.module_utils import basic

from core_compat import isolated_warnings, patch_module_args
from sshkeys import public_key

from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key, deploy_token, protected_tag

pytestmark = pytest.mark.needs_control

MAX_RETRIES = 1

FAULTS = {
    "5xx": dict(status=500),
    "lost": dict(lose_answer=True),
    "429": dict(status=429, retry_after=0),
    "drop": dict(drop=True),
    "lost_once": dict(lose_answer=True, count=1),
    "drop_once": dict(drop=True, count=1),
}
PERSISTENT = ("5xx", "lost", "429", "drop")
REDACTED = "<secret>"


# --- running a module either way, secrets taken out -------------------------------------------

class _Ended(Exception):
    def __init__(self, failed, result):
        super().__init__("module ended")
        self.failed = failed
        self.result = result


def _exit_json(self, **kwargs):  # pylint: disable=unused-argument
    kwargs.setdefault("changed", False)
    raise _Ended(False, kwargs)


def _fail_json(self, msg, **kwargs):  # pylint: disable=unused-argument
    kwargs.update(failed=True, msg=msg)
    raise _Ended(True, kwargs)


class Secrets(dict):
    """Token secrets by token id; its repr (what pytest prints of it) shows the ids only."""

    def __repr__(self) -> str:
        return f"<secrets of tokens {sorted(self, key=str)}>"


class Run:
    """One module run: whether it failed, its result with every token secret replaced, the secrets by token id."""

    def __init__(self, failed: bool, result: dict) -> None:
        self.failed = failed
        self.secrets = Secrets()
        self.result = self._redact(result)

    def _redact(self, value):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "token" and isinstance(item, str):
                    self.secrets[value.get("id")] = item
                    out[key] = REDACTED
                else:
                    out[key] = self._redact(item)
            return out
        if isinstance(value, list):
            return [self._redact(item) for item in value]
        return value

    @property
    def msg(self) -> str:
        return self.result.get("msg", "")

    def __repr__(self) -> str:
        return f"Run(failed={self.failed}, msg={self.msg!r})"


def run_task(main, args: dict) -> Run:
    """Run a module's ``main()`` in-process; a failure is a result too (never raised, never printed)."""
    with patch_module_args(dict(args)), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json), \
            isolated_warnings():
        try:
            main()
        except _Ended as ended:
            return Run(ended.failed, ended.result)
    raise AssertionError("the module returned without calling exit_json or fail_json")


# --- one case -------------------------------------------------------------------------------------

def counted(number: int) -> str:
    return f"{number} project" if number == 1 else f"{number} projects"


class Scenario:
    """One step of one module with its fault target; subclasses fill in the state and the checks.

    ``projects`` are python-gitlab projects; ``args`` the module's task;
    ``fault`` the request to hit: ``method``, ``path`` (a regex) and extra
    rule fields (``match_body``, ``skip``); ``faulted`` the project it hits;
    ``total`` how many projects the step has work on (the "of N" a failure
    counts against).
    """

    module = None  # the module under test (its main() runs)

    def __init__(self, target, projects, args, method, path, faulted, total=None, **match) -> None:
        self.target = target
        self.projects = projects
        self.args = dict(api_url=target.url, api_token=target.admin_token, max_retries=MAX_RETRIES,
                         projects=[p.path_with_namespace for p in projects], **args)
        self.method = method
        self.path = path
        self.match = match
        self.faulted = faulted
        self.total = total if total is not None else len(projects)
        # A failed read stops the whole task before any write (the documented contract): the other
        # projects are then not expected to have got what the task asks.
        self.all_or_nothing = method == "GET"
        # A fault on every POST that adds the credential to the faulted project: nothing can put it there.
        self.cannot_add = method == "POST"

    def must_fail(self, fault: str):
        """Whether the run must fail under ``fault`` (``None``: either way, as long as it reports the truth).

        A fault on every attempt of a request the step needs cannot be overcome; a fault once is
        retried (or checked) and the run succeeds; an answer lost on every attempt is applied, so a
        module that reads back may succeed.
        """
        return {"5xx": True, "429": True, "drop": True, "drop_once": False, "lost_once": False}.get(fault)

    def exempt(self, label) -> bool:
        """Whether ``label`` is excused from having the credential after the faulted run."""
        return label == self.faulted_label and self.cannot_add

    @property
    def faulted_label(self) -> str:
        return self.faulted.path_with_namespace

    def labels(self):
        return [p.path_with_namespace for p in self.projects]

    # Subclasses: the state of every project ({label: comparable}), the checks after the faulted run
    # and after convergence. Each check returns a list of problems (empty: fine).
    def snapshot(self) -> dict:
        raise NotImplementedError

    def credentials(self, before, after, run) -> list:
        raise NotImplementedError

    def desired(self, after, run) -> list:
        raise NotImplementedError

    def report(self, before, after, run) -> list:  # pylint: disable=unused-argument
        """The module's own result fields against the server (besides what :func:`check_report` checks)."""
        return []


def fault_fired(target, scenario, fault: str) -> bool:
    """Whether the server's request log shows the fault acting on the scenario's request."""
    path = re.compile(scenario.path)
    for entry in target.requests()["log"]:
        if entry["method"] != scenario.method or not path.search(entry["path"]):
            continue
        rule = FAULTS[fault]
        if rule.get("lose_answer") and entry.get("answer_lost"):
            return True
        if rule.get("drop") and entry["status"] == 0:
            return True
        if rule.get("status") is not None and entry["status"] == rule["status"]:
            return True
    return False


def check_report(scenario, before, after, run, fault: str) -> list:
    """``changed``, ``actions_done``, ``failed_targets`` and the message against what changed on the server."""
    changed = {label for label in before if before[label] != after.get(label)}
    result, problems = run.result, []
    # Writes undone before the run failed (a recreate's removal linked back) are still writes: they count as
    # changed (something was written) although the project ends as it began.
    changed |= {entry["project"] for entry in result.get("changes", ()) if "link back" in entry["action"]}
    if result.get("changed") is not bool(changed):
        problems.append(f"changed={result.get('changed')} but the server changed on {sorted(changed) or 'nothing'}")
    if not run.failed:
        return problems
    done = set(result.get("actions_done", ()))
    if done != changed:
        problems.append(f"actions_done={sorted(done)} but the server changed on {sorted(changed)}")
    changes = {entry["project"] for entry in result.get("changes", ())}
    if changes != done:
        problems.append(f"changes name {sorted(changes)}, actions_done {sorted(done)}")
    if result.get("failed_targets") != [scenario.faulted_label]:
        problems.append(f"failed_targets={result.get('failed_targets')}, expected [{scenario.faulted_label}]")
    said = {"status": f"HTTP {FAULTS[fault].get('status')}", "drop": "did not answer", "lose_answer": "did not answer"}
    for kind, words in said.items():
        if FAULTS[fault].get(kind) and words not in run.msg:
            problems.append(f"msg does not say {words!r}: {run.msg!r}")
    if f"failed on 1 of {counted(scenario.total)}" not in run.msg:
        problems.append(f"msg does not say 'failed on 1 of {counted(scenario.total)}': {run.msg!r}")
    if done == changed:  # else already reported above
        if changed and f"Changed before the failure: {counted(len(changed))}:" not in run.msg:
            problems.append(f"msg does not say 'Changed before the failure: {counted(len(changed))}': {run.msg!r}")
        if not changed and not run.msg.endswith("Nothing was changed."):
            problems.append(f"nothing changed on the server, msg does not say so: {run.msg!r}")
    return problems


def fresh_projects(target, prefix: str, count: int = 3, readme: bool = False) -> list:
    """``count`` new projects on a server without faults, latency or clock offset.

    The server is not reset for each case (that costs more than the case):
    every case works on projects of its own.
    """
    target.clear_faults()
    target.set_latency(0)
    target.set_clock(0)
    return [target.make_project(f"{prefix}-{index}", initialize_with_readme=readme) for index in range(count)]


def run_case(target, scenario, fault: str) -> None:
    """Inject, run, compare with the server, converge; one assertion listing every problem found."""
    before = scenario.snapshot()
    target.add_fault(method=scenario.method, path=scenario.path, **scenario.match, **FAULTS[fault])
    try:
        target.clear_requests()
        run = run_task(scenario.module.main, scenario.args)
        fired = fault_fired(target, scenario, fault)
    finally:
        target.clear_faults()
    assert fired, f"the fault never acted on {scenario.method} {scenario.path}: the case proves nothing ({run!r})"
    after = scenario.snapshot()
    problems = [f"after the fault: {text}" for text in
                check_report(scenario, before, after, run, fault) + scenario.report(before, after, run)
                + scenario.credentials(before, after, run)]
    expected = scenario.must_fail(fault)
    if expected is not None and run.failed is not expected:
        problems.insert(0, f"the run {'succeeded' if expected else 'failed'} under {fault}: {run.msg}")

    first = run_task(scenario.module.main, scenario.args)
    if first.failed:
        problems.append(f"the re-run without the fault failed: {first.msg}")
    target.clear_requests()
    second = run_task(scenario.module.main, scenario.args)
    stats = target.requests()
    if second.failed or second.result["changed"] is not False or stats["writes"]:
        problems.append(f"a further run did not converge: {second!r}, changed={second.result.get('changed')}, "
                        f"writes={stats['writes']}")
    final = scenario.snapshot()
    problems += [f"after converging: {text}" for text in scenario.desired(final, first)]
    assert not problems, "\n".join(problems)


def defect(reason: str):
    """The temporary marker of a case that shows a defect in plugins/ (removed once it is fixed)."""
    return pytest.mark.xfail(strict=True, reason=f"defect: {reason}")


def cases(steps: dict, defects: dict) -> list:
    """``pytest.param(step, fault)`` for every step and fault, marked where ``defects[(step, fault)]`` names one."""
    params = []
    for step in steps:
        for fault in FAULTS:
            reason = defects.get((step, fault))
            params.append(pytest.param(step, fault, id=f"{step}-{fault}",
                                       marks=[defect(reason)] if reason else []))
    return params


# --- cases across modules: a DELETE whose answer was lost is still a change ---------------------

def _seed_key(target, project):
    key = public_key(comment="fleet@ctl")
    remote = target.admin_client().projects.get(project.id, lazy=True)
    remote.keys.create({"title": "fleet", "key": key})
    return dict(module=deploy_key, args=dict(key=key, state="absent"), left=lambda: remote.keys.list(get_all=True),
                path=target.api_path_regex(project, "deploy_keys", "[0-9]+"))


def _seed_token(target, project):
    remote = target.admin_client().projects.get(project.id, lazy=True)
    remote.deploytokens.create({"name": "pull", "scopes": ["read_registry"]})
    return dict(module=deploy_token, args=dict(name="pull", state="absent"),
                left=lambda: remote.deploytokens.list(get_all=True),
                path=target.api_path_regex(project, "deploy_tokens", "[0-9]+"))


def _seed_protection(target, project):
    remote = target.admin_client().projects.get(project.id, lazy=True)
    remote.protectedtags.create({"name": "v*", "create_access_level": 40})
    return dict(module=protected_tag, args=dict(name="v*", state="absent"),
                left=lambda: remote.protectedtags.list(get_all=True),
                path=target.api_path_regex(project, "protected_tags", "v%2A"))


@pytest.mark.parametrize("seed", [
    pytest.param(_seed_key, id="deploy_key"),
    pytest.param(_seed_token, id="deploy_token"),
    pytest.param(_seed_protection, id="protected_tag"),
])
def test_a_delete_whose_answer_was_lost_is_reported_as_a_change(gitlab_target, seed):
    """The only write of the run is a DELETE GitLab applied; its answer is lost and the retry meets 404."""
    (project,) = fresh_projects(gitlab_target, "lostdel", count=1)
    task = seed(gitlab_target, project)
    gitlab_target.add_fault(method="DELETE", path=task["path"], lose_answer=True, count=1)
    try:
        run = run_task(task["module"].main, dict(api_url=gitlab_target.url, api_token=gitlab_target.admin_token,
                                                 max_retries=MAX_RETRIES, projects=[project.path_with_namespace],
                                                 **task["args"]))
        assert not gitlab_target.faults(), "the fault did not act"
    finally:
        gitlab_target.clear_faults()
    assert not run.failed, run.msg
    assert task["left"]() == [], "GitLab applied the DELETE"
    assert run.result["changed"] is True, "GitLab deleted it for this run's request: something was written"
