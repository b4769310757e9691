# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared client layer: error translation (pure) and retries, pagination
and concurrency against the GitLab test server."""

from __future__ import annotations

import time

import gitlab.exceptions
import pytest
import requests

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _client
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError


# --- pure helpers -----------------------------------------------------------

@pytest.mark.parametrize(
    "error_message, expected",
    [
        ("404 Project Not Found", "404 Project Not Found"),
        (b"Retry later", "Retry later"),
        (["Name has already been taken"], "Name has already been taken"),
        ({"deploy_key.fingerprint_sha256": ["has already been taken"]},
         "deploy_key.fingerprint_sha256 has already been taken"),
        ({"title": ["can't be blank"], "key": ["is invalid", "is too long"]},
         "key is invalid, is too long; title can't be blank"),
    ],
)
def test_gitlab_message_reads_every_error_shape(error_message, expected):
    exc = gitlab.exceptions.GitlabHttpError(error_message=error_message, response_code=400)
    assert _client.gitlab_message(exc) == expected


def test_describe_error_names_status_message_target_and_hint():
    exc = gitlab.exceptions.GitlabCreateError(error_message="403 Forbidden", response_code=403)
    error = _client.describe_error(exc, "add the deploy key", "fleet/apps/api")
    assert isinstance(error, GitlabModuleError)
    assert error.status == 403
    assert error.project == "fleet/apps/api"
    assert error.msg.startswith("cannot add the deploy key on fleet/apps/api: HTTP 403 403 Forbidden")
    assert "Maintainer" in error.msg


def test_describe_error_for_an_unreachable_server():
    exc = requests.exceptions.ConnectionError("connection refused")
    error = _client.describe_error(exc, "list deploy keys", "g/p")
    assert error.status is None
    assert "did not answer" in error.msg and "api_url" in error.msg


def test_describe_error_re_raises_what_is_not_an_api_error():
    with pytest.raises(KeyError):
        _client.describe_error(KeyError("bug"), "list", "g/p")


@pytest.mark.parametrize(
    "ref, expected",
    [(12, 12), ("12", 12), ("group/sub/project", "group/sub/project"), ("/group/p/", "group/p"), (" g/p ", "g/p")],
)
def test_api_id(ref, expected):
    assert _client._api_id(ref) == expected


def test_failure_summary_names_each_failure_and_what_changed():
    outcomes = [
        _client.Outcome("g/a", value="ok"),
        _client.Outcome("g/b", error=GitlabModuleError("HTTP 404 404 Project Not Found", status=404)),
        _client.Outcome("g/c", error=GitlabModuleError("HTTP 403 403 Forbidden", status=403)),
    ]
    error = _client.failure_summary(outcomes, "deploy_key", changed_targets=["g/a"])
    assert "failed on 2 of 3" in error.msg
    assert "- g/b: HTTP 404" in error.msg and "- g/c: HTTP 403" in error.msg
    assert "Changed before the failure: g/a." in error.msg
    assert error.actions_done == ["g/a"]
    assert _client.failure_summary(outcomes[:1], "deploy_key") is None


def test_failure_summary_says_nothing_changed():
    outcomes = [_client.Outcome("g/b", error=GitlabModuleError("boom", status=500))]
    error = _client.failure_summary(outcomes, "deploy_key")
    assert error.msg.endswith("Nothing was changed.")
    assert error.status == 500 and error.project == "g/b"


def test_module_kwargs_merge_auth_spec_and_rules():
    kwargs = _client.module_kwargs({"name": {"type": "str"}}, required_one_of=[("a", "b")])
    spec = kwargs["argument_spec"]
    assert spec["api_token"]["no_log"] is True
    assert spec["api_oauth_token"]["no_log"] is True
    assert spec["api_job_token"]["no_log"] is True
    assert "name" in spec
    assert kwargs["mutually_exclusive"][0] == _client.TOKEN_OPTIONS
    assert ("a", "b") in kwargs["required_one_of"]


def test_bad_client_settings_are_refused():
    with pytest.raises(GitlabModuleError, match="concurrency"):
        _client.GitlabClient("http://127.0.0.1:9", private_token="t", concurrency=0)
    with pytest.raises(GitlabModuleError, match="max_retries"):
        _client.GitlabClient("http://127.0.0.1:9", private_token="t", max_retries=-1)


def test_connection_pool_is_sized_for_the_workers():
    client = _client.GitlabClient("http://127.0.0.1:9", private_token="t", concurrency=16)
    adapter = client.gl.session.get_adapter("http://127.0.0.1:9/")
    assert adapter._pool_maxsize == 16


# --- against the GitLab test server -----------------------------------------

def _client_for(target, **kwargs):
    kwargs.setdefault("max_retries", 3)
    kwargs.setdefault("timeout", 5)
    return _client.GitlabClient(target.url, private_token=target.admin_token, **kwargs)


@pytest.fixture
def project(gitlab_target, clean_target):
    return gitlab_target.make_project("client")


def _count(target, route):
    return target.requests()["by_route"].get(route, 0)


@pytest.mark.needs_control
@pytest.mark.parametrize("status", [500, 502, 503])
def test_transient_errors_are_retried(gitlab_target, project, status):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=status, count=2)
    gitlab_target.clear_requests()
    keys = client.call("list deploy keys", project.path_with_namespace,
                       client.list_all, client.project(project.id).keys)
    assert keys == []
    assert _count(gitlab_target, "GET /projects/:id/deploy_keys") == 3


@pytest.mark.needs_control
def test_rate_limit_waits_for_retry_after(gitlab_target, project):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=429, retry_after=1, count=1)
    gitlab_target.clear_requests()
    started = time.monotonic()
    assert client.list_all(client.project(project.id).keys) == []
    # Correctness, not speed: the client must not come back before GitLab said it may.
    assert time.monotonic() - started >= 1.0
    assert _count(gitlab_target, "GET /projects/:id/deploy_keys") == 2


@pytest.mark.needs_control
def test_dropped_connection_is_retried(gitlab_target, project):
    client = _client_for(gitlab_target)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", drop=True, count=1)
    assert client.list_all(client.project(project.id).keys) == []


@pytest.mark.needs_control
def test_retries_give_up_with_a_clear_error(gitlab_target, project):
    client = _client_for(gitlab_target, max_retries=1)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=503, count=5)
    with pytest.raises(GitlabModuleError) as info:
        client.call("list deploy keys", "the/project", client.list_all, client.project(project.id).keys)
    assert info.value.status == 503
    assert "cannot list deploy keys on the/project: HTTP 503" in info.value.msg


def test_no_retries_when_max_retries_is_zero(gitlab_target, project):
    if not gitlab_target.is_test_server:
        pytest.skip("needs the test server's control endpoint")
    client = _client_for(gitlab_target, max_retries=0)
    gitlab_target.add_fault(method="GET", path=r"/deploy_keys$", status=502, count=1)
    gitlab_target.clear_requests()
    with pytest.raises(GitlabModuleError):
        client.call("list deploy keys", "p", client.list_all, client.project(project.id).keys)
    assert _count(gitlab_target, "GET /projects/:id/deploy_keys") == 1


def test_list_all_follows_every_page(gitlab_target, clean_target):
    group = gitlab_target.make_group("pages")
    for dummy in range(105):
        gitlab_target.make_project("p", namespace_id=group.id, initialize_with_readme=False)
    client = _client_for(gitlab_target)
    gitlab_target.clear_requests() if gitlab_target.is_test_server else None
    projects = client.list_all(client.group(group.full_path).projects)
    assert len(projects) == 105
    assert len({p.id for p in projects}) == 105
    if gitlab_target.is_test_server:
        assert _count(gitlab_target, "GET /groups/:id/projects") == 2  # 100 + 5


def test_map_keeps_order_and_collects_errors_per_target(gitlab_target, clean_target):
    projects = [gitlab_target.make_project("map") for dummy in range(5)]
    refs = [p.path_with_namespace for p in projects]
    refs.insert(2, "no-such-group/no-such-project")
    client = _client_for(gitlab_target, concurrency=4)

    def work(ref):
        return client.call("list deploy keys", ref, client.list_all, client.project(ref).keys)

    outcomes = client.map(refs, work, action="list deploy keys")
    assert [o.target for o in outcomes] == refs
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True]
    missing = outcomes[2].error
    assert missing.status == 404
    assert missing.project == "no-such-group/no-such-project"
    assert "404 Project Not Found" in missing.msg


def test_map_lets_programming_errors_propagate(gitlab_target):
    client = _client_for(gitlab_target)

    def work(ref):
        raise KeyError(ref)

    with pytest.raises(KeyError):
        client.map(["a", "b"], work)


def test_map_runs_targets_concurrently(gitlab_target, clean_target):
    if not gitlab_target.is_test_server:
        pytest.skip("needs the test server's control endpoint")
    projects = [gitlab_target.make_project("conc") for dummy in range(4)]
    client = _client_for(gitlab_target, concurrency=4)
    gitlab_target.set_latency(200)
    gitlab_target.clear_requests()
    try:
        outcomes = client.map([p.id for p in projects],
                              lambda ref: client.list_all(client.project(ref).keys))
    finally:
        gitlab_target.set_latency(0)
    assert all(o.ok for o in outcomes)
    # The server counts requests in flight at once: with one worker it stays 1.
    assert gitlab_target.requests()["max_in_flight"] >= 2


def test_bad_token_is_reported_as_401(gitlab_target):
    client = _client.GitlabClient(gitlab_target.url, private_token="not-a-valid-token", max_retries=0)
    with pytest.raises(GitlabModuleError) as info:
        client.call("read the current user", None, client.gl.auth)
    assert info.value.status == 401
    assert "check api_token" in info.value.msg
    assert "not-a-valid-token" not in info.value.msg
