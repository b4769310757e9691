# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults suite, the *_info modules: every read they send x every fault, on one project of three.

The machinery and the faults are described in ``test_faults.py``. A read
that keeps failing fails the task naming that project (``failed on 1 of 3
projects``, ``changed=false``, nothing written); a read that fails once is
retried and the result is exactly what a run without any fault returns.
"""

from __future__ import annotations

import pytest

from test_faults import Scenario, cases, fresh_projects, run_case, run_task

from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key_info, deploy_token_info, protected_tag_info

pytestmark = pytest.mark.needs_control


class InfoScenario(Scenario):
    """Nothing may change; the data must be the fault-free run's (``field`` of the result)."""

    def __init__(self, target, projects, module, field, path, **match):
        super().__init__(target, projects, {}, "GET", path, projects[1], **match)
        self.module = module
        self.field = field
        baseline = run_task(module.main, self.args)
        assert not baseline.failed, baseline.msg
        self.baseline = baseline.result[field]
        missing = [label for label in self.labels() if label not in str(self.baseline)]
        assert not missing, f"no seeded data on {missing}: the case would prove nothing"

    def snapshot(self) -> dict:
        return {label: None for label in self.labels()}  # a read changes nothing: the writes are counted instead

    def credentials(self, before, after, run) -> list:
        problems = []
        writes = self.target.requests()["writes"]  # the faulted run's requests only
        if writes:
            problems.append(f"the info module sent {writes} writes")
        if not run.failed and run.result[self.field] != self.baseline:
            problems.append(f"{self.field} differs from the run without a fault")
        return problems

    def desired(self, after, run) -> list:
        return [] if run.result[self.field] == self.baseline else [f"{self.field} differs after the fault is gone"]


def _deploy_keys(target, projects):
    from sshkeys import public_key  # pylint: disable=import-outside-toplevel
    key = public_key(comment="fleet@ctl")
    gl = target.admin_client()
    for project in projects:
        gl.projects.get(project.id, lazy=True).keys.create({"title": "fleet", "key": key})
    return InfoScenario(target, projects, deploy_key_info, "deploy_keys",
                        target.api_path_regex(projects[1], "deploy_keys"))


def _deploy_tokens(target, projects):
    gl = target.admin_client()
    for project in projects:
        gl.projects.get(project.id, lazy=True).deploytokens.create({"name": "pull", "scopes": ["read_registry"]})
    return InfoScenario(target, projects, deploy_token_info, "deploy_tokens",
                        target.api_path_regex(projects[1], "deploy_tokens"))


def _protected(target, projects, what):
    gl = target.admin_client()
    for project in projects:
        remote = gl.projects.get(project.id, lazy=True)
        remote.protectedtags.create({"name": "v*", "create_access_level": 40})
        remote.tags.create({"tag_name": "v1.0.0", "ref": project.default_branch})
    return InfoScenario(target, projects, protected_tag_info, "protected_tags",
                        target.api_path_regex(projects[1], *what))


STEPS = {
    "deploy_key_info": _deploy_keys,
    "deploy_token_info": _deploy_tokens,
    "protected_tag_info": lambda target, projects: _protected(target, projects, ["protected_tags"]),
    "protected_tag_info_tags": lambda target, projects: _protected(target, projects, ["repository", "tags"]),
}

DEFECTS: dict = {}


@pytest.mark.parametrize("step, fault", cases(STEPS, DEFECTS))
def test_info_fault(gitlab_target, step, fault):
    projects = fresh_projects(gitlab_target, "fin", readme=True)
    run_case(gitlab_target, STEPS[step](gitlab_target, projects), fault)
