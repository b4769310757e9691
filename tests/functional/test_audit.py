# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit playbook (``ansible-playbook -i inventory runnercreds.gitlab.audit``) against a GitLab.

A small fleet is built through GitLab's API: clean, the audit reports nothing; then each kind of problem
is created and the audit must name it. Also: the fail-on gate, bad input (nothing written), check mode
(nothing written), the JSON against docs/audit-report.schema.json, the HTML's sortable table.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess

import pytest
import yaml

from ansible_cli import BIN, REPO, ansible_doc, ansible_env

from test_protected_tag import MAINTAINER, new_key, protect

SCHEMA = os.path.join(REPO, "docs", "audit-report.schema.json")
FILES = ("audit-report.json", "audit-report.md", "audit-report.html")


def days_from_now(days):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days, hours=12)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def run_audit(tmp_path, target, inventory, extra=None, *options):
    inventory_file = tmp_path / "inventory.yml"
    inventory_file.write_text(yaml.safe_dump(inventory))
    variables = {"runnercreds_audit_report_dir": str(tmp_path / "report")}
    variables.update(extra or {})
    vars_file = tmp_path / "audit.vars.json"
    vars_file.write_text(json.dumps(variables))
    # The token goes through the environment, never the command line.
    env = ansible_env(tmp_path, GITLAB_URL=target.url, GITLAB_TOKEN=target.admin_token)
    return subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", str(inventory_file), "runnercreds.gitlab.audit",
         "-e", "@%s" % vars_file, *options],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=str(tmp_path),
    )


def report(tmp_path):
    with open(tmp_path / "report" / "audit-report.json", encoding="utf-8") as handle:
        return json.load(handle)


def kinds(doc):
    return sorted({finding["kind"] for finding in doc["findings"]})


@pytest.fixture
def fleet(gitlab_target, clean_target):
    """A clean fleet: build1 reads api, release1 pushes v* tags on api and pulls with a project token,
    deploy1 (no SSH key) pulls with a group token; v* on api only release1's key may create."""
    gl = gitlab_target.admin_client()
    group = gitlab_target.make_group("audit")
    api = gitlab_target.make_project("api", namespace_id=group.id)
    web = gitlab_target.make_project("web", namespace_id=group.id)
    api_path, web_path, group_path = api.path_with_namespace, web.path_with_namespace, group.full_path
    gl_api = gl.projects.get(api.id)
    build_key = gl_api.keys.create({"title": "runner:build1", "key": new_key(), "can_push": False})
    release_key = gl_api.keys.create({"title": "runner:release1", "key": new_key(), "can_push": True})
    gl_api.deploytokens.create({"name": "pull", "scopes": ["read_registry"], "expires_at": days_from_now(80)})
    gl.groups.get(group.id).deploytokens.create({"name": "grp", "scopes": ["read_registry"],
                                                 "expires_at": days_from_now(300)})
    protect(gitlab_target, api, "v*", MAINTAINER, allowed_to_create=[{"deploy_key_id": release_key.id}])
    runners = {
        "build1": {"runner_ssh_key_projects": [{"project": api_path}], "runner_ssh_key_rotate_after_days": 90},
        "release1": {
            "runner_ssh_key_projects": [{"project": api_path, "can_push": True}],
            "runner_deploy_token_tokens": [{"name": "pull", "project": api_path, "scopes": ["read_registry"],
                                            "lifetime_days": 90, "rotate_after_days": 60}]},
        "deploy1": {
            "runnercreds_credentials": ["deploy_token"],
            "runner_deploy_token_tokens": [{"name": "grp", "group": group_path, "scopes": ["read_registry"]}]},
    }
    inventory = {"all": {
        "vars": {"runnercreds_protected_tags": [{"projects": [api_path], "name": "v*",
                                                 "allowed_to_create": [{"deploy_key": "runner:release1"}]}]},
        "children": {"runners": {"hosts": runners}},
        "hosts": {"localhost": {"ansible_connection": "local"}}}}
    return {"gl": gl, "api": api, "web": web, "group": group, "inventory": inventory, "runners": runners,
            "build_key": build_key, "release_key": release_key}


def test_a_clean_fleet_reports_no_finding_and_check_mode_writes_nothing(tmp_path, gitlab_target, fleet):
    checked = run_audit(tmp_path, gitlab_target, fleet["inventory"], None, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (tmp_path / "report").exists()
    assert "Findings: 0 (0 high, 0 medium, 0 low)" in checked.stdout

    result = run_audit(tmp_path, gitlab_target, fleet["inventory"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Audit of 3 runner hosts, 1 projects, 1 groups: 2 deploy keys, 2 deploy tokens" in result.stdout
    assert "Report: %s" % (tmp_path / "report" / "audit-report.html") in result.stdout
    doc = report(tmp_path)
    assert doc["findings"] == []
    held = {(c["type"], c["name"]): c["hosts"] for c in doc["credentials"]}
    assert held == {("deploy_key", "runner:build1"): ["build1"], ("deploy_key", "runner:release1"): ["release1"],
                    ("deploy_token", "pull"): ["release1"], ("deploy_token", "grp"): ["deploy1"]}
    pull = next(c for c in doc["credentials"] if c["name"] == "pull")
    assert pull["age_days"] == 10 and pull["days_until_expiry"] == 80 and pull["access"] == "read_registry"
    for name in FILES:
        assert stat.S_IMODE(os.stat(tmp_path / "report" / name).st_mode) == 0o644
    page = (tmp_path / "report" / "audit-report.html").read_text()
    assert '<table id="credentials" class="sortable">' in page and "cellIndex" in page
    assert "http://" not in page and "https://" not in page
    # No secret in any file: the info modules never return one, and no token value looks like GitLab's.
    for name in FILES:
        text = (tmp_path / "report" / name).read_text()
        assert gitlab_target.admin_token not in text and "gldt-" not in text


def test_each_problem_is_found_and_fail_on_fails_the_run(tmp_path, gitlab_target, fleet):
    gl, api, web, group = fleet["gl"], fleet["api"], fleet["web"], fleet["group"]
    gl_api, gl_web = gl.projects.get(api.id), gl.projects.get(web.id)
    runners = fleet["runners"]
    # Orphans: a key of a host gone from inventory, a token nobody holds.
    gl_api.keys.create({"title": "runner:decommissioned", "key": new_key(), "can_push": True})
    gl_api.deploytokens.create({"name": "old-push", "scopes": ["write_registry"]})
    # Missing: the inventory gives build2 a key on web, and deploy1 a token on web; GitLab has neither.
    runners["build2"] = {"runner_ssh_key_projects": [{"project": web.path_with_namespace}]}
    runners["deploy1"]["runner_deploy_token_tokens"].append(
        {"name": "web-pull", "project": web.path_with_namespace, "scopes": ["read_registry"]})
    # Past policy: release1's token has 20 of its 90 days left (70 days old, policy 60).
    for item in gl_api.deploytokens.list(get_all=True):
        if item.name == "pull":
            gl_api.deploytokens.delete(item.id)
    gl_api.deploytokens.create({"name": "pull", "scopes": ["read_registry"], "expires_at": days_from_now(20)})
    if gitlab_target.is_test_server:
        # Keys: build1's is 120 days old, its policy 90 (GitLab keeps created_at; only the test server moves it).
        created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=120, hours=1)
        gitlab_target.backdate("deploy_keys", fleet["build_key"].id, created.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    # Excess scopes: the group token can also read repositories; deploy1 asks for read_registry only.
    gl_group = gl.groups.get(group.id)
    for item in gl_group.deploytokens.list(get_all=True):
        gl_group.deploytokens.delete(item.id)
    gl_group.deploytokens.create({"name": "grp", "scopes": ["read_registry", "read_repository"]})
    # A write key on web, whose release tags (v*, no policy declared for web) are not protected.
    runners["release2"] = {"runner_ssh_key_projects": [{"project": web.path_with_namespace, "can_push": True}]}
    gl_web.keys.create({"title": "runner:release2", "key": new_key(), "can_push": True})
    # A protected tag naming a key that is no longer enabled on the project. The key stays enabled on web:
    # a key deleted everywhere takes its rule rows with it (GitLab's foreign key cascades).
    gone = gl_api.keys.create({"title": "runner:rotated-away", "key": new_key(), "can_push": True})
    gl_web.keys.enable(gone.id)
    protect(gitlab_target, api, "release-*", MAINTAINER, allowed_to_create=[{"deploy_key_id": gone.id}])
    gl_api.keys.delete(gone.id)
    # A branch v* matches.
    gl_api.branches.create({"branch": "v2-dev", "ref": gl_api.default_branch})

    result = run_audit(tmp_path, gitlab_target, fleet["inventory"], {"runnercreds_audit_fail_on": ["orphan_deploy_key"]})
    assert result.returncode != 0
    assert "findings match fail_on (orphan_deploy_key): orphan_deploy_key (2)" in result.stdout
    assert "Findings: " in result.stdout  # the summary is printed before the run fails
    doc = report(tmp_path)  # written before failing
    expected = {"orphan_deploy_key", "orphan_deploy_token", "missing_deploy_key", "missing_deploy_token",
                "token_past_rotation", "excess_token_scopes", "unprotected_release_tags",
                "tag_rule_names_missing_key", "tag_pattern_matches_branch"}
    if gitlab_target.is_test_server:
        expected.add("key_past_rotation")
    assert set(kinds(doc)) == expected
    by_kind = {}
    for finding in doc["findings"]:
        by_kind.setdefault(finding["kind"], []).append(finding)
    assert sorted((f["project"], f["credential"]["name"]) for f in by_kind["orphan_deploy_key"]) == sorted([
        (api.path_with_namespace, "runner:decommissioned"), (web.path_with_namespace, "runner:rotated-away")])
    assert by_kind["missing_deploy_key"][0]["hosts"] == ["build2"]
    assert by_kind["missing_deploy_token"][0]["credential"]["name"] == "web-pull"
    assert by_kind["excess_token_scopes"][0]["group"] == group.full_path
    assert by_kind["unprotected_release_tags"][0]["project"] == web.path_with_namespace
    assert by_kind["tag_rule_names_missing_key"][0]["credential"]["id"] == gone.id
    assert "v2-dev" in by_kind["tag_pattern_matches_branch"][0]["message"]
    if gitlab_target.is_test_server:
        assert by_kind["key_past_rotation"][0]["hosts"] == ["build1"]

    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA, encoding="utf-8") as handle:
        jsonschema.validate(doc, json.load(handle), cls=jsonschema.Draft202012Validator)

    # Without fail_on the same fleet passes (the default never fails), and a severity works as a gate.
    assert run_audit(tmp_path, gitlab_target, fleet["inventory"]).returncode == 0
    gated = run_audit(tmp_path, gitlab_target, fleet["inventory"], {"runnercreds_audit_fail_on": ["high"]})
    assert gated.returncode != 0 and "findings match fail_on (high)" in gated.stdout


@pytest.mark.parametrize("extra, option", [
    ({"runnercreds_audit_fail_on": ["orphans"]}, "fail_on[0] is 'orphans'"),
    ({"runnercreds_audit_report_dir": "FILE"}, "report_dir is"),
])
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, gitlab_target, fleet, extra, option):
    if extra.get("runnercreds_audit_report_dir") == "FILE":
        (tmp_path / "a-file").write_text("not a directory\n")
        extra = {"runnercreds_audit_report_dir": str(tmp_path / "a-file")}
    before = sorted(os.listdir(tmp_path))
    result = run_audit(tmp_path, gitlab_target, fleet["inventory"], extra)
    assert result.returncode != 0
    assert option in result.stdout, result.stdout
    assert "Nothing was written" in result.stdout
    runner_files = ("inventory.yml", "audit.vars.json", "tmp", "home")
    after = sorted(name for name in os.listdir(tmp_path) if name not in runner_files)
    assert after == [name for name in before if name not in ("tmp", "home")]


def test_ansible_doc_reads_well(tmp_path):
    out = ansible_doc(tmp_path, "fleet_audit")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for words in ("sends no request to GitLab", "orphan_deploy_key", "fail_on", "audit-report.schema.json",
                  "mode 0644"):
        assert words in text, words
