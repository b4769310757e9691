# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the shared runner guarantees for every API module, proven through each module's main().

One target resolver (a project given twice is one target), one connection
validator (bad connection options refused before any request), truthful
failures (status once, counts, ``changed``), and no private key echoed in
``invocation``.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from module_runner import run_module
from sshkeys import public_key

from ansible_collections.runnercreds.gitlab.plugins.modules import (
    deploy_key,
    deploy_key_info,
    deploy_token,
    deploy_token_info,
    protected_tag,
    protected_tag_info,
)

# Each API module with the smallest task that would write (or read) on one project.
MODULES = {
    "deploy_key": (deploy_key, lambda: dict(key=public_key(), title="runner")),
    "deploy_key_info": (deploy_key_info, dict),
    "deploy_token": (deploy_token, lambda: dict(name="pull", scopes=["read_registry"], _ansible_no_log=True)),
    "deploy_token_info": (deploy_token_info, dict),
    "protected_tag": (protected_tag, lambda: dict(name="v*", create_access_level="maintainer")),
    "protected_tag_info": (protected_tag_info, dict),
}


def task(target, module_name, projects, **overrides):
    module, extra = MODULES[module_name]
    result = dict(api_url=target.url, api_token=target.admin_token, projects=projects, max_retries=1)
    result.update(extra())
    result.update(overrides)
    return module, {key: value for key, value in result.items() if value is not None}


def private_key_text():
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


@pytest.fixture
def project(gitlab_target, clean_target):
    return gitlab_target.make_project("run")


# --- one target resolver ---------------------------------------------------------------------

@pytest.mark.parametrize("module_name", ["deploy_key", "deploy_token", "protected_tag"])
def test_one_project_named_three_ways_is_one_target(gitlab_target, project, module_name):
    path = project.path_with_namespace
    module, args = task(gitlab_target, module_name, [path, project.id, path.upper()])
    result = run_module(module.main, args)
    assert result["changed"] is True
    assert [a["project"] for a in result["actions"]] == [path]
    again = run_module(module.main, args)
    assert again["changed"] is False and again["actions"] == []


def test_one_project_by_id_and_path_gets_one_deploy_token_and_one_secret(gitlab_target, project):
    module, args = task(gitlab_target, "deploy_token", [project.id, project.path_with_namespace])
    result = run_module(module.main, args)
    assert len(result["deploy_tokens"]) == 1 and result["deploy_token"]["token"]
    tokens = gitlab_target.admin_client().projects.get(project.id).deploytokens.list(get_all=True)
    assert len(tokens) == 1


def test_conflicting_entries_for_one_project_are_refused_before_any_write(gitlab_target, project):
    gitlab_target.clear_requests()
    module, args = task(gitlab_target, "deploy_key",
                        [{"project": project.path_with_namespace, "can_push": True},
                         {"project": project.id, "can_push": False}])
    failure = run_module(module.main, args, fail=True)
    assert failure["msg"].startswith(
        f"deploy_key: projects[0] and projects[1] name the same project ({project.path_with_namespace})")
    assert "can_push" in failure["msg"] and failure["changed"] is False
    assert gitlab_target.requests()["writes"] == 0


# --- one connection validator -------------------------------------------------------------

@pytest.mark.needs_control
@pytest.mark.parametrize("module_name", sorted(MODULES))
@pytest.mark.parametrize("overrides, words", [
    (dict(api_url=""), "api_url is empty"),
    (dict(api_url="127.0.0.1:9"), "not an http(s) URL with a host"),
    (dict(ca_path="/nonexistent/ca.pem"), "ca_path is /nonexistent/ca.pem, which does not exist"),
    (dict(timeout=-1), "timeout must be a number of seconds greater than 0"),
    (dict(api_oauth_token="also-a-token"), "api_token and api_oauth_token are mutually exclusive"),
])
def test_bad_connection_options_are_refused_and_nothing_is_sent(
        gitlab_target, project, monkeypatch, module_name, overrides, words):
    monkeypatch.delenv("GITLAB_URL", raising=False)
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    gitlab_target.clear_requests()
    module, args = task(gitlab_target, module_name, [project.path_with_namespace], **overrides)
    failure = run_module(module.main, args, fail=True)  # a traceback would raise here instead
    assert failure["msg"].startswith(f"{module_name}: ")
    assert words in failure["msg"] and "Nothing was sent to GitLab." in failure["msg"]
    assert failure["changed"] is False
    assert gitlab_target.requests()["total"] == 0


@pytest.mark.needs_control
def test_an_api_url_copied_with_api_v4_works(gitlab_target, project):
    module, args = task(gitlab_target, "protected_tag_info", [project.path_with_namespace],
                        api_url=gitlab_target.url + "/api/v4/")
    assert run_module(module.main, args)["protected_tags"] == []


# --- truthful failures ------------------------------------------------------------------

@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_a_missing_project_is_named_with_its_status_once(gitlab_target, project, module_name):
    module, args = task(gitlab_target, module_name, [project.path_with_namespace, "nobody/nothing"])
    failure = run_module(module.main, args, fail=True)
    msg = failure["msg"]
    assert msg.startswith(f"{module_name}: ") and "failed on 1 of 2 projects" in msg
    assert "- nobody/nothing: " in msg and "HTTP 404 Project Not Found" in msg and "404 404" not in msg
    assert msg.endswith("Nothing was changed.") and failure["changed"] is False
    assert failure["status"] == 404 and failure["project"] == "nobody/nothing"


@pytest.mark.needs_control
def test_a_failure_after_writes_reports_changed_with_correct_counts(gitlab_target, clean_target):
    projects = [gitlab_target.make_project("cnt") for dummy in range(20)]
    last = projects[-1]
    gitlab_target.add_fault(method="POST", path=r"/projects/%d/deploy_keys$" % last.id, status=500, count=50)
    module, args = task(gitlab_target, "deploy_key", [p.id for p in projects], max_retries=0)
    failure = run_module(module.main, args, fail=True)
    assert "changing deploy keys failed on 1 of 20 projects" in failure["msg"]
    assert "Changed before the failure: 19 projects:" in failure["msg"]
    assert failure["changed"] is True and len(failure["actions_done"]) == 19
    assert last.id not in failure["actions_done"]


# --- private keys are never echoed ------------------------------------------------------------

@pytest.mark.parametrize("module_name, field", [
    ("deploy_key", "key"),
    ("deploy_key_info", "key"),
    ("protected_tag", "allowed_to_create"),
])
def test_a_private_key_given_by_mistake_is_not_in_invocation(gitlab_target, project, capsys, module_name, field):
    """The real exit path (exit_json/fail_json unpatched), which adds `invocation`."""
    from core_compat import patch_module_args, with_invocation

    secret = private_key_text()
    value = [{"deploy_key": secret}] if field == "allowed_to_create" else secret
    module, args = task(gitlab_target, module_name, [project.path_with_namespace], **{field: value})
    with patch_module_args(with_invocation(args)):
        with pytest.raises(SystemExit) as exited:
            module.main()
    assert exited.value.code == 1
    output = capsys.readouterr().out
    result = json.loads(output)
    assert "PRIVATE key" in result["msg"] and "nothing was sent" in result["msg"].lower()
    for line in secret.splitlines():
        if len(line) > 8:
            assert line not in output
    assert "invocation" in result
