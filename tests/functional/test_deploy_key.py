# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy_key's main() against the GitLab test server (or a real GitLab with GITLAB_URL/GITLAB_TOKEN).

State is read back with an independent python-gitlab client; "no write on the
second run" is asserted on the server's request counters.
"""

from __future__ import annotations

import base64
import re
import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.modules import deploy_key

MAINTAINER, DEVELOPER = 40, 30


def new_key(comment="runner@ctl"):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return "%s %s" % (text, comment)


def fingerprint(text):
    return parse_public_key(text).fingerprint_sha256


def args(target, projects, token=None, **kwargs):
    result = dict(api_url=target.url, api_token=token or target.admin_token, projects=projects, max_retries=3)
    result.update(kwargs)
    return result


def paths(*projects):
    return [p.path_with_namespace for p in projects]


def keys_on(target, project):
    """The deploy keys of a project, read with an independent client."""
    gl = target.admin_client()
    return [k.asdict() for k in gl.projects.get(project.id).keys.list(get_all=True)]


def add_key(target, project, key, title="seeded", can_push=False, token=None):
    gl = target.client(token) if token else target.admin_client()
    return gl.projects.get(project.id).keys.create({"title": title, "key": key, "can_push": can_push})


@pytest.fixture
def projects(gitlab_target, clean_target):
    return [gitlab_target.make_project("dk") for dummy in range(3)]


def test_one_key_on_many_projects_then_nothing_to_do(gitlab_target, projects):
    key = new_key()
    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(*projects), key=key, title="runner-fleet",
                                              can_push=True))
    assert result["changed"] is True
    assert [(a["action"], a["project"]) for a in result["actions"]] == [
        ("create", projects[0].path_with_namespace),
        ("enable", projects[1].path_with_namespace),
        ("enable", projects[2].path_with_namespace),
    ]
    first = gitlab_target.requests()
    ids = set()
    for project in projects:
        (stored,) = keys_on(gitlab_target, project)
        assert stored["fingerprint_sha256"] == fingerprint(key)
        assert stored["title"] == "runner-fleet" and stored["can_push"] is True
        ids.add(stored["id"])
    assert len(ids) == 1, "one key linked, not one key per project"
    assert result["deploy_key"]["id"] in ids
    assert result["deploy_key"]["fingerprint_sha256"] == "SHA256:" + fingerprint(key)
    assert all(p["can_push"] for p in result["deploy_key"]["projects"])

    gitlab_target.clear_requests()
    # The same key with another comment and surrounding whitespace is the same key.
    again = run_module(deploy_key.main, args(gitlab_target, paths(*projects), key="  %s other comment\n" % key.rsplit(" ", 1)[0],
                                             title="runner-fleet", can_push=True))
    assert again["changed"] is False and again["actions"] == [] and again["notes"] == []
    if gitlab_target.is_test_server:
        second = gitlab_target.requests()
        assert second["writes"] == 0
        assert second["reads"] == len(projects)  # one list per project
        assert first["writes"] == len(projects)  # one POST per project, can_push included


def test_check_mode_and_diff_leave_the_server_untouched(gitlab_target, projects):
    key = new_key()
    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), key=key, title="ck"),
                        check_mode=True, diff=True)
    assert result["changed"] is True
    assert [a["action"] for a in result["actions"]] == ["create", "enable"]
    assert [d["before_header"] for d in result["diff"]] == paths(*projects[:2])
    fp = "SHA256:" + fingerprint(key)
    assert result["diff"][0]["before"] == {}
    assert result["diff"][0]["after"][fp]["title"] == "ck"
    assert result["deploy_key"]["id"] is None
    assert keys_on(gitlab_target, projects[0]) == [] and keys_on(gitlab_target, projects[1]) == []
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["writes"] == 0


def test_title_and_can_push_are_updated_in_place(gitlab_target, projects):
    key = new_key()
    stored = add_key(gitlab_target, projects[0], key, title="old-title")
    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key, title="new-title",
                                              can_push=True), diff=True)
    assert [a["action"] for a in result["actions"]] == ["update"]
    fp = "SHA256:" + fingerprint(key)
    assert result["diff"][0]["before"][fp]["title"] == "old-title"
    assert result["diff"][0]["after"][fp] == {"id": stored.id, "title": "new-title", "fingerprint_sha256": fp,
                                              "can_push": True, "expires_at": None}
    (now,) = keys_on(gitlab_target, projects[0])
    assert (now["id"], now["title"], now["can_push"]) == (stored.id, "new-title", True)

    gitlab_target.clear_requests()
    again = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key, title="new-title",
                                             can_push=True))
    assert again["changed"] is False
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["writes"] == 0


def test_enable_on_a_second_project_reuses_the_key(gitlab_target, projects):
    key = new_key()
    stored = add_key(gitlab_target, projects[0], key, title="runner-a")
    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), key=key, title="runner-a"))
    assert [(a["action"], a["project"]) for a in result["actions"]] == [("enable", projects[1].path_with_namespace)]
    assert [k["id"] for k in keys_on(gitlab_target, projects[1])] == [stored.id]
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["writes"] == 1


def test_can_push_per_project_in_one_run(gitlab_target, projects):
    key = new_key()
    api, web, infra = paths(*projects)
    entries = [{"project": api, "can_push": True}, web, {"project": infra, "can_push": False}]
    result = run_module(deploy_key.main, args(gitlab_target, entries, key=key, title="runner-1"))
    assert result["changed"] is True
    pushes = [keys_on(gitlab_target, p)[0]["can_push"] for p in projects]
    assert pushes == [True, False, False]
    assert result["deploy_key"]["projects"] == [
        {"project": api, "can_push": True}, {"project": web, "can_push": False},
        {"project": infra, "can_push": False}]
    # Flip one project's access: one update there, nothing elsewhere.
    gitlab_target.clear_requests()
    entries[1] = {"project": web, "can_push": True}
    result = run_module(deploy_key.main, args(gitlab_target, entries, key=key, title="runner-1"))
    assert [(a["action"], a["project"]) for a in result["actions"]] == [("update", web)]
    assert [keys_on(gitlab_target, p)[0]["can_push"] for p in projects] == [True, True, False]
    again = run_module(deploy_key.main, args(gitlab_target, entries, key=key, title="runner-1"))
    assert again["changed"] is False


@pytest.mark.parametrize("entry, message", [
    ({"name": "a/b"}, "projects[0] must be a project id or path, or a dictionary"),
    ({"project": "a/b", "can_push": "maybe"}, "projects[0].can_push must be true or false"),
])
def test_bad_project_entries_fail_before_any_request(gitlab_target, clean_target, entry, message):
    gitlab_target.clear_requests() if gitlab_target.is_test_server else None
    failure = run_module(deploy_key.main, args(gitlab_target, [entry], key=new_key()), fail=True)
    assert message in failure["msg"]
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["total"] == 0


def test_key_known_outside_the_task_is_linked_not_duplicated(gitlab_target, projects):
    # Stored with another comment: GitLab's raw-text reuse misses, its uniqueness check fires,
    # and the module finds the key by fingerprint and enables it by id.
    key = new_key("first@host")
    stored = add_key(gitlab_target, projects[2], key, title="elsewhere")
    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key.replace("first@host", "second@host"),
                                              title="elsewhere", can_push=True))
    assert result["changed"] is True
    (linked,) = keys_on(gitlab_target, projects[0])
    assert (linked["id"], linked["can_push"]) == (stored.id, True)


def test_non_admin_links_a_key_known_under_another_comment(gitlab_target, projects):
    # Same as above for a Maintainer who is not an admin: the module finds the
    # key through GET /users/:id/project_deploy_keys instead of GET /deploy_keys.
    user, token = gitlab_target.make_user("dk-maint")
    for project in projects[:2]:
        gitlab_target.add_member(project, user, MAINTAINER)
    key = new_key("first@host")
    stored = add_key(gitlab_target, projects[1], key, title="elsewhere", token=token)
    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), token=token,
                                              key=key.replace("first@host", "second@host"), title="elsewhere"))
    assert result["changed"] is True
    (linked,) = keys_on(gitlab_target, projects[0])
    assert linked["id"] == stored.id
    again = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), token=token,
                                             key=key.replace("first@host", "second@host"), title="elsewhere"))
    assert again["changed"] is False


def test_shared_key_title_is_reported_not_looped(gitlab_target, projects):
    user, token = gitlab_target.make_user("maint")
    for project in projects[:2]:
        gitlab_target.add_member(project, user, MAINTAINER)
    key = new_key()
    add_key(gitlab_target, projects[0], key, title="kept", token=token)
    add_key(gitlab_target, projects[1], key, title="kept", token=token)
    for _run in range(2):
        gitlab_target.clear_requests()
        result = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), token=token, key=key,
                                                  title="renamed"))
        assert result["changed"] is False and result["actions"] == []
        assert "GitLab kept title 'kept'" in result["notes"][0] and "only an admin can rename it" in result["notes"][0]
        if gitlab_target.is_test_server:
            assert gitlab_target.requests()["writes"] == 0
    assert keys_on(gitlab_target, projects[0])[0]["title"] == "kept"

    # An admin may rename it: one PUT renames the key everywhere.
    result = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), key=key, title="renamed"))
    assert [a["action"] for a in result["actions"]] == ["update"]
    assert [k["title"] for p in projects[:2] for k in keys_on(gitlab_target, p)] == ["renamed", "renamed"]


def test_rename_gitlab_ignores_is_reported_truthfully(gitlab_target, projects):
    # The key is also on a project outside the task: the plan sees one project and tries the
    # rename; GitLab answers 200 and keeps the title, and the module says so instead of claiming it.
    user, token = gitlab_target.make_user("maint")
    for project in projects[:2]:
        gitlab_target.add_member(project, user, MAINTAINER)
    key = new_key()
    add_key(gitlab_target, projects[0], key, title="kept", token=token)
    add_key(gitlab_target, projects[1], key, title="kept", token=token)
    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), token=token, key=key,
                                              title="renamed"))
    assert result["changed"] is False
    assert result["actions"][0]["after"]["title"] == "kept"
    assert "GitLab kept title 'kept'" in result["notes"][0]
    assert result["deploy_key"]["title"] == "kept"
    assert keys_on(gitlab_target, projects[0])[0]["title"] == "kept"


def test_absent_by_key_and_by_title(gitlab_target, projects):
    key, other = new_key(), new_key()
    for project in projects[:2]:
        add_key(gitlab_target, project, key, title="runner-x")
    add_key(gitlab_target, projects[0], other, title="by-title")
    result = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), key=key, state="absent"))
    assert [a["action"] for a in result["actions"]] == ["delete", "delete"]
    assert [k["title"] for k in keys_on(gitlab_target, projects[0])] == ["by-title"]
    assert keys_on(gitlab_target, projects[1]) == []

    result = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), title="by-title", state="absent"))
    assert [(a["action"], a["project"]) for a in result["actions"]] == [("delete", projects[0].path_with_namespace)]
    assert keys_on(gitlab_target, projects[0]) == []
    again = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), key=key, state="absent"))
    assert again["changed"] is False


def test_rotation_adds_the_new_key_then_purges_matching_titles(gitlab_target, projects):
    old, unrelated, new = new_key(), new_key(), new_key()
    for project in projects[:2]:
        add_key(gitlab_target, project, old, title="runner-2024")
    add_key(gitlab_target, projects[0], unrelated, title="ci-mirror")
    params = args(gitlab_target, paths(*projects[:2]), key=new, title="runner-2025", can_push=True,
                  purge_titles=["runner-*"])
    result = run_module(deploy_key.main, params)
    assert [(a["action"], a["project"]) for a in result["actions"]] == [
        ("create", projects[0].path_with_namespace),
        ("delete", projects[0].path_with_namespace),
        ("enable", projects[1].path_with_namespace),
        ("delete", projects[1].path_with_namespace),
    ]
    assert result["actions"][1]["note"] == "title matches purge_titles 'runner-*'"
    assert sorted(k["title"] for k in keys_on(gitlab_target, projects[0])) == ["ci-mirror", "runner-2025"]
    assert [k["title"] for k in keys_on(gitlab_target, projects[1])] == ["runner-2025"]
    assert run_module(deploy_key.main, params)["changed"] is False


def test_expiry_differs_warns_and_recreate_applies_it(gitlab_target, projects):
    key = new_key()
    first = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key, title="exp",
                                             expires_at="2031-01-31"))
    assert first["changed"] is True
    assert keys_on(gitlab_target, projects[0])[0]["expires_at"].startswith("2031-01-31")

    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key, title="exp",
                                              expires_at="2032-06-30"))
    assert result["changed"] is False and result["actions"] == []
    assert "GitLab cannot change a key's expiry" in result["notes"][0]
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["writes"] == 0

    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key, title="exp",
                                              expires_at="2032-06-30", recreate=True))
    assert [a["action"] for a in result["actions"]] == ["recreate"]
    (now,) = keys_on(gitlab_target, projects[0])
    assert now["expires_at"].startswith("2032-06-30")
    again = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=key, title="exp",
                                             expires_at="2032-06-30", recreate=True))
    assert again["changed"] is False


def _private_key_text():
    private = ed25519.Ed25519PrivateKey.generate()
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption()).decode()


def _short_rsa():
    public = rsa.generate_private_key(65537, 1024).public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _dsa():
    # A DSA public key line; cryptography deprecates generating DSA SSH keys, and the
    # module refuses the type before decoding the blob anyway.
    blob = base64.b64encode(b"\x00\x00\x00\x07ssh-dss" + bytes(range(64))).decode()
    return "ssh-dss %s old-dsa" % blob


@pytest.mark.parametrize(
    "make, message",
    [
        (_private_key_text, "holds a PRIVATE key; nothing was sent"),
        (_short_rsa, "1024-bit RSA key"),
        (_dsa, "DSA key, which is insecure and refused; use one of: ssh-ed25519"),
        (lambda: "ssh-ed25519 AAAA!!", "base64 part does not decode"),
    ],
    ids=["private", "rsa1024", "dsa", "malformed"],
)
def test_bad_keys_fail_before_any_request(gitlab_target, projects, make, message):
    text = make()
    gitlab_target.clear_requests()
    error = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=text, title="x"), fail=True)
    assert message in error["msg"]
    assert text not in error["msg"]
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["total"] == 0


def test_missing_project_fails_naming_it_and_changes_nothing(gitlab_target, projects):
    missing = projects[0].path_with_namespace + "-does-not-exist"
    gitlab_target.clear_requests()
    error = run_module(deploy_key.main, args(gitlab_target, [projects[0].path_with_namespace, missing],
                                             key=new_key(), title="x"), fail=True)
    assert "- %s: " % missing in error["msg"] and "404" in error["msg"]
    assert "Nothing was changed." in error["msg"]
    assert error["actions_done"] == []
    assert keys_on(gitlab_target, projects[0]) == []
    if gitlab_target.is_test_server:
        assert gitlab_target.requests()["writes"] == 0


def test_developer_gets_a_403_that_names_the_project_and_role(gitlab_target, projects):
    user, token = gitlab_target.make_user("dev")
    gitlab_target.add_member(projects[0], user, DEVELOPER)
    error = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), token=token, key=new_key(),
                                             title="x"), fail=True)
    assert error["status"] == 403
    assert projects[0].path_with_namespace in error["msg"] and "Maintainer" in error["msg"]


@pytest.mark.needs_control
def test_a_failure_mid_apply_says_what_was_changed(gitlab_target, projects):
    encoded = re.escape(urllib.parse.quote(projects[1].path_with_namespace, safe=""))
    gitlab_target.add_fault(method="POST", path=r"/projects/%s/deploy_keys$" % encoded, status=500, count=20)
    error = run_module(deploy_key.main, args(gitlab_target, paths(*projects[:2]), key=new_key(), title="x",
                                             max_retries=0), fail=True)
    assert "- %s: " % projects[1].path_with_namespace in error["msg"] and "HTTP 500" in error["msg"]
    # The first project got the key before the second one failed: counted, named, and what was done.
    assert "failed on 1 of 2 projects" in error["msg"]
    assert "Changed before the failure: 1 project: %s (create)." % projects[0].path_with_namespace in error["msg"]
    assert error["changed"] is True
    assert error["actions_done"] == [projects[0].path_with_namespace]


@pytest.mark.needs_control
def test_rate_limits_and_server_errors_are_retried(gitlab_target, projects):
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=503, count=2)
    gitlab_target.add_fault(method="POST", path=r"/deploy_keys$", status=429, retry_after=1, count=1)
    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(projects[0]), key=new_key(), title="x"))
    assert result["changed"] is True
    by_route = gitlab_target.requests()["by_route"]
    assert by_route["GET /projects/:id/deploy_keys"] == 3
    assert by_route["POST /projects/:id/deploy_keys"] == 2
    assert len(keys_on(gitlab_target, projects[0])) == 1


# --- the administrators' instance list: one read per 100 keys instead of one per project ---------------


@pytest.fixture
def many_projects(gitlab_target, clean_target):
    return [gitlab_target.make_project("dki") for dummy in range(12)]


def _reads_by_kind(log):
    per_project = [e for e in log if e["method"] == "GET" and re.search(r"/projects/[^/]+/deploy_keys$", e["path"])]
    instance = [e for e in log if e["method"] == "GET" and e["path"].split("?")[0].endswith("/api/v4/deploy_keys")]
    return per_project, instance


@pytest.mark.needs_control
def test_an_admins_no_change_run_reads_the_instance_list_not_each_project(gitlab_target, many_projects):
    key = new_key()
    first = run_module(deploy_key.main, args(gitlab_target, paths(*many_projects), key=key, title="fleet",
                                             can_push=True))
    assert first["changed"] is True
    gitlab_target.clear_requests()
    again = run_module(deploy_key.main, args(gitlab_target, paths(*many_projects), key=key, title="fleet",
                                             can_push=True))
    assert again["changed"] is False and again["actions"] == []
    counts = gitlab_target.requests()
    per_project, instance = _reads_by_kind(counts["log"])
    assert counts["writes"] == 0 and per_project == [] and len(instance) == 1
    assert counts["reads"] == 2  # GET /user and one page of the instance's keys


@pytest.mark.needs_control
def test_projects_the_instance_list_does_not_name_are_read_on_their_own(gitlab_target, many_projects):
    """A project with no deploy key at all is not in the list: its own read proves it exists."""
    key = new_key()
    run_module(deploy_key.main, args(gitlab_target, paths(*many_projects[:10]), key=key, title="fleet"))
    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(*many_projects), key=key, title="fleet"))
    assert [(a["action"], a["project"]) for a in result["actions"]] == [
        ("enable", p.path_with_namespace) for p in many_projects[10:]]
    per_project, instance = _reads_by_kind(gitlab_target.requests()["log"])
    assert len(instance) == 1
    assert sorted(e["path"] for e in per_project) == sorted(
        "/api/v4/projects/%s/deploy_keys" % urllib.parse.quote(p.path_with_namespace, safe="") for p in many_projects[10:])

    gitlab_target.clear_requests()
    missing = run_module(deploy_key.main, args(gitlab_target, paths(*many_projects) + ["nobody/nothing-here"],
                                               key=key, title="fleet"), fail=True)
    assert "nobody/nothing-here" in missing["msg"] and missing["changed"] is False
    assert gitlab_target.requests()["writes"] == 0


def test_the_instance_list_and_the_per_project_reads_plan_the_same(gitlab_target, many_projects, monkeypatch):
    """Read-only and push links, another key beside ours, a project with none: the same plan either way."""
    from ansible_collections.runnercreds.gitlab.plugins.module_utils import _deploy_key_api

    key, other = new_key(), new_key("someone")
    for index, project in enumerate(many_projects[:8]):
        add_key(gitlab_target, project, key, title="fleet", can_push=index % 2 == 0)
    for project in many_projects[4:10]:
        add_key(gitlab_target, project, other, title="laptop", can_push=True)
    task = args(gitlab_target, paths(*many_projects), key=key, title="fleet-renamed", can_push=True,
                purge_titles=["lap*"], _ansible_check_mode=True)

    through_list = run_module(deploy_key.main, dict(task))
    monkeypatch.setattr(_deploy_key_api, "INSTANCE_LIST_MIN_TARGETS", 10 ** 6)
    per_project = run_module(deploy_key.main, dict(task))
    assert through_list["actions"] == per_project["actions"] and through_list["actions"]
    assert through_list["deploy_key"] == per_project["deploy_key"]


@pytest.mark.needs_control
def test_a_maintainer_reads_per_project(gitlab_target, many_projects):
    user, token = gitlab_target.make_user("dkimaint")
    for project in many_projects:
        gitlab_target.add_member(project, user, MAINTAINER)
    key = new_key()
    run_module(deploy_key.main, args(gitlab_target, paths(*many_projects), token=token, key=key, title="fleet"))
    gitlab_target.clear_requests()
    again = run_module(deploy_key.main, args(gitlab_target, paths(*many_projects), token=token, key=key,
                                             title="fleet"))
    assert again["changed"] is False
    per_project, instance = _reads_by_kind(gitlab_target.requests()["log"])
    assert instance == [] and len(per_project) == len(many_projects)


@pytest.mark.needs_control
@pytest.mark.parametrize("fault", [dict(status=500), dict(drop=True), dict(status=429, retry_after=0, count=3)],
                         ids=["persistent-500", "dropped-connection", "429-storm"])
def test_a_failing_instance_list_falls_back_to_per_project_reads(gitlab_target, many_projects, fault):
    key = new_key()
    run_module(deploy_key.main, args(gitlab_target, paths(*many_projects[:6]), key=key, title="fleet"))
    gitlab_target.add_fault(method="GET", path=r"^/api/v4/deploy_keys", **fault)
    gitlab_target.clear_requests()
    result = run_module(deploy_key.main, args(gitlab_target, paths(*many_projects), key=key, title="fleet"))
    gitlab_target.clear_faults()
    assert [(a["action"], a["project"]) for a in result["actions"]] == [
        ("enable", p.path_with_namespace) for p in many_projects[6:]]
    for project in many_projects:
        assert [k["fingerprint_sha256"] for k in keys_on(gitlab_target, project)] == [fingerprint(key)]
    log = gitlab_target.requests()["log"]
    before_writes = log[:next(i for i, e in enumerate(log) if e["method"] != "GET")]  # the read step
    per_project, instance = _reads_by_kind(before_writes)
    assert instance  # it was tried
    if fault.get("status") == 429:
        assert len(per_project) == len(many_projects) - 6  # waited out: the list answered in the end
    else:
        assert len(per_project) == len(many_projects)  # fell back
