# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's pure logic and its report: each finding from a minimal fleet, and none on a clean one."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest
import yaml

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _audit, _audit_report
from ansible_collections.runnercreds.gitlab.plugins.module_utils._audit import AuditError, audit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SCHEMA = os.path.join(REPO, "docs", "audit-report.schema.json")


def key(key_id, title, placements, age=10, left=None, expired=False):
    return {"id": key_id, "title": title, "fingerprint_sha256": f"SHA256:fp{key_id}", "created_at": "2030-01-01T00:00:00Z",
            "expires_at": None if left is None else "2030-06-01T00:00:00Z", "expired": expired, "age_days": age,
            "days_until_expiry": left,
            "projects": [{"project": project, "can_push": push} for project, push in placements]}


def token(token_id, name, scopes, project=None, group=None, left=80, active=True, revoked=False):
    item = {"id": token_id, "name": name, "username": f"gitlab+deploy-token-{token_id}", "scopes": sorted(scopes),
            "expires_at": "2030-06-01T00:00:00Z", "revoked": revoked, "expired": False, "active": active,
            "days_until_expiry": left}
    item["group" if group else "project"] = group or project
    return item


def rule(project, name, key_ids=(), branches=(), levels=("maintainer",)):
    allowed = [{"access_level": level} for level in levels]
    allowed += [{"deploy_key_id": i, "deploy_key": f"key{i}"} for i in key_ids]
    return {"project": project, "name": name, "allowed_to_create": allowed, "deploy_key_ids": list(key_ids),
            "matching_branches": list(branches)}


HOSTS = {
    "build1": {"runner_ssh_key_projects": [{"project": "fleet/api"}],
               "runner_ssh_key_rotate_after_days": 90},
    "release1": {"runner_ssh_key_projects": [{"project": "fleet/api", "can_push": True}],
                 "runner_deploy_token_tokens": [{"name": "pull", "project": "fleet/api", "scopes": ["read_registry"],
                                                 "lifetime_days": 90, "rotate_after_days": 60}]},
    "deploy1": {"runner_deploy_token_tokens": [{"name": "grp", "group": "fleet", "scopes": ["read_registry"]}]},
}
TAG_POLICY = [{"projects": ["fleet/api"], "name": "v*", "allowed_to_create": [{"deploy_key": "runner:release1"}]}]


def clean():
    keys = [key(1, "runner:build1", [("fleet/api", False)]), key(2, "runner:release1", [("fleet/api", True)])]
    tokens = [token(10, "pull", ["read_registry"], project="fleet/api"), token(11, "grp", ["read_registry"], group="fleet")]
    tags = [rule("fleet/api", "v*", key_ids=[2])]
    return keys, tokens, tags


def kinds(result):
    return sorted(f["kind"] for f in result["findings"])


def test_a_clean_fleet_has_no_finding_and_every_credential_is_held():
    keys, tokens, tags = clean()
    result = audit(HOSTS, keys, tokens, tags, declared_tags=TAG_POLICY)
    assert result["findings"] == []
    held = {(c["type"], c["name"]): c["hosts"] for c in result["credentials"]}
    assert held == {("deploy_key", "runner:build1"): ["build1"], ("deploy_key", "runner:release1"): ["release1"],
                    ("deploy_token", "pull"): ["release1"], ("deploy_token", "grp"): ["deploy1"]}
    assert result["projects"] == ["fleet/api"] and result["groups"] == ["fleet"]
    assert {c["status"] for c in result["credentials"]} == {"ok"}
    token_row = next(c for c in result["credentials"] if c["name"] == "pull")
    assert token_row["age_days"] == 10  # lifetime 90 - 80 days left


@pytest.mark.parametrize("change, kind, severity", [
    (lambda k, t, r: k.append(key(3, "runner:gone", [("fleet/api", True)])), "orphan_deploy_key", "high"),
    (lambda k, t, r: k.append(key(3, "ci-laptop", [("fleet/api", False)])), "orphan_deploy_key", "medium"),
    (lambda k, t, r: t.append(token(12, "old", ["write_registry"], project="fleet/api")), "orphan_deploy_token", "high"),
    (lambda k, t, r: k.pop(0), "missing_deploy_key", "high"),
    (lambda k, t, r: t.pop(1), "missing_deploy_token", "high"),
    (lambda k, t, r: t.__setitem__(1, token(11, "grp", ["read_registry"], group="fleet", active=False, revoked=True)),
     "missing_deploy_token", "high"),
    (lambda k, t, r: k.__setitem__(0, key(1, "runner:build1", [("fleet/api", False)], age=91)),
     "key_past_rotation", "medium"),
    (lambda k, t, r: k.__setitem__(0, key(1, "runner:build1", [("fleet/api", False)], left=-1, expired=True)),
     "key_past_rotation", "high"),
    (lambda k, t, r: t.__setitem__(0, token(10, "pull", ["read_registry"], project="fleet/api", left=29)),
     "token_past_rotation", "medium"),
    (lambda k, t, r: t.__setitem__(0, token(10, "pull", ["read_registry", "read_repository"], project="fleet/api")),
     "excess_token_scopes", "medium"),
    (lambda k, t, r: t.__setitem__(1, token(11, "grp", ["read_registry", "write_registry"], group="fleet")),
     "excess_token_scopes", "high"),
    (lambda k, t, r: r.clear(), "unprotected_release_tags", "high"),
    (lambda k, t, r: r.__setitem__(0, rule("fleet/api", "v*", key_ids=[2, 7])), "tag_rule_names_missing_key", "medium"),
    (lambda k, t, r: r.__setitem__(0, rule("fleet/api", "v*", key_ids=[2], branches=["v2-dev"])),
     "tag_pattern_matches_branch", "medium"),
])
def test_each_problem_is_one_finding(change, kind, severity):
    keys, tokens, tags = clean()
    change(keys, tokens, tags)
    result = audit(HOSTS, keys, tokens, tags, declared_tags=TAG_POLICY)
    assert kinds(result) == [kind]
    finding = result["findings"][0]
    assert finding["severity"] == severity
    assert finding["message"] and finding["fix"] and (finding["project"] or finding["group"])
    assert result["summary"]["by_kind"][kind] == 1


def test_findings_name_hosts_and_credentials():
    keys, tokens, tags = clean()
    keys.pop(1)
    tags.clear()
    result = audit(HOSTS, keys, tokens, tags, declared_tags=TAG_POLICY)
    (missing,) = [f for f in result["findings"] if f["kind"] == "missing_deploy_key"]
    assert missing["hosts"] == ["release1"] and missing["credential"]["name"] == "runner:release1"
    # release1's push key is gone and build1's is read-only: no write key, so unprotected tags are no finding.
    assert kinds(result) == ["missing_deploy_key"]


def test_a_guard_rule_from_block_branch_names_is_not_a_finding():
    keys, tokens, tags = clean()
    tags.append(rule("fleet/api", "main", branches=["main"], levels=("no_one",)))
    assert audit(HOSTS, keys, tokens, tags, declared_tags=TAG_POLICY)["findings"] == []


def test_release_patterns_default_to_v_star_and_follow_the_tag_policy():
    keys, tokens, dummy = clean()
    tags = [rule("fleet/api", "release-*", key_ids=[2])]
    result = audit(HOSTS, keys, tokens, tags, declared_tags=[])
    assert kinds(result) == ["unprotected_release_tags"] and "v*" in result["findings"][0]["message"]
    policy = [{"projects": ["fleet/api"], "name": "release-*"}]
    assert audit(HOSTS, keys, tokens, tags, declared_tags=policy)["findings"] == []
    # site's other form: several patterns in `tags`; a policy with state=absent protects nothing.
    several = [{"projects": ["fleet/api"], "tags": [{"name": "release-*"}]},
               {"projects": ["fleet/api"], "name": "v*", "state": "absent"}]
    assert audit(HOSTS, keys, tokens, tags, declared_tags=several)["findings"] == []


def test_shared_mode_title_project_sets_and_credentials_choice():
    hosts = {
        "a": {"runner_ssh_key_mode": "shared", "runner_ssh_key_projects": [{"project_set": "apps", "can_push": False}]},
        "b": {"runner_ssh_key_mode": "shared", "runner_ssh_key_projects": [{"project_set": "apps"}]},
        # A deploy-only host: its inventory lists projects, but runnercreds_credentials says no SSH key.
        "c": {"runnercreds_credentials": ["deploy_token"], "runner_ssh_key_projects": [{"project": "fleet/web"}]},
    }
    sets = {"apps": ["fleet/api", "Fleet/Web"]}
    keys = [key(5, "runner-fleet", [("fleet/api", False), ("fleet/web", False)])]
    result = audit(hosts, keys, [], [], project_sets=sets)
    assert result["findings"] == []
    assert [c["hosts"] for c in result["credentials"]] == [["a", "b"], ["a", "b"]]
    assert _audit.targets(hosts, sets) == {"projects": ["fleet/api", "Fleet/Web"], "groups": []}


@pytest.mark.parametrize("hosts, option, words", [
    ({"h": {"runnercreds_credentials": ["ssh"]}}, "hosts", "h: runnercreds_credentials lists 'ssh'"),
    ({"h": {"runner_ssh_key_projects": [{"project_set": "nope"}]}}, "hosts",
     "h: runner_ssh_key_projects[0].project_set is 'nope'"),
    ({"h": {"runner_ssh_key_projects": [{"can_push": True}]}}, "hosts", "h: runner_ssh_key_projects[0] needs project"),
    ({"h": {"runner_deploy_token_tokens": [{"name": "x", "project": "p", "group": "g"}]}},
     "hosts[h].runner_deploy_token_tokens[0]", "exactly one of project and group"),
    ({"h": {"runner_ssh_key_projects": [{"project": "p"}], "runner_ssh_key_rotate_after_days": "soon"}},
     "hosts[h].runner_ssh_key_rotate_after_days", "whole number of days"),
])
def test_bad_inventory_is_refused_naming_the_variable(hosts, option, words):
    with pytest.raises(AuditError) as error:
        _audit.targets(hosts)
    assert error.value.option == option and words in error.value.msg and "Nothing was written" in error.value.msg


def test_a_bad_tag_policy_is_refused():
    with pytest.raises(AuditError) as error:
        _audit.targets({}, {}, [{"project_set": "nope", "name": "v*"}])
    assert error.value.option == "tag_policy" and "'nope'" in error.value.msg


def test_fail_on_kinds_and_severities():
    findings = [{"kind": "orphan_deploy_key", "severity": "medium"},
                {"kind": "tag_pattern_matches_branch", "severity": "low"}]
    assert _audit.failing(findings, []) == []
    assert _audit.failing(findings, ["medium"]) == findings[:1]
    assert _audit.failing(findings, ["low"]) == findings
    assert _audit.failing(findings, ["tag_pattern_matches_branch"]) == findings[1:]
    with pytest.raises(AuditError) as error:
        _audit.parse_fail_on(["orphans"])
    assert error.value.option == "fail_on[0]" and "orphan_deploy_key" in error.value.msg


def test_role_defaults_match_the_roles():
    found = {}
    for role in ("runner_ssh_key", "runner_deploy_token"):
        with open(os.path.join(REPO, "roles", role, "defaults", "main.yml"), encoding="utf-8") as handle:
            found.update(yaml.safe_load(handle))
    assert {name: found[name] for name in _audit.ROLE_DEFAULTS} == _audit.ROLE_DEFAULTS


# --- the report ---------------------------------------------------------------------------------

def problem_doc():
    keys, tokens, tags = clean()
    keys.append(key(3, "runner:gone", [("fleet/api", True)]))
    tokens[0] = token(10, "pull", ["read_registry"], project="fleet/api", left=5)
    result = audit(HOSTS, keys, tokens, tags, declared_tags=TAG_POLICY)
    return _audit_report.report(result, "2030-01-01T00:00:00Z", ["high"])


def test_the_json_report_validates_against_the_documented_schema():
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    doc = problem_doc()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(json.dumps(doc)), schema, cls=jsonschema.Draft202012Validator)
    # The schema can fail: a finding of an unknown kind is refused.
    doc["findings"][0]["kind"] = "something_else"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


def test_html_is_self_contained_sortable_and_escaped():
    doc = problem_doc()
    doc["credentials"][0]["name"] = "<script>alert(1)</script>"
    page = _audit_report.html_page(doc)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external assets"
    assert 'class="sortable"' in page and "addEventListener(\"click\"" in page
    assert 'class="st due"' in page and 'class="st orphan"' in page


def test_summary_fits_one_screen():
    doc = problem_doc()
    lines = _audit_report.summary_lines(doc, "/srv/audit")
    assert len(lines) <= 20 and lines[-1].startswith("Report: /srv/audit/audit-report.html")
    assert lines[1] == "Findings: 2 (1 high, 1 medium, 0 low)"
    assert any("orphan_deploy_key [high]" in line for line in lines)
    markdown = _audit_report.markdown(doc)
    assert "| high | orphan_deploy_key | fleet/api | runner:gone #3 |" in markdown


def test_report_dir_checks_and_file_modes(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(AuditError) as error:
        _audit_report.check_report_dir(str(not_a_dir))
    assert error.value.option == "report_dir"
    with pytest.raises(AuditError):
        _audit_report.check_report_dir("")
    path = _audit_report.check_report_dir(str(tmp_path / "new" / "dir"))
    written = _audit_report.write(path, _audit_report.render(problem_doc()))
    assert sorted(os.path.basename(p) for p in written) == sorted(_audit_report.FILES.values())
    for name in written:
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o644
    assert sorted(os.listdir(path)) == sorted(_audit_report.FILES.values())  # no temporary file left
