# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_token's main() against the GitLab test server (or a real GitLab with GITLAB_URL/GITLAB_TOKEN).

State is read back with an independent python-gitlab client; "no write on the
second run" is asserted on the server's request counters.

Not covered yet: using a created token for HTTP basic auth against the
server's git-over-HTTP and registry-auth (/jwt/auth) endpoints; the test
server does not implement them yet.
"""

from __future__ import annotations

import datetime
import json
import re
from urllib.parse import quote

import pytest

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _client
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_token

DEVELOPER, MAINTAINER, OWNER = 30, 40, 50


def args(target, projects=None, token=None, **kwargs):
    # no_log: deploy_token refuses to create a token (and print its secret) in a task without it.
    result = dict(api_url=target.url, api_token=token or target.admin_token, max_retries=3,
                  name="server-pull", scopes=["read_registry"], _ansible_no_log=True)
    if projects is not None:
        result["projects"] = projects
    result.update(kwargs)
    return {key: value for key, value in result.items() if value is not None}


def paths(*objs):
    return [o.path_with_namespace if hasattr(o, "path_with_namespace") else o.full_path for o in objs]


def tokens_on(target, project=None, group=None):
    """Deploy tokens read back with an independent client."""
    gl = target.admin_client()
    parent = gl.projects.get(project.id) if project is not None else gl.groups.get(group.id)
    return sorted((t.asdict() for t in parent.deploytokens.list(get_all=True)), key=lambda t: t["id"])


def seed_token(target, project, expires_at=None, name="server-pull", scopes=("read_registry",)):
    data = {"name": name, "scopes": list(scopes)}
    if expires_at is not None:
        data["expires_at"] = expires_at
    return target.admin_client().projects.get(project.id).deploytokens.create(data)


def in_days(days, hours=0):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days, hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def writes(target):
    return target.requests()["writes"]


@pytest.fixture
def project(gitlab_target, clean_target):
    return gitlab_target.make_project("dt")


# --- create, no change, many projects ---------------------------------------------

def test_create_returns_the_secret_once_then_nothing_to_do(gitlab_target, project):
    result = run_module(deploy_token.main, args(gitlab_target, paths(project)))
    assert result["changed"] is True
    entry = result["deploy_token"]
    assert entry["token"].startswith("gldt-")
    assert entry["created"] is True and entry["predecessor_ids"] == [] and entry["deleted_ids"] == []
    (stored,) = tokens_on(gitlab_target, project)
    assert stored["id"] == entry["id"] and stored["name"] == "server-pull"
    assert stored["scopes"] == ["read_registry"] and stored["expires_at"] is None
    assert entry["username"] == stored["username"] == "gitlab+deploy-token-%d" % stored["id"]
    assert [(a["action"], a["after"]["id"]) for a in result["actions"]] == [("create", stored["id"])]
    assert entry["token"] not in json.dumps(result["actions"])

    again = run_module(deploy_token.main, args(gitlab_target, paths(project)))
    assert again["changed"] is False and again["actions"] == []
    assert "token" not in again["deploy_token"]
    assert again["deploy_token"]["id"] == stored["id"] and again["deploy_token"]["created"] is False


@pytest.mark.needs_control
def test_many_projects_one_read_each_and_no_write_on_the_second_run(gitlab_target, clean_target):
    projects = [gitlab_target.make_project("dtn") for _index in range(5)]
    gitlab_target.clear_requests()
    first = run_module(deploy_token.main, args(gitlab_target, paths(*projects), lifetime_days=30))
    counts = gitlab_target.requests()
    assert first["changed"] is True and len(first["deploy_tokens"]) == 5
    assert "deploy_token" not in first, "deploy_token is for a single project"
    assert counts["by_route"].get("GET /projects/:id/deploy_tokens") == 5
    assert counts["by_route"].get("POST /projects/:id/deploy_tokens") == 5
    assert counts["total"] == 10 and counts["writes"] == 5
    assert len({e["token"] for e in first["deploy_tokens"]}) == 5

    gitlab_target.clear_requests()
    second = run_module(deploy_token.main, args(gitlab_target, paths(*projects), lifetime_days=30))
    counts = gitlab_target.requests()
    assert second["changed"] is False
    assert counts["writes"] == 0 and counts["total"] == 5
    assert all("token" not in e for e in second["deploy_tokens"])


def test_fixed_expiry_and_username(gitlab_target, project):
    expires = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    spec = args(gitlab_target, paths(project), username="fleet-pull", expires_at=expires,
                scopes=["read_registry", "read_package_registry"])
    result = run_module(deploy_token.main, spec)
    (stored,) = tokens_on(gitlab_target, project)
    assert stored["username"] == "fleet-pull"
    assert stored["expires_at"].startswith(expires + "T00:00:00")
    assert result["deploy_token"]["days_until_expiry"] in (398, 399)
    assert run_module(deploy_token.main, spec)["changed"] is False


# --- successor, revoke step, rotation ------------------------------------------------

def test_spec_change_creates_a_successor_and_revoking_is_a_separate_step(gitlab_target, project):
    first = run_module(deploy_token.main, args(gitlab_target, paths(project)))["deploy_token"]

    wider = args(gitlab_target, paths(project), scopes=["read_registry", "write_registry"])
    successor = run_module(deploy_token.main, wider)
    entry = successor["deploy_token"]
    assert successor["changed"] is True
    assert entry["created"] is True and entry["token"] != first["token"]
    assert entry["predecessor_ids"] == [first["id"]] and entry["deleted_ids"] == []
    assert "scopes" in successor["actions"][0]["note"]
    assert [t["id"] for t in tokens_on(gitlab_target, project)] == [first["id"], entry["id"]]

    # The same task again: the successor satisfies it, the predecessor stays.
    again = run_module(deploy_token.main, wider)
    assert again["changed"] is False and again["deploy_token"]["predecessor_ids"] == [first["id"]]

    revoke = run_module(deploy_token.main, dict(wider, revoke_predecessors=True))
    assert revoke["changed"] is True
    assert revoke["deploy_token"]["id"] == entry["id"] and "token" not in revoke["deploy_token"]
    assert revoke["deploy_token"]["deleted_ids"] == [first["id"]]
    assert revoke["deploy_token"]["predecessor_ids"] == []
    assert [(a["action"], a["before"]["id"]) for a in revoke["actions"]] == [("delete", first["id"])]
    assert [t["id"] for t in tokens_on(gitlab_target, project)] == [entry["id"]]
    assert run_module(deploy_token.main, dict(wider, revoke_predecessors=True))["changed"] is False


def test_spec_change_with_revoke_creates_first_then_revokes(gitlab_target, project):
    first = run_module(deploy_token.main, args(gitlab_target, paths(project)))["deploy_token"]
    result = run_module(deploy_token.main, args(gitlab_target, paths(project), scopes=["read_repository"],
                                                revoke_predecessors=True))
    assert [a["action"] for a in result["actions"]] == ["create", "delete"]
    entry = result["deploy_token"]
    assert entry["token"] and entry["deleted_ids"] == [first["id"]] and entry["predecessor_ids"] == []
    assert [t["id"] for t in tokens_on(gitlab_target, project)] == [entry["id"]]


def test_rotation_when_expiring_within_n_days(gitlab_target, project):
    old = seed_token(gitlab_target, project, expires_at=in_days(3))
    spec = args(gitlab_target, paths(project), lifetime_days=90, rotate_before_expiry_days=7)
    result = run_module(deploy_token.main, spec)
    entry = result["deploy_token"]
    assert result["changed"] is True and entry["token"]
    note = result["actions"][0]["note"]
    assert "expires in 2.9 days" in note or "expires in 3.0 days" in note
    assert entry["predecessor_ids"] == [old.id]
    assert entry["days_until_expiry"] in (89, 90)
    # The successor is fresh: the same task does nothing; the old token still works until revoked.
    assert run_module(deploy_token.main, spec)["changed"] is False
    assert [t["id"] for t in tokens_on(gitlab_target, project)] == [old.id, entry["id"]]


@pytest.mark.parametrize("left_days, rotate_after_days, rotates", [(20, 7, True), (20, 15, False)])
def test_rotation_by_age_from_the_lifetime(gitlab_target, project, left_days, rotate_after_days, rotates):
    # lifetime 30, 20 days left: the token is 10 days old.
    old = seed_token(gitlab_target, project, expires_at=in_days(left_days))
    result = run_module(deploy_token.main, args(gitlab_target, paths(project), lifetime_days=30,
                                                rotate_after_days=rotate_after_days))
    assert result["changed"] is rotates
    if rotates:
        assert "is 10.0 days old" in result["actions"][0]["note"]
        assert result["deploy_token"]["predecessor_ids"] == [old.id]
    else:
        assert result["deploy_token"]["id"] == old.id


def test_a_token_longer_lived_than_lifetime_days_gets_a_successor(gitlab_target, project):
    old = seed_token(gitlab_target, project, expires_at=in_days(200))
    result = run_module(deploy_token.main, args(gitlab_target, paths(project), lifetime_days=30))
    assert result["changed"] is True and "lifetime_days" in result["actions"][0]["note"]
    assert result["deploy_token"]["predecessor_ids"] == [old.id]


def test_rotate_now_is_successor_first(gitlab_target, project):
    first = run_module(deploy_token.main, args(gitlab_target, paths(project)))["deploy_token"]
    rotated = run_module(deploy_token.main, args(gitlab_target, paths(project), rotate=True))
    assert rotated["changed"] is True and rotated["actions"][0]["note"] == "rotate=true"
    assert rotated["deploy_token"]["token"] != first["token"]
    assert rotated["deploy_token"]["predecessor_ids"] == [first["id"]]
    assert len(tokens_on(gitlab_target, project)) == 2


@pytest.mark.needs_control
def test_expiry_is_judged_by_expires_at_not_by_gitlabs_lagging_flag(gitlab_target, project):
    # A token that expired at today's midnight UTC: GitLab's `expired` flag
    # (expires_at < Date.today) still says false, but it no longer works.
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    old = seed_token(gitlab_target, project, expires_at=today)
    (stored,) = tokens_on(gitlab_target, project)
    assert stored["expired"] is False
    result = run_module(deploy_token.main, args(gitlab_target, paths(project), expires_at=in_days(30)))
    assert result["changed"] is True
    assert result["deploy_token"]["predecessor_ids"] == [old.id]

    # And the other way round: with GitLab's clock 40 days on, its flag says the
    # successor (30 days left) is expired; the module judges from expires_at and
    # the controller's clock, so the task is still satisfied.
    spec = args(gitlab_target, paths(project), expires_at=result["deploy_token"]["expires_at"])
    gitlab_target.set_clock(40)
    try:
        stored = {t["id"]: t for t in tokens_on(gitlab_target, project)}
        assert stored[result["deploy_token"]["id"]]["expired"] is True
        assert run_module(deploy_token.main, spec)["changed"] is False
    finally:
        gitlab_target.set_clock(0)


# --- absent, groups, permissions, check and diff mode --------------------------------

def test_absent_deletes_every_token_with_the_name(gitlab_target, project):
    a = seed_token(gitlab_target, project)
    b = seed_token(gitlab_target, project, scopes=["read_repository"])
    other = seed_token(gitlab_target, project, name="other")
    result = run_module(deploy_token.main, args(gitlab_target, paths(project), state="absent", scopes=None))
    assert result["changed"] is True
    assert result["deploy_token"]["deleted_ids"] == [a.id, b.id] and result["deploy_token"]["id"] is None
    assert [t["id"] for t in tokens_on(gitlab_target, project)] == [other.id]
    assert run_module(deploy_token.main, args(gitlab_target, paths(project), state="absent"))["changed"] is False


def test_group_tokens_need_owner(gitlab_target, clean_target):
    group = gitlab_target.make_group("dtg")
    user, user_token = gitlab_target.make_user("dtmaint")
    gitlab_target.add_member(group, user, MAINTAINER)

    failure = run_module(deploy_token.main, args(gitlab_target, groups=paths(group), token=user_token), fail=True)
    assert failure["status"] == 403 and "Owner" in failure["msg"] and group.full_path in failure["msg"]
    assert tokens_on(gitlab_target, group=group) == []

    result = run_module(deploy_token.main, args(gitlab_target, group=group.full_path, scopes=["read_repository"]))
    entry = result["deploy_token"]
    assert entry["group"] == group.full_path and entry["token"].startswith("gldt-")
    assert [t["id"] for t in tokens_on(gitlab_target, group=group)] == [entry["id"]]
    again = run_module(deploy_token.main, args(gitlab_target, group=group.full_path, scopes=["read_repository"]))
    assert again["changed"] is False


@pytest.mark.needs_control
def test_a_developer_gets_403_and_nothing_is_written(gitlab_target, project):
    user, user_token = gitlab_target.make_user("dtdev")
    gitlab_target.add_member(project, user, DEVELOPER)
    gitlab_target.clear_requests()
    failure = run_module(deploy_token.main, args(gitlab_target, paths(project), token=user_token), fail=True)
    assert failure["status"] == 403
    assert project.path_with_namespace in failure["msg"] and "Maintainer" in failure["msg"]
    assert "Nothing was changed" in failure["msg"] and failure["actions_done"] == []
    assert writes(gitlab_target) == 0


@pytest.mark.needs_control
def test_check_mode_reports_the_plan_without_writing_or_a_secret(gitlab_target, project):
    gitlab_target.clear_requests()
    check = run_module(deploy_token.main, args(gitlab_target, paths(project)), check_mode=True, diff=True)
    assert check["changed"] is True and check["deploy_token"]["created"] is True
    assert "token" not in check["deploy_token"] and check["deploy_token"]["id"] is None
    assert writes(gitlab_target) == 0 and tokens_on(gitlab_target, project) == []
    real = run_module(deploy_token.main, args(gitlab_target, paths(project)), diff=True)
    assert [a["action"] for a in check["actions"]] == [a["action"] for a in real["actions"]]
    assert real["diff"][0]["after"]["server-pull (new)"]["id"] == real["deploy_token"]["id"]
    assert real["deploy_token"]["token"] not in json.dumps(real["diff"])


def test_diff_of_a_revocation(gitlab_target, project):
    old = seed_token(gitlab_target, project)
    new = seed_token(gitlab_target, project)
    result = run_module(deploy_token.main, args(gitlab_target, paths(project), revoke_predecessors=True),
                        check_mode=True, diff=True)
    (diff,) = result["diff"]
    assert diff["before"] == {"server-pull #%d" % old.id: {
        "id": old.id, "name": "server-pull", "username": "gitlab+deploy-token-%d" % old.id,
        "scopes": ["read_registry"], "expires_at": None}}
    assert diff["after"] == {}
    assert result["deploy_token"]["id"] == new.id and result["deploy_token"]["deleted_ids"] == [old.id]
    assert len(tokens_on(gitlab_target, project)) == 2


# --- bad input: fails naming the option, before any request ---------------------------

@pytest.mark.needs_control
@pytest.mark.parametrize("overrides, words", [
    (dict(scopes=["read_registry", "write_repository"]), "scopes"),
    (dict(expires_at="2020-01-01"), "expires_at is 2020-01-01T00:00:00Z, which is in the past"),
    (dict(expires_at="31/01/2031"), "expires_at must be a date (2030-01-31, midnight UTC)"),
    (dict(groups=["some/group"]), "mutually exclusive: projects|groups"),
    (dict(expires_at="2031-01-01", lifetime_days=30), "mutually exclusive: expires_at|lifetime_days"),
    (dict(rotate_after_days=30), "rotate_after_days"),
    (dict(scopes=None), "scopes"),
    (dict(username="has space"), "username"),
])
def test_bad_input_fails_before_any_request(gitlab_target, project, overrides, words):
    gitlab_target.clear_requests()
    failure = run_module(deploy_token.main, args(gitlab_target, paths(project), **overrides), fail=True)
    assert words in failure["msg"]
    assert gitlab_target.requests()["total"] == 0


# --- creating is never blindly retried --------------------------------------------------

@pytest.mark.needs_control
@pytest.mark.parametrize("fault", [dict(drop=True), dict(status=503), dict(status=502)])
def test_a_failed_create_is_retried_once_checked(gitlab_target, project, fault):
    gitlab_target.add_fault(method="POST", path=r"/deploy_tokens$", count=1, **fault)
    gitlab_target.clear_requests()
    result = run_module(deploy_token.main, args(gitlab_target, paths(project)))
    by_route = gitlab_target.requests()["by_route"]
    assert by_route["POST /projects/:id/deploy_tokens"] == 2
    assert by_route["GET /projects/:id/deploy_tokens"] == 2  # the read, then the check after the failure
    (stored,) = tokens_on(gitlab_target, project)
    assert result["deploy_token"]["id"] == stored["id"] and result["deploy_token"]["token"]


@pytest.mark.needs_control
def test_a_rate_limited_create_is_retried_by_the_client(gitlab_target, project):
    gitlab_target.add_fault(method="POST", path=r"/deploy_tokens$", status=429, retry_after=0, count=1)
    gitlab_target.clear_requests()
    result = run_module(deploy_token.main, args(gitlab_target, paths(project)))
    by_route = gitlab_target.requests()["by_route"]
    assert by_route["POST /projects/:id/deploy_tokens"] == 2
    assert by_route["GET /projects/:id/deploy_tokens"] == 1
    assert len(tokens_on(gitlab_target, project)) == 1 and result["deploy_token"]["token"]


def test_a_token_created_before_the_answer_was_lost_is_reported_never_deleted(gitlab_target, project, monkeypatch):
    """GitLab created the token, then the answer was lost: this run cannot prove the token is its own
    (another run may have created it at that moment), so it deletes nothing and names it."""
    original = _client.GitlabClient.create_once
    lost = []

    def create_then_lose(self, path, action, target=None, data=None):
        created = original(self, path, action, target, data)
        lost.append(created["id"])
        raise GitlabModuleError("cannot %s: GitLab did not answer" % action, answer_lost=True)

    monkeypatch.setattr(_client.GitlabClient, "create_once", create_then_lose)
    failure = run_module(deploy_token.main, args(gitlab_target, paths(project)), fail=True)
    (stored,) = tokens_on(gitlab_target, project)
    assert stored["id"] == lost[0]  # not deleted, not duplicated
    assert failure["changed"] is True
    assert [orphan["id"] for orphan in failure["possible_orphans"]] == [lost[0]]
    assert failure["possible_orphans"][0]["project"] == project.path_with_namespace
    assert "cannot prove it created it, so nothing was deleted" in failure["msg"]
    assert "gldt-" not in json.dumps(failure)


@pytest.mark.needs_control
def test_a_create_failing_on_one_project_keeps_the_others_and_returns_their_secrets(gitlab_target, clean_target):
    good, bad = gitlab_target.make_project("dtok"), gitlab_target.make_project("dtbad")
    bad_path = re.escape(quote(bad.path_with_namespace, safe="")) + "/deploy_tokens$"
    gitlab_target.add_fault(method="POST", path=bad_path, status=500, count=10)
    failure = run_module(deploy_token.main, args(gitlab_target, paths(good, bad), max_retries=1), fail=True)
    assert bad.path_with_namespace in failure["msg"] and "HTTP 500" in failure["msg"]
    assert "failed on 1 of 2 projects" in failure["msg"]
    assert "Changed before the failure: 1 project: %s (create)." % good.path_with_namespace in failure["msg"]
    assert failure["changed"] is True
    (kept,) = tokens_on(gitlab_target, good)
    assert tokens_on(gitlab_target, bad) == []
    (entry,) = failure["deploy_tokens"]
    assert entry["project"] == good.path_with_namespace and entry["id"] == kept["id"]
    assert entry["token"].startswith("gldt-") and entry["created"] is True


@pytest.mark.needs_control
def test_a_missing_project_fails_before_any_write(gitlab_target, project):
    gitlab_target.clear_requests()
    failure = run_module(deploy_token.main, args(gitlab_target, paths(project) + ["nobody/nothing"]), fail=True)
    assert "nobody/nothing" in failure["msg"] and "404" in failure["msg"] and "Nothing was changed" in failure["msg"]
    assert writes(gitlab_target) == 0


# --- the secret in the module's real output -----------------------------------------------

def test_the_real_module_output_carries_the_secret_only_in_its_return_field(gitlab_target, project, capsys):
    """exit_json unpatched: the JSON the module prints, with the `invocation` Ansible adds."""
    from core_compat import patch_module_args, with_invocation

    with patch_module_args(with_invocation(args(gitlab_target, paths(project), _ansible_diff=True))):
        with pytest.raises(SystemExit) as exited:
            deploy_token.main()
    assert exited.value.code == 0
    output = json.loads(capsys.readouterr().out)
    secret = output["deploy_token"]["token"]
    assert secret.startswith("gldt-")
    assert output["deploy_tokens"][0]["token"] == secret
    rest = {key: value for key, value in output.items() if key not in ("deploy_token", "deploy_tokens")}
    assert set(rest) >= {"invocation", "actions", "diff", "changed"}
    assert secret not in json.dumps(rest)
    assert output["invocation"]["module_args"]["api_token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "warnings" not in output


# --- no_log by construction ---------------------------------------------------------------

@pytest.mark.needs_control
def test_a_create_without_no_log_is_refused_before_any_write(gitlab_target, project):
    gitlab_target.clear_requests()
    failure = run_module(deploy_token.main, args(gitlab_target, paths(project), _ansible_no_log=False), fail=True)
    assert "Set no_log: true on the task" in failure["msg"] and project.path_with_namespace in failure["msg"]
    assert failure["msg"].endswith("Nothing was changed.") and failure["changed"] is False
    assert writes(gitlab_target) == 0 and tokens_on(gitlab_target, project) == []


def test_check_mode_and_no_change_runs_need_no_no_log(gitlab_target, project):
    check = run_module(deploy_token.main, args(gitlab_target, paths(project), _ansible_no_log=False),
                       check_mode=True, diff=True)
    assert check["changed"] is True and "token" not in check["deploy_token"]
    run_module(deploy_token.main, args(gitlab_target, paths(project)))
    again = run_module(deploy_token.main, args(gitlab_target, paths(project), _ansible_no_log=False))
    assert again["changed"] is False and "token" not in again["deploy_token"]
