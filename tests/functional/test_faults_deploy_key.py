# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults suite, deploy_key: every write step (and the read) x every fault, on one project of three.

The machinery and the faults are described in ``test_faults.py``. A deploy
key is a working credential on a project when a key with its SHA256
fingerprint is enabled there, whatever its title, expiry or ``can_push``.
"""

from __future__ import annotations

import datetime

import pytest

from sshkeys import public_key
from test_faults import Scenario, cases, fresh_projects, run_case

from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key

pytestmark = pytest.mark.needs_control


def _expiry(days: int) -> str:
    return (datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, second=0, minute=0)
            + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyScenario(Scenario):
    module = deploy_key

    def __init__(self, target, projects, key, args, method, path, faulted, total=None, old=None, **match):
        super().__init__(target, projects, dict(args, key=key), method, path, faulted, total, **match)
        self.key = key
        self.fingerprint = parse_public_key(key).fingerprint_sha256
        self.old = parse_public_key(old).fingerprint_sha256 if old else None
        self.wanted = {}  # what the converged state must be: {attribute: value} of the key on every project

    def snapshot(self) -> dict:
        gl = self.target.admin_client()
        state = {}
        for project in self.projects:
            keys = gl.projects.get(project.id, lazy=True).keys.list(get_all=True)
            state[project.path_with_namespace] = {
                k.fingerprint_sha256: (k.id, k.title, bool(k.can_push), (k.expires_at or "")[:19]) for k in keys}
        return state

    def has(self, state, label, fingerprint=None) -> bool:
        return (fingerprint or self.fingerprint) in state[label]

    def credentials(self, before, after, run) -> list:
        problems = []
        for label in self.labels():
            had = self.has(before, label) or (self.old is not None and self.has(before, label, self.old))
            if self.args.get("state") == "absent":
                if label != self.faulted_label and self.has(after, label):
                    problems.append(f"{label} still has the key the task removes, and no fault hit it")
                continue
            working = self.has(after, label) or (self.old is not None and self.has(after, label, self.old))
            if self.exempt(label):
                continue
            if had and not working:
                problems.append(f"{label} had a working deploy key before the run and has none now")
            elif not self.has(after, label) and not (self.all_or_nothing and run.failed):
                problems.append(f"{label} was asked to have the key, no fault kept it from adding it, and it does not")
        return problems

    def report(self, before, after, run) -> list:
        if run.failed or self.args.get("state") == "absent":
            return []
        ids = {after[label][self.fingerprint][0] for label in self.labels() if self.has(after, label)}
        reported = run.result.get("deploy_key", {}).get("id")
        return [] if ids == {reported} else [f"deploy_key.id={reported}, the server has key ids {sorted(ids)}"]

    def desired(self, after, run) -> list:
        problems = []
        for label in self.labels():
            keys = after[label]
            if self.args.get("state") == "absent":
                if self.fingerprint in keys:
                    problems.append(f"{label} still has the key")
                continue
            if self.fingerprint not in keys:
                problems.append(f"{label} has no key")
                continue
            dummy, title, can_push, expires_at = keys[self.fingerprint]
            now = {"title": title, "can_push": can_push, "expires_at": expires_at}
            wrong = {name: now[name] for name, value in self.wanted.items() if now[name] != value}
            if wrong:
                problems.append(f"{label}: the key has {wrong}, expected {self.wanted}")
            if self.old is not None and self.old in keys:
                problems.append(f"{label} still has the old key")
        ids = {after[label][self.fingerprint][0] for label in self.labels() if self.fingerprint in after[label]}
        if len(ids) > 1:
            problems.append(f"one key expected, the projects have key ids {sorted(ids)}")
        return problems


def _seed(target, projects, key, title="fleet", can_push=False, expires_at=None):
    gl = target.admin_client()
    for project in projects:
        data = {"title": title, "key": key, "can_push": can_push}
        if expires_at:
            data["expires_at"] = expires_at
        gl.projects.get(project.id, lazy=True).keys.create(data)


def _create(target, projects):
    key = public_key(comment="fleet@ctl")
    scenario = KeyScenario(target, projects, key, dict(title="fleet", can_push=True), "POST",
                           target.api_path_regex(projects[0], "deploy_keys"), projects[0])
    scenario.wanted = {"title": "fleet", "can_push": True}
    return scenario


def _enable(target, projects):
    key = public_key(comment="fleet@ctl")
    _seed(target, projects[:1], key, can_push=True)
    scenario = KeyScenario(target, projects, key, dict(title="fleet", can_push=True), "POST",
                           target.api_path_regex(projects[1], "deploy_keys"), projects[1], total=2)
    scenario.wanted = {"title": "fleet", "can_push": True}
    return scenario


def _enable_by_id(target, projects):
    """The key is known outside the task under another comment: POST by text meets "has already been taken",
    the module finds it by fingerprint and enables it by id on the first project, then links the others."""
    outside = target.make_project("fdk-outside", initialize_with_readme=False)
    key = public_key(comment="first@host")
    _seed(target, [outside], key, can_push=False)
    scenario = KeyScenario(target, projects, key.replace("first@host", "second@host"), dict(title="fleet"), "POST",
                           target.api_path_regex(projects[0], "deploy_keys", "[0-9]+", "enable"), projects[0])
    scenario.wanted = {"title": "fleet", "can_push": False}
    return scenario


def _update(target, projects):
    key = public_key(comment="fleet@ctl")
    _seed(target, projects, key, can_push=False)
    scenario = KeyScenario(target, projects, key, dict(title="fleet", can_push=True), "PUT",
                           target.api_path_regex(projects[1], "deploy_keys", "[0-9]+"), projects[1])
    scenario.wanted = {"title": "fleet", "can_push": True}
    return scenario


def _delete(target, projects):
    """Rotation: the new key on every project, then the old one (purge_titles) removed: successor first."""
    old, key = public_key(comment="old@ctl"), public_key(comment="new@ctl")
    _seed(target, projects, old, title="fleet-2024")
    scenario = KeyScenario(target, projects, key, dict(title="fleet-2025", purge_titles=["fleet-2024"]), "DELETE",
                           target.api_path_regex(projects[1], "deploy_keys", "[0-9]+"), projects[1], old=old)
    scenario.wanted = {"title": "fleet-2025", "can_push": False}
    return scenario


def _absent(target, projects):
    key = public_key(comment="fleet@ctl")
    _seed(target, projects, key)
    return KeyScenario(target, projects, key, dict(state="absent"), "DELETE",
                       target.api_path_regex(projects[1], "deploy_keys", "[0-9]+"), projects[1])


def _recreate(target, projects, method, faulted):
    """recreate: true for a new expiry: the key is removed from every project, then added again."""
    key = public_key(comment="fleet@ctl")
    _seed(target, projects, key, expires_at=_expiry(30))
    new_expiry = _expiry(60)
    path = target.api_path_regex(faulted, "deploy_keys", "[0-9]+") if method == "DELETE" else \
        target.api_path_regex(faulted, "deploy_keys")
    scenario = KeyScenario(target, projects, key, dict(title="fleet", expires_at=new_expiry, recreate=True), method,
                           path, faulted)
    scenario.wanted = {"title": "fleet", "expires_at": new_expiry[:19]}
    return scenario


def _recreate_removal(target, projects):
    return _recreate(target, projects, "DELETE", projects[1])


def _recreate_readd(target, projects):
    return _recreate(target, projects, "POST", projects[0])


def _read(target, projects):
    key = public_key(comment="fleet@ctl")
    _seed(target, projects[:1], key)
    scenario = KeyScenario(target, projects, key, dict(title="fleet"), "GET",
                           target.api_path_regex(projects[1], "deploy_keys"), projects[1])
    scenario.wanted = {"title": "fleet", "can_push": False}
    return scenario


STEPS = {
    "create": _create,
    "enable": _enable,
    "enable_by_id": _enable_by_id,
    "update": _update,
    "delete": _delete,
    "absent": _absent,
    "recreate_removal": _recreate_removal,
    "recreate_readd": _recreate_readd,
    "read": _read,
}

# Defects this suite found in plugins/ (all fixed): a create failing on the first project no longer
# stops the others; every write whose answer was lost is confirmed by reading back; a failed recreate
# removal links the key back where it was removed.
DEFECTS: dict = {}


@pytest.mark.parametrize("step, fault", cases(STEPS, DEFECTS))
def test_deploy_key_fault(gitlab_target, step, fault):
    projects = fresh_projects(gitlab_target, "fdk")
    run_case(gitlab_target, STEPS[step](gitlab_target, projects), fault)
