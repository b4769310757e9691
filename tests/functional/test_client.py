# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client layer against a GitLab: retries, pagination, concurrency, errors, the named operations."""

from __future__ import annotations

import time

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _client
from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import api_path
from ansible_collections.runnercreds.gitlab.plugins.module_utils._connection import validate_connection
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError


def _client_for(target, token=None, **params):
    params.setdefault("max_retries", 3)
    params.setdefault("timeout", 5)
    return _client.GitlabClient(validate_connection(
        dict(api_url=target.url, api_token=token or target.admin_token, **params), environ={}))


@pytest.fixture
def project(gitlab_target, clean_target):
    return gitlab_target.make_project("client")


def _count(target, route):
    return target.requests()["by_route"].get(route, 0)


def _keys_path(project):
    return api_path("projects", project.id, "deploy_keys")


@pytest.mark.needs_control
@pytest.mark.parametrize("status", [500, 502, 503])
def test_transient_errors_are_retried(gitlab_target, project, status):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=status, count=2)
    gitlab_target.clear_requests()
    assert client.list(_keys_path(project), "list deploy keys", project.path_with_namespace) == []
    assert _count(gitlab_target, "GET /projects/:id/deploy_keys") == 3


@pytest.mark.needs_control
def test_rate_limit_waits_for_retry_after(gitlab_target, project):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=429, retry_after=1, count=1)
    gitlab_target.clear_requests()
    started = time.monotonic()
    assert client.list(_keys_path(project), "list deploy keys") == []
    # Correctness, not speed: the client must not come back before GitLab said it may.
    assert time.monotonic() - started >= 1.0
    assert _count(gitlab_target, "GET /projects/:id/deploy_keys") == 2


@pytest.mark.needs_control
def test_dropped_connection_is_retried(gitlab_target, project):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", drop=True, count=1)
    assert client.list(_keys_path(project), "list deploy keys") == []


@pytest.mark.needs_control
def test_retries_give_up_with_a_clear_error(gitlab_target, project):
    client = _client_for(gitlab_target, max_retries=1)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=503, count=5)
    with pytest.raises(GitlabModuleError) as info:
        client.list(_keys_path(project), "list deploy keys", "the/project")
    assert info.value.status == 503
    assert "cannot list deploy keys on the/project: HTTP 503" in info.value.msg


@pytest.mark.needs_control
def test_no_retries_when_max_retries_is_zero(gitlab_target, project):
    client = _client_for(gitlab_target, max_retries=0)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=502, count=1)
    gitlab_target.clear_requests()
    with pytest.raises(GitlabModuleError):
        client.list(_keys_path(project), "list deploy keys", "p")
    assert _count(gitlab_target, "GET /projects/:id/deploy_keys") == 1


@pytest.mark.needs_control
@pytest.mark.parametrize("fault", [dict(status=503), dict(drop=True)])
def test_create_once_is_never_re_sent(gitlab_target, project, fault):
    client = _client_for(gitlab_target, max_retries=5)
    gitlab_target.add_fault(method="POST", path=r"/deploy_tokens$", count=1, **fault)
    gitlab_target.clear_requests()
    with pytest.raises(GitlabModuleError) as info:
        client.create_once(api_path("projects", project.id, "deploy_tokens"), "create a token", "p",
                           {"name": "t", "scopes": ["read_registry"]})
    assert info.value.answer_lost is True
    assert _count(gitlab_target, "POST /projects/:id/deploy_tokens") == 1


@pytest.mark.needs_control
def test_create_once_still_waits_out_a_rate_limit(gitlab_target, project):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="POST", path=r"/deploy_tokens$", status=429, retry_after=0, count=1)
    gitlab_target.clear_requests()
    token = client.create_once(api_path("projects", project.id, "deploy_tokens"), "create a token", "p",
                               {"name": "t", "scopes": ["read_registry"]})
    assert token["token"]
    assert _count(gitlab_target, "POST /projects/:id/deploy_tokens") == 2


def test_delete_treats_a_missing_object_as_done_only_when_asked(gitlab_target, project):
    client = _client_for(gitlab_target)
    path = api_path("projects", project.id, "deploy_tokens", 999999)
    assert client.delete(path, "revoke token", "p", missing_ok=True) is False
    with pytest.raises(GitlabModuleError) as info:
        client.delete(path, "revoke token", "p")
    assert info.value.status == 404


def test_list_follows_every_page(gitlab_target, clean_target):
    group = gitlab_target.make_group("pages")
    for dummy in range(105):
        gitlab_target.make_project("p", namespace_id=group.id, initialize_with_readme=False)
    client = _client_for(gitlab_target)
    if gitlab_target.is_test_server:
        gitlab_target.clear_requests()
    projects = client.list(api_path("groups", group.full_path, "projects"), "list projects")
    assert len(projects) == 105
    assert len({p["id"] for p in projects}) == 105
    if gitlab_target.is_test_server:
        assert _count(gitlab_target, "GET /groups/:id/projects") == 2  # 100 + 5


def test_map_collects_errors_per_target(gitlab_target, clean_target):
    projects = [gitlab_target.make_project("map") for dummy in range(5)]
    refs = [p.path_with_namespace for p in projects]
    refs.insert(2, "no-such-group/no-such-project")
    client = _client_for(gitlab_target, concurrency=4)
    outcomes = client.map(refs, lambda ref: client.list(api_path("projects", ref, "deploy_keys"), "list deploy keys", ref))
    assert [o.target for o in outcomes] == refs
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True]
    missing = outcomes[2].error
    assert missing.status == 404
    assert missing.project == "no-such-group/no-such-project"
    assert "HTTP 404 Project Not Found" in missing.msg


@pytest.mark.needs_control
def test_map_runs_targets_concurrently(gitlab_target, clean_target):
    projects = [gitlab_target.make_project("conc") for dummy in range(4)]
    client = _client_for(gitlab_target, concurrency=4)
    gitlab_target.set_latency(200)
    gitlab_target.clear_requests()
    try:
        outcomes = client.map([p.id for p in projects],
                              lambda ref: client.list(api_path("projects", ref, "deploy_keys"), "list"))
    finally:
        gitlab_target.set_latency(0)
    assert all(o.ok for o in outcomes)
    # The server counts requests in flight at once: with one worker it stays 1.
    assert gitlab_target.requests()["max_in_flight"] >= 2


def test_bad_token_is_reported_as_401(gitlab_target):
    client = _client_for(gitlab_target, token="not-a-valid-token", max_retries=0)
    with pytest.raises(GitlabModuleError) as info:
        client.current_user()
    assert info.value.status == 401
    assert "check api_token" in info.value.msg
    assert "not-a-valid-token" not in info.value.msg


def test_current_user_is_read_once(gitlab_target, clean_target):
    client = _client_for(gitlab_target)
    if gitlab_target.is_test_server:
        gitlab_target.clear_requests()
    first, second = client.current_user(), client.current_user()
    assert first is second and first["is_admin"] is True
    if gitlab_target.is_test_server:
        assert _count(gitlab_target, "GET /user") == 1
