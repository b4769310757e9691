# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The site playbook's fleet policy, on the controller, against the GitLab test server (or a real GitLab).

The inventory has the shape of docs/inventory (build, release and deploy runners, projects by group, an
exclusive project set); its hosts are never reached: these tests run the controller-side plays only
(``--tags protected_tags,exclusive``), with the hosts' keys registered through the API the way the roles leave
them (title ``runner:<host>``). The host side is proven with containers by the Molecule scenario ``fleet``.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from ansible_cli import BIN, REPO, ansible_env
from sshkeys import public_key

SITE = os.path.join(REPO, "playbooks", "site.yml")
SHAPE = os.path.join(REPO, "playbooks", "fleet_shape.yml")
MAINTAINER = 40


def write_inventory(tmp_path, target, fleet_vars: dict, hosts=("build-01", "release-01", "deploy-01")) -> str:
    root = tmp_path / "inventory"
    (root / "group_vars").mkdir(parents=True, exist_ok=True)
    groups = {"build": {}, "release": {}, "deploy": {}}
    for host in hosts:
        groups[host.split("-", maxsplit=1)[0]][host] = None
    inventory = {"all": {"children": {"runners": {"children": {
        name: {"hosts": members} for name, members in groups.items() if members}}}}}
    (root / "hosts.yml").write_text(yaml.safe_dump(inventory))
    common = {"ansible_connection": "local", "runnercreds_gitlab_url": target.url,
              "runnercreds_gitlab_token": target.admin_token}
    common.update(fleet_vars)
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump(common))
    (root / "group_vars" / "build.yml").write_text(yaml.safe_dump({
        "runnercreds_credentials": fleet_vars.get("_build_credentials", ["ssh_key"]),
        "runner_ssh_key_projects": [{"project_set": "platform", "can_push": False}]}))
    (root / "group_vars" / "release.yml").write_text(yaml.safe_dump({
        "runnercreds_credentials": ["ssh_key"],
        "runner_ssh_key_projects": [{"project_set": "platform", "can_push": True}]}))
    (root / "group_vars" / "deploy.yml").write_text(yaml.safe_dump({
        "runnercreds_credentials": ["deploy_token"],
        "runner_deploy_token_tokens": [{"name": "registry-pull", "group": fleet_vars["_group"],
                                        "scopes": ["read_registry"]}]}))
    return str(root / "hosts.yml")


def playbook(tmp_path, inventory, *options, path=SITE):
    env = ansible_env(tmp_path, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    run = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inventory, path, *options],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        report = None
    return run, report


def task_results(report, name_part):
    found = []
    for play in report["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                for result in task["hosts"].values():
                    found.extend(result["results"] if "results" in result else [result])
    return found


def changed_total(report):
    return sum(stats["changed"] for stats in report["stats"].values())


@pytest.fixture
def fleet(gitlab_target, clean_target):
    """A platform group (a subgroup, a sandbox), a project outside it, and the keys and tokens a fleet left."""
    gl = gitlab_target.admin_client()
    platform = gitlab_target.make_group("platform")
    backend = gitlab_target.make_group("backend", parent_id=platform.id)
    tools = gitlab_target.make_group("tools")
    projects = {
        "api": gitlab_target.make_project("api", namespace_id=platform.id),
        "web": gitlab_target.make_project("web", namespace_id=platform.id),
        "worker": gitlab_target.make_project("worker", namespace_id=backend.id),
        "sandbox": gitlab_target.make_project("sandbox", namespace_id=platform.id),
        "scripts": gitlab_target.make_project("scripts", namespace_id=tools.id),
    }
    in_set = ["api", "web", "worker", "scripts"]
    keys = {title: public_key(comment=title) for title in
            ("runner:build-01", "runner:release-01", "runner:gone-01", "laptop")}
    for name in in_set:
        project = gl.projects.get(projects[name].id)
        project.keys.create({"title": "runner:build-01", "key": keys["runner:build-01"], "can_push": False})
        project.keys.create({"title": "runner:release-01", "key": keys["runner:release-01"], "can_push": True})
    # A decommissioned host's key and someone's laptop key; a key on the excluded sandbox is none of our business.
    gl.projects.get(projects["api"].id).keys.create({"title": "runner:gone-01", "key": keys["runner:gone-01"],
                                                     "can_push": True})
    gl.projects.get(projects["web"].id).keys.create({"title": "laptop", "key": keys["laptop"]})
    gl.projects.get(projects["sandbox"].id).keys.create({"title": "laptop", "key": keys["laptop"]})
    gl.groups.get(platform.id).deploytokens.create({"name": "registry-pull", "scopes": ["read_registry"]})
    gl.groups.get(platform.id).deploytokens.create({"name": "gone-01-pull", "scopes": ["read_registry"]})
    gl.projects.get(projects["api"].id).deploytokens.create({"name": "old-ci", "scopes": ["read_repository"]})
    gl.projects.get(projects["sandbox"].id).deploytokens.create({"name": "old-ci", "scopes": ["read_repository"]})
    paths = {name: project.path_with_namespace for name, project in projects.items()}
    fleet_vars = {
        "_group": platform.full_path,
        "runnercreds_project_sets": {"platform": {
            "groups": [platform.full_path], "projects": [paths["scripts"]],
            "exclude": [f"{platform.full_path}/sandbox-*"], "exclusive": True}},
        "runnercreds_protected_tags": [{
            "project_set": "platform", "name": "v*", "create_access_level": "maintainer",
            "allowed_to_create": [{"deploy_keys_of": "release"}], "block_branch_names": True}],
    }
    return dict(gl=gl, platform=platform, paths=paths, in_set=in_set, keys=keys, vars=fleet_vars)


def key_titles(fleet, name):
    return sorted(key.title for key in fleet["gl"].projects.get(fleet["paths"][name]).keys.list(get_all=True))


def token_names(owner):
    return sorted(token.name for token in owner.deploytokens.list(get_all=True))


def test_exclusive_set_check_mode_then_apply_then_no_change(tmp_path, gitlab_target, fleet):
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    gl, paths = fleet["gl"], fleet["paths"]
    group = gl.groups.get(fleet["platform"].id)

    check, report = playbook(tmp_path, inventory, "--tags", "protected_tags,exclusive", "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    removals = task_results(report, "remove the deploy keys")
    assert sorted(r["item"]["title"] for r in removals if r.get("changed")) == ["laptop", "runner:gone-01"]
    revokes = [r["item"]["name"] for r in task_results(report, "revoke the deploy tokens") if r.get("changed")]
    assert sorted(revokes) == ["gone-01-pull", "old-ci"]
    # Check mode wrote nothing.
    assert "runner:gone-01" in key_titles(fleet, "api") and "laptop" in key_titles(fleet, "web")
    assert token_names(group) == ["gone-01-pull", "registry-pull"]
    assert gl.projects.get(paths["api"]).protectedtags.list(get_all=True) == []

    run, report = playbook(tmp_path, inventory, "--tags", "protected_tags,exclusive")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    for name in fleet["in_set"]:
        assert key_titles(fleet, name) == ["runner:build-01", "runner:release-01"], name
    assert key_titles(fleet, "sandbox") == ["laptop"]  # excluded from the set: untouched
    assert token_names(group) == ["registry-pull"]
    assert token_names(gl.projects.get(paths["api"])) == []
    assert token_names(gl.projects.get(paths["sandbox"])) == ["old-ci"]
    for name in fleet["in_set"]:
        tags = {t.name: t for t in gl.projects.get(paths[name]).protectedtags.list(get_all=True)}
        assert "v*" in tags and "main" in tags, (name, sorted(tags))  # block_branch_names: the default branch
        levels = tags["v*"].create_access_levels
        assert {level.get("access_level") for level in levels if level.get("deploy_key_id") is None} == {MAINTAINER}
        assert len([level for level in levels if level.get("deploy_key_id")]) == 1

    again, report = playbook(tmp_path, inventory, "--tags", "protected_tags,exclusive")
    assert again.returncode == 0 and changed_total(report) == 0, again.stdout[-3000:]


def test_limit_keeps_what_hosts_outside_the_run_use_and_still_applies_tag_policy(tmp_path, gitlab_target, fleet):
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    run, report = playbook(tmp_path, inventory, "--tags", "protected_tags,exclusive", "--limit", "build-01")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    # release-01 and deploy-01 are not in the run: their key and token stay; the stale ones go.
    assert key_titles(fleet, "api") == ["runner:build-01", "runner:release-01"]
    assert token_names(fleet["gl"].groups.get(fleet["platform"].id)) == ["registry-pull"]
    tags = fleet["gl"].projects.get(fleet["paths"]["web"]).protectedtags.list(get_all=True)
    assert "v*" in {t.name for t in tags}


@pytest.mark.needs_control
def test_project_sets_are_resolved_once_per_run(tmp_path, gitlab_target, fleet):
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    gitlab_target.clear_requests()
    run, dummy = playbook(tmp_path, inventory, "--tags", "protected_tags", "--check")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    log = gitlab_target.requests()["log"]
    listings = [entry for entry in log if entry["path"].endswith("/projects") and "/groups/" in entry["path"]]
    assert len(listings) == 1, listings


def test_hosts_get_only_the_credential_kinds_their_group_says(tmp_path, gitlab_target, fleet):
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    probe = tmp_path / "probe.yml"
    probe.write_text(yaml.safe_dump([
        {"ansible.builtin.import_playbook": SHAPE},
        {"name": "Show the groups", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"ansible.builtin.debug": {"msg": "{{ {'ssh_key': groups['runnercreds_ssh_key'] | default([]) | sort,"
                                              " 'deploy_token': groups['runnercreds_deploy_token'] | default([])"
                                              " | sort} }}"}}]},
    ]))
    run, report = playbook(tmp_path, inventory, path=str(probe))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    shown = task_results(report, "debug")[0]["msg"] if task_results(report, "debug") else \
        report["plays"][-1]["tasks"][-1]["hosts"]["localhost"]["msg"]
    assert shown == {"ssh_key": ["build-01", "release-01"], "deploy_token": ["deploy-01"]}


@pytest.mark.parametrize("change, words", [
    (lambda v: v["runnercreds_protected_tags"][0].update(project_set="nope"), "not a project set"),
    (lambda v: v["runnercreds_protected_tags"][0].update(allowed_to_create=[{"deploy_keys_of": "nobody"}]),
     "not an inventory group"),
    (lambda v: v["runnercreds_project_sets"]["platform"].update(exclusive="sometimes"), "true or false"),
    (lambda v: v.update(_build_credentials=["ssh"]), "runnercreds_credentials lists 'ssh'"),
])
def test_bad_fleet_input_fails_clearly_with_nothing_changed(tmp_path, gitlab_target, fleet, change, words):
    change(fleet["vars"])
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    run, dummy = playbook(tmp_path, inventory, "--tags", "protected_tags,exclusive")
    assert run.returncode != 0
    assert words in run.stdout, run.stdout[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    assert "runner:gone-01" in key_titles(fleet, "api")
    assert fleet["gl"].projects.get(fleet["paths"]["api"]).protectedtags.list(get_all=True) == []


@pytest.mark.needs_control
def test_exclusive_removal_failing_on_one_project_leaves_the_others_done_and_says_what_changed(
        tmp_path, gitlab_target, fleet):
    """A persistent 500 on api's DELETEs: web's stale key still goes, api keeps everything, and the run stops
    before the tokens (nothing after a failed step); a re-run, through a 429 storm, finishes."""
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    api = fleet["gl"].projects.get(fleet["paths"]["api"])
    gitlab_target.add_fault(method="DELETE", path=gitlab_target.api_path_regex(api, "deploy_keys", "[0-9]+"),
                            status=500)
    try:
        run, report = playbook(tmp_path, inventory, "--tags", "exclusive")
    finally:
        gitlab_target.clear_faults()
    assert run.returncode != 0
    # ansible-core 2.21's json callback drops `failed` from a loop's item results; the runner's failure fields remain.
    failed = [r for r in task_results(report, "remove the deploy keys") if r.get("failed", "failed_targets" in r)]
    assert [r["item"]["title"] for r in failed] == ["runner:gone-01"]
    assert "500" in failed[0]["msg"] and fleet["paths"]["api"] in failed[0]["msg"]
    assert "Traceback" not in run.stdout
    assert key_titles(fleet, "api") == ["runner:build-01", "runner:gone-01", "runner:release-01"]
    assert key_titles(fleet, "web") == ["runner:build-01", "runner:release-01"]  # laptop: removed
    group = fleet["gl"].groups.get(fleet["platform"].id)
    assert token_names(group) == ["gone-01-pull", "registry-pull"]

    gitlab_target.add_fault(method="DELETE", path="/deploy_(keys|tokens)/", status=429, retry_after=0, count=4)
    try:
        again, report = playbook(tmp_path, inventory, "--tags", "exclusive")
        storm_left = gitlab_target.faults()
    finally:
        gitlab_target.clear_faults()
    assert again.returncode == 0, again.stdout[-3000:]
    assert key_titles(fleet, "api") == ["runner:build-01", "runner:release-01"]
    assert token_names(group) == ["registry-pull"]
    assert storm_left == []  # all four 429s were answered to this run (a rule is gone once its count is used)


def test_check_mode_on_a_fleet_whose_release_keys_are_not_registered_yet(tmp_path, gitlab_target, fleet):
    """site --check before the first converge: the tag policy is planned (with a warning), nothing written."""
    gl = fleet["gl"]
    for name in fleet["in_set"]:
        project = gl.projects.get(fleet["paths"][name])
        for key in project.keys.list(get_all=True):
            if key.title == "runner:release-01":
                project.keys.delete(key.id)
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    check, report = playbook(tmp_path, inventory, "--tags", "protected_tags", "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    (result,) = task_results(report, "Protect the tag patterns")
    assert result["changed"] is True, result
    # The module's warning (ansible-core shows it on stderr beside the json callback's report).
    assert "check mode: deploy key 'runner:release-01' is not enabled" in " ".join((check.stdout + check.stderr).split())
    assert gl.projects.get(fleet["paths"]["api"]).protectedtags.list(get_all=True) == []


def test_two_exclusive_runs_at_once_both_finish_and_remove_only_what_no_host_uses(tmp_path, gitlab_target, fleet):
    """Two controllers clean the same exclusive set at the same moment: the second finds a key or token gone
    (GitLab's 404) and takes it as done; the inventory's credentials are never touched."""
    inventory = write_inventory(tmp_path, gitlab_target, fleet["vars"])
    env = ansible_env(tmp_path, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    runs = []
    for index in range(2):
        home = tmp_path / f"run{index}"
        home.mkdir()
        runs.append(subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(BIN, "ansible-playbook"), "-i", inventory, SITE, "--tags", "exclusive"],
            env=dict(env, ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_HOME=str(home / "home")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [out[0][-2000:] for out in outputs]
    for name in fleet["in_set"]:
        assert key_titles(fleet, name) == ["runner:build-01", "runner:release-01"], name
    assert key_titles(fleet, "sandbox") == ["laptop"]
    assert token_names(fleet["gl"].groups.get(fleet["platform"].id)) == ["registry-pull"]
    assert token_names(fleet["gl"].projects.get(fleet["paths"]["api"])) == []
