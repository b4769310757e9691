# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""protected_tag's main() against the GitLab test server (or a real GitLab with GITLAB_URL/GITLAB_TOKEN).

State is read back with an independent python-gitlab client; "no write on the
second run" is asserted on the server's request counters.
"""

from __future__ import annotations

import urllib.parse

import gitlab.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _client
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.modules import protected_tag

MAINTAINER, DEVELOPER = 40, 30


def new_key(comment="runner@ctl"):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return "%s %s" % (text, comment)


def args(target, projects, token=None, **kwargs):
    result = dict(api_url=target.url, api_token=token or target.admin_token, projects=projects, max_retries=1)
    result.update(kwargs)
    return result


def paths(*projects):
    return [p.path_with_namespace for p in projects]


def protections(target, project):
    """``{name: sorted access rows}`` read with an independent client."""
    gl = target.admin_client()
    found = {}
    for item in gl.projects.get(project.id).protectedtags.list(get_all=True):
        rows = []
        for row in item.create_access_levels:
            if row.get("deploy_key_id") is not None:
                rows.append(("deploy_key_id", row["deploy_key_id"]))
            elif row.get("user_id") is not None:
                rows.append(("user_id", row["user_id"]))
            elif row.get("group_id") is not None:
                rows.append(("group_id", row["group_id"]))
            else:
                rows.append(("access_level", row["access_level"]))
        found[item.name] = sorted(rows)
    return found


def protect(target, project, name, level=MAINTAINER, **extra):
    data = {"name": name, "create_access_level": level}
    data.update(extra)
    return target.admin_client().projects.get(project.id).protectedtags.create(data)


def add_key(target, project, key, title="runner-fleet", can_push=True, token=None):
    gl = target.client(token) if token else target.admin_client()
    return gl.projects.get(project.id).keys.create({"title": title, "key": key, "can_push": can_push})


@pytest.fixture
def projects(gitlab_target, clean_target):
    return [gitlab_target.make_project("pt") for dummy in range(3)]


# --- protect, idempotence, check mode, diff ----------------------------------------

TAGS = [
    {"name": "v*", "create_access_level": "maintainer"},
    {"name": "release-1.0", "create_access_level": "no_one"},
    {"name": "*-deploy", "create_access_level": 30},
]


def test_protect_exact_and_wildcard_names_then_nothing_to_do(gitlab_target, projects):
    gitlab_target.clear_requests()
    result = run_module(protected_tag.main, args(gitlab_target, paths(*projects), tags=TAGS))
    first = gitlab_target.requests()
    assert result["changed"] is True
    assert [(a["action"], a["project"], a["after"]["name"]) for a in result["actions"]] == [
        ("protect", p, name) for p in paths(*projects) for name in ("v*", "release-1.0", "*-deploy")]
    for project in projects:
        assert protections(gitlab_target, project) == {
            "v*": [("access_level", 40)], "release-1.0": [("access_level", 0)], "*-deploy": [("access_level", 30)]}
    assert first["writes"] == 9 and first["reads"] == 3

    gitlab_target.clear_requests()
    again = run_module(protected_tag.main, args(gitlab_target, paths(*projects), tags=TAGS))
    second = gitlab_target.requests()
    assert again == {"changed": False, "actions": []} or (again["changed"] is False and again["actions"] == [])
    assert second["writes"] == 0
    assert second["reads"] == len(projects), second["by_route"]


def test_numbers_and_names_are_the_same_setting(gitlab_target, projects):
    project = projects[0]
    protect(gitlab_target, project, "v*", DEVELOPER)
    gitlab_target.clear_requests()
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="developer"))
    assert result["changed"] is False and gitlab_target.requests()["writes"] == 0


def test_default_level_is_maintainer_like_gitlab(gitlab_target, projects):
    project = projects[0]
    protect(gitlab_target, project, "v*", MAINTAINER)
    gitlab_target.clear_requests()
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*"))
    assert result["changed"] is False and gitlab_target.requests()["writes"] == 0


def test_check_mode_plans_the_real_run_and_writes_nothing(gitlab_target, projects):
    protect(gitlab_target, projects[0], "v*", DEVELOPER)
    protect(gitlab_target, projects[0], "old", MAINTAINER)
    task = args(gitlab_target, paths(*projects), tags=TAGS, purge=True)
    gitlab_target.clear_requests()
    check = run_module(protected_tag.main, task, check_mode=True, diff=True)
    assert gitlab_target.requests()["writes"] == 0
    assert protections(gitlab_target, projects[1]) == {}
    real = run_module(protected_tag.main, task, diff=True)
    assert check["actions"] == real["actions"]
    assert check["diff"] == real["diff"]
    first = check["diff"][0]
    assert first["before_header"] == projects[0].path_with_namespace
    assert first["before"] == {"v*": {"name": "v*", "create_access_levels": [{"access_level": "developer"}]},
                               "old": {"name": "old", "create_access_levels": [{"access_level": "maintainer"}]}}
    assert set(first["after"]) == {"v*", "release-1.0", "*-deploy"}


# --- update: never unprotected ------------------------------------------------------

def test_an_update_never_leaves_the_tags_unprotected(gitlab_target, projects):
    project = projects[0]
    protect(gitlab_target, project, "v*", MAINTAINER)
    gitlab_target.clear_requests()
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="developer"))
    (action,) = result["actions"]
    assert action["action"] == "update" and "never unprotected" in action["note"]
    assert action["before"]["create_access_levels"] == [{"access_level": "maintainer"}]
    assert action["after"]["create_access_levels"] == [{"access_level": "developer"}]
    assert protections(gitlab_target, project) == {"v*": [("access_level", 30)]}
    writes = [(e["method"], urllib.parse.unquote(e["path"]).rsplit("/", 1)[-1])
              for e in gitlab_target.requests()["log"] if e["method"] != "GET"]
    # A temporary rule matching the same tags (v** is v* for GitLab's matcher) carries the new
    # settings while v* is re-created: some rule covers v* tags before, between and after every write.
    assert [method for method, dummy in writes] == ["POST", "DELETE", "POST", "DELETE"]
    assert writes[1][1] == "v*" and writes[3][1] == "v**"
    assert result["changed"] is True


@pytest.mark.needs_control
def test_new_settings_gitlab_refuses_leave_the_old_rule_untouched(gitlab_target, projects):
    project = projects[0]
    protect(gitlab_target, project, "v*", MAINTAINER)
    # max_retries=1: both attempts of the first POST (the temporary rule) get 500.
    gitlab_target.add_fault(method="POST", path=r"/protected_tags$", status=500, count=2)
    failure = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="no_one"),
                         fail=True)
    gitlab_target.clear_faults()
    msg = failure["msg"]
    assert "cannot protect tag v** on %s: HTTP 500" % project.path_with_namespace in msg
    assert msg.endswith("Nothing was changed.") and failure["changed"] is False
    assert protections(gitlab_target, project) == {"v*": [("access_level", 40)]}


def test_a_failed_re_create_keeps_the_tags_protected_and_says_exactly_how(gitlab_target, projects, monkeypatch):
    project = projects[0]
    protect(gitlab_target, project, "v*", MAINTAINER)
    original = _client.GitlabClient.create

    def refuse_v_star(self, path, action, target=None, data=None):
        if path.endswith("/protected_tags") and (data or {}).get("name") == "v*":
            raise GitlabModuleError("cannot %s: HTTP 500 Internal Server Error" % action, status=500)
        return original(self, path, action, target, data)

    monkeypatch.setattr(_client.GitlabClient, "create", refuse_v_star)
    failure = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="no_one"),
                         fail=True)
    msg = failure["msg"]
    assert "cannot protect tag v*: HTTP 500" in msg
    assert "Now on GitLab: v*: not protected; v**: [{'access_level': 'no_one'}]" in msg
    assert "Changed before the failure: 1 project: %s (protect temporary rule v**, unprotect v* to re-create it)" % (
        project.path_with_namespace) in msg
    assert failure["changed"] is True
    assert protections(gitlab_target, project) == {"v**": [("access_level", 0)]}
    assert "Run the task again to finish: it re-creates v* if needed, and the first run after v* was re-created " \
           "removes v**" in msg
    # Re-running the task finishes in two runs. The first protects v* and keeps v**: v* was not re-created
    # after v**, so v** may be the temporary rule of another run still updating v*.
    monkeypatch.setattr(_client.GitlabClient, "create", original)
    task = args(gitlab_target, paths(project), name="v*", create_access_level="no_one")
    again = run_module(protected_tag.main, task)
    assert [(a["action"], a["before"] and a["before"]["name"]) for a in again["actions"]] == [("protect", None)]
    assert again["changed"] is True
    assert protections(gitlab_target, project) == {"v*": [("access_level", 0)], "v**": [("access_level", 0)]}
    # The next removes v**, older than v* now, and nothing else; then nothing is left to do.
    last = run_module(protected_tag.main, task)
    assert [(a["action"], a["before"] and a["before"]["name"]) for a in last["actions"]] == [("unprotect", "v**")]
    assert "interrupted update of v*" in last["actions"][0]["note"]
    assert last["changed"] is True
    assert protections(gitlab_target, project) == {"v*": [("access_level", 0)]}
    settled = run_module(protected_tag.main, task)
    assert settled["changed"] is False and settled["actions"] == []


def test_an_answer_lost_after_gitlab_protected_counts_as_done(gitlab_target, projects, monkeypatch):
    project = projects[0]
    original = _client.GitlabClient.create

    def apply_then_lose(self, path, action, target=None, data=None):
        original(self, path, action, target, data)
        raise GitlabModuleError("cannot %s: GitLab did not answer" % action, answer_lost=True)

    monkeypatch.setattr(_client.GitlabClient, "create", apply_then_lose)
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="no_one"))
    assert result["changed"] is True
    assert protections(gitlab_target, project) == {"v*": [("access_level", 0)]}


# --- deploy keys, users, groups --------------------------------------------------------

def test_deploy_key_allowed_by_title_key_or_fingerprint(gitlab_target, projects):
    key = new_key()
    created = [add_key(gitlab_target, project, key) for project in projects]
    key_id = created[0].id
    task = args(gitlab_target, paths(*projects), name="v*", allowed_to_create=[{"deploy_key": "runner-fleet"}])
    result = run_module(protected_tag.main, task)
    assert result["changed"] is True
    assert result["actions"][0]["after"]["create_access_levels"] == [{"deploy_key_id": key_id, "deploy_key": "runner-fleet"}]
    for project in projects:
        assert protections(gitlab_target, project) == {"v*": [("deploy_key_id", key_id)]}

    gitlab_target.clear_requests()
    for ref in ("runner-fleet", key, "SHA256:" + key_fingerprint(key)):
        task["allowed_to_create"] = [{"deploy_key": ref}]
        assert run_module(protected_tag.main, task)["changed"] is False
    counts = gitlab_target.requests()
    assert counts["writes"] == 0
    # One list of protections and one of deploy keys per project and run.
    assert counts["reads"] == 3 * 2 * len(projects), counts["by_route"]


def key_fingerprint(text):
    from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
    return parse_public_key(text).fingerprint_sha256


def test_role_and_deploy_key_together(gitlab_target, projects):
    project = projects[0]
    key = add_key(gitlab_target, project, new_key())
    protect(gitlab_target, project, "v*", MAINTAINER)
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="maintainer",
                                                 allowed_to_create=[{"deploy_key": "runner-fleet"}]))
    assert [a["action"] for a in result["actions"]] == ["update"]
    assert protections(gitlab_target, project) == {"v*": [("access_level", 40), ("deploy_key_id", key.id)]}
    gitlab_target.clear_requests()
    again = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level=40,
                                                allowed_to_create=[{"deploy_key": "runner-fleet"}]))
    assert again["changed"] is False and gitlab_target.requests()["writes"] == 0


@pytest.mark.parametrize("entry, message", [
    ({"user": "nobody-such-user"}, "names user 'nobody-such-user', and GitLab has no such user"),
    ({"group": "no/such/group"}, "names group 'no/such/group', and GitLab has no such group"),
    ({"deploy_key": "no-such-key"}, "deploy key 'no-such-key' is not enabled on"),
])
def test_unknown_user_group_or_key_fails_before_any_write(gitlab_target, projects, entry, message):
    gitlab_target.clear_requests()
    failure = run_module(protected_tag.main, args(gitlab_target, paths(*projects), name="v*",
                                                  allowed_to_create=[entry]), fail=True)
    assert message in failure["msg"]
    assert "Nothing was changed." in failure["msg"]
    assert gitlab_target.requests()["writes"] == 0
    assert protections(gitlab_target, projects[0]) == {}


def test_deploy_key_without_write_access_is_refused_before_any_write(gitlab_target, projects):
    project = projects[0]
    add_key(gitlab_target, project, new_key(), can_push=False)
    gitlab_target.clear_requests()
    failure = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*",
                                                  allowed_to_create=[{"deploy_key": "runner-fleet"}]), fail=True)
    assert "without write access" in failure["msg"] and "can_push: true" in failure["msg"]
    assert gitlab_target.requests()["writes"] == 0


def test_user_and_group_entries_resolve_to_ids(gitlab_target, projects):
    project = projects[0]
    user, dummy = gitlab_target.make_user("pt-rel")
    gitlab_target.add_member(project, user, DEVELOPER)
    group = gitlab_target.make_group("pt-rel")
    result = run_module(protected_tag.main, args(
        gitlab_target, paths(project), name="v*", create_access_level="maintainer",
        allowed_to_create=[{"user": user.username}, {"group": group.full_path}]))
    (action,) = result["actions"]
    assert action["after"]["create_access_levels"] == [
        {"access_level": "maintainer"}, {"user_id": user.id, "user": user.username},
        {"group_id": group.id, "group": group.full_path}]
    stored = protections(gitlab_target, project)["v*"]
    if stored == [("access_level", 40)]:  # GitLab Free ignores users and groups: the module says so.
        assert any("ignores user and group" in w for w in result.get("warnings", []))
    else:
        assert stored == sorted([("access_level", 40), ("user_id", user.id), ("group_id", group.id)])


# --- branch names, purge, absent -------------------------------------------------------

def test_block_tags_named_like_existing_branches(gitlab_target, projects):
    project = projects[0]
    gl_project = gitlab_target.admin_client().projects.get(project.id)
    default = gl_project.default_branch
    gl_project.branches.create({"branch": "qa", "ref": default})
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", block_branch_names=True))
    assert sorted(a["after"]["name"] for a in result["actions"]) == sorted(["v*", default, "qa"])
    assert protections(gitlab_target, project) == {
        "v*": [("access_level", 40)], default: [("access_level", 0)], "qa": [("access_level", 0)]}
    gitlab_target.clear_requests()
    again = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", block_branch_names=True))
    counts = gitlab_target.requests()
    assert again["changed"] is False and counts["writes"] == 0
    assert counts["reads"] == 2, counts["by_route"]  # protected tags + branches


def test_block_given_branch_names_keeps_declared_settings(gitlab_target, projects):
    project = projects[0]
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), tags=[
        {"name": "stable", "create_access_level": "maintainer"}], branch_names=["stable", "qa"]))
    assert protections(gitlab_target, project) == {"stable": [("access_level", 40)], "qa": [("access_level", 0)]}
    assert len(result["actions"]) == 2


def test_purge_removes_undeclared_protections_and_says_so(gitlab_target, projects):
    project = projects[0]
    protect(gitlab_target, project, "v*", MAINTAINER)
    protect(gitlab_target, project, "old-*", DEVELOPER)
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", exclusive=True))
    (action,) = result["actions"]
    assert action["action"] == "unprotect" and action["before"]["name"] == "old-*"
    assert "purge" in action["note"]
    assert protections(gitlab_target, project) == {"v*": [("access_level", 40)]}


def test_additive_by_default(gitlab_target, projects):
    project = projects[0]
    protect(gitlab_target, project, "old-*", DEVELOPER)
    run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*"))
    assert set(protections(gitlab_target, project)) == {"old-*", "v*"}


def test_unprotect_then_nothing_to_do(gitlab_target, projects):
    protect(gitlab_target, projects[0], "v*", MAINTAINER)
    result = run_module(protected_tag.main, args(gitlab_target, paths(*projects), name="v*", state="absent"))
    assert [(a["action"], a["project"]) for a in result["actions"]] == [("unprotect", projects[0].path_with_namespace)]
    assert protections(gitlab_target, projects[0]) == {}
    gitlab_target.clear_requests()
    again = run_module(protected_tag.main, args(gitlab_target, paths(*projects), name="v*", state="absent"))
    assert again["changed"] is False and gitlab_target.requests()["writes"] == 0


# --- errors --------------------------------------------------------------------------------

def test_developer_token_gets_403_naming_the_project(gitlab_target, projects):
    project = projects[0]
    user, token = gitlab_target.make_user("pt-dev")
    gitlab_target.add_member(project, user, DEVELOPER)
    failure = run_module(protected_tag.main, args(gitlab_target, paths(project), token=token, name="v*"), fail=True)
    assert failure["status"] == 403
    assert project.path_with_namespace in failure["msg"] and "Maintainer" in failure["msg"]
    assert "Nothing was changed." in failure["msg"]


def test_one_missing_project_fails_the_task_before_any_write(gitlab_target, projects):
    gitlab_target.clear_requests()
    failure = run_module(protected_tag.main, args(gitlab_target, paths(*projects) + ["no/such-project"], name="v*"),
                         fail=True)
    assert "- no/such-project: cannot list protected tags on no/such-project: HTTP 404" in failure["msg"]
    assert gitlab_target.requests()["writes"] == 0


@pytest.mark.parametrize("extra, message", [
    (dict(name="v*", tags=[{"name": "x"}]), "mutually exclusive"),
    (dict(name="v*", create_access_level="owner"), "create_access_level must be one of"),
    (dict(tags=[{"name": "v*"}, {"name": "v*"}]), "declares v* more than once"),
    (dict(name="v*", purge=True, state="absent"), "purge works with state=present only"),
    (dict(create_access_level="maintainer"), "need name"),
    (dict(), "nothing to do"),
    (dict(name="v*", allowed_to_create=[{"user": "a", "deploy_key": "b"}]), "allowed_to_create[0] must name exactly one"),
])
def test_bad_input_fails_before_any_request(extra, message):
    # An address nothing listens on: any request would fail differently.
    task = dict(api_url="http://127.0.0.1:9", api_token="x", projects=["g/p"], max_retries=0)
    task.update(extra)
    failure = run_module(protected_tag.main, task, fail=True)
    assert message in failure["msg"]


# --- GitLab enforces what the module set ---------------------------------------------------

def test_developer_refused_and_maintainer_accepted_for_v_tags(gitlab_target, projects):
    project = projects[0]
    owner, owner_token = gitlab_target.make_user("pt-keyowner")
    gitlab_target.add_member(project, owner, MAINTAINER)
    dev, dev_token = gitlab_target.make_user("pt-developer")
    gitlab_target.add_member(project, dev, DEVELOPER)
    add_key(gitlab_target, project, new_key(), token=owner_token)
    run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", create_access_level="maintainer",
                                        allowed_to_create=[{"deploy_key": "runner-fleet"}]))
    default = gitlab_target.admin_client().projects.get(project.id).default_branch

    as_dev = gitlab_target.client(dev_token).projects.get(project.id, lazy=True)
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as refused:
        as_dev.tags.create({"tag_name": "v1.0.0", "ref": default})
    assert refused.value.response_code == 400
    assert "not allowed to create this tag as it is protected" in str(refused.value)
    as_dev.tags.create({"tag_name": "nightly-1", "ref": default})  # unprotected names stay open

    as_owner = gitlab_target.client(owner_token).projects.get(project.id, lazy=True)
    assert as_owner.tags.create({"tag_name": "v1.0.0", "ref": default}).name == "v1.0.0"


def test_what_gitlab_stores_differently_is_reported_not_hidden(gitlab_target, projects):
    """A user alone: GitLab Premium stores just the user; GitLab Free (and servers that add the
    default role) store something else, which the module reports truthfully."""
    project = projects[0]
    user, dummy = gitlab_target.make_user("pt-only")
    gitlab_target.add_member(project, user, DEVELOPER)
    result = run_module(protected_tag.main, args(gitlab_target, paths(project), name="u*",
                                                 allowed_to_create=[{"user": user.username}]))
    stored = protections(gitlab_target, project)["u*"]
    (action,) = result["actions"]
    if stored == [("user_id", user.id)]:
        assert "warnings" not in result
    else:
        (warning,) = result["warnings"]
        assert "GitLab protected tag 'u*' on %s with" % project.path_with_namespace in warning
        assert "ignores user and group entries" in warning
        assert {"access_level": "maintainer"} in action["after"]["create_access_levels"]


@pytest.mark.needs_control
def test_no_unauthorised_tag_gets_in_while_a_rule_is_updated(gitlab_target, projects):
    """A Developer keeps trying to create v* tags through the tags API while v* changes from
    Maintainers to a deploy key and back, with latency so the update's requests interleave with
    the attempts. GitLab applies the most permissive matching rule; the temporary rule must leave
    no moment in which a Developer may create a v* tag."""
    import threading

    project = projects[0]
    protect(gitlab_target, project, "v*", MAINTAINER)
    key = add_key(gitlab_target, project, new_key(), title="releaser", can_push=True)
    developer, token = gitlab_target.make_user("pt-racer")
    gitlab_target.add_member(project, developer, DEVELOPER)
    dev_project = gitlab_target.client(token).projects.get(project.id, lazy=True)
    attempts, created, stop = [0], [], threading.Event()

    def keep_trying():
        while not stop.is_set():
            name = "v0.%d" % attempts[0]
            attempts[0] += 1
            try:
                dev_project.tags.create({"tag_name": name, "ref": "main"})
                created.append(name)
            except gitlab.exceptions.GitlabCreateError:
                pass

    gitlab_target.set_latency(15)
    racer = threading.Thread(target=keep_trying)
    racer.start()
    try:
        for settings in ([{"deploy_key": "releaser"}], [{"access_level": "maintainer"}]) * 3:
            run_module(protected_tag.main, args(gitlab_target, paths(project), name="v*", allowed_to_create=settings))
    finally:
        stop.set()
        racer.join()
        gitlab_target.set_latency(0)
    assert attempts[0] > 20, "the loop must really have raced the updates"
    assert created == [], "a Developer created %s during an update" % created
    assert protections(gitlab_target, project) == {"v*": [("access_level", 40)]}
    assert key.id  # the key the rule named in between


def test_check_mode_plans_a_key_the_same_run_would_add_and_a_real_run_still_refuses_it(gitlab_target, projects):
    """The README's flow under --check: deploy_key adds the key, protected_tag allows it; neither writes."""
    project = projects[0]
    readonly = add_key(gitlab_target, project, new_key(), title="read-only-key")
    task = args(gitlab_target, paths(*projects), name="v*", create_access_level="maintainer",
                allowed_to_create=[{"deploy_key": "runner-fleet"}, {"deploy_key": "read-only-key"}])
    if gitlab_target.is_test_server:
        gitlab_target.clear_requests()
    planned = run_module(protected_tag.main, dict(task, _ansible_check_mode=True, _ansible_diff=True))
    assert planned["changed"] is True
    assert [(a["action"], a["project"]) for a in planned["actions"]] == [("protect", p.path_with_namespace)
                                                                         for p in projects]
    after = planned["actions"][0]["after"]["create_access_levels"]
    assert after[0] == {"access_level": "maintainer"}
    assert [entry.get("deploy_key") for entry in after[1:]] == ["read-only-key", "runner-fleet"]
    (warning,) = planned["warnings"]
    assert "check mode" in warning and "'runner-fleet'" in warning and "'read-only-key'" in warning
    assert projects[0].path_with_namespace in warning
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["writes"] == 0
    assert protections(gitlab_target, project) == {}

    failed = run_module(protected_tag.main, task, fail=True)
    assert "is not enabled on" in failed["msg"] and failed["changed"] is False
    assert protections(gitlab_target, project) == {} and readonly.id
