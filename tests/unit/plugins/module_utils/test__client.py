# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client layer's pure parts: error translation, paths, failure collection. No server."""

from __future__ import annotations

import gitlab.exceptions
import pytest
import requests

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _client
from ansible_collections.runnercreds.gitlab.plugins.module_utils._connection import validate_connection
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, TargetFailures


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
    assert _client.gitlab_message(error_message) == expected


def test_describe_error_names_status_once_message_target_and_hint():
    exc = gitlab.exceptions.GitlabCreateError(error_message="403 Forbidden", response_code=403)
    error = _client.describe_error(exc, "add the deploy key", "fleet/apps/api")
    assert isinstance(error, GitlabModuleError)
    assert error.status == 403
    assert error.project == "fleet/apps/api"
    assert error.msg.startswith("cannot add the deploy key on fleet/apps/api: HTTP 403 Forbidden (")
    assert "403 403" not in error.msg
    assert "Maintainer" in error.msg
    assert error.answer_lost is False


@pytest.mark.parametrize("message, status, expected", [
    ("404 Project Not Found", 404, "HTTP 404 Project Not Found"),
    ("Retry later", 429, "HTTP 429 Retry later"),
    ("500 Internal Server Error", 500, "HTTP 500 Internal Server Error"),
    ("title is missing", 400, "HTTP 400 title is missing"),
    ("400", 400, "HTTP 400"),
])
def test_every_status_prints_once(message, status, expected):
    exc = gitlab.exceptions.GitlabHttpError(error_message=message, response_code=status)
    text = _client.describe_error(exc, "do it").msg
    assert text.startswith("cannot do it: " + expected)
    assert text.count(str(status)) == 1


@pytest.mark.parametrize("status, lost", [(400, False), (404, False), (500, True), (502, True), (504, True)])
def test_a_5xx_may_have_been_applied(status, lost):
    exc = gitlab.exceptions.GitlabHttpError(error_message="x", response_code=status)
    assert _client.describe_error(exc, "create").answer_lost is lost


def test_describe_error_for_an_unreachable_server():
    error = _client.describe_error(requests.exceptions.ConnectionError("connection refused"), "list deploy keys", "g/p")
    assert error.status is None and error.answer_lost is True
    assert "did not answer" in error.msg and "api_url" in error.msg


def test_describe_error_re_raises_what_is_not_an_api_error():
    with pytest.raises(KeyError):
        _client.describe_error(KeyError("bug"), "list", "g/p")


@pytest.mark.parametrize("parts, expected", [
    (("projects", 12, "deploy_keys"), "/projects/12/deploy_keys"),
    (("projects", "group/sub/project", "deploy_keys", 7), "/projects/group%2Fsub%2Fproject/deploy_keys/7"),
    (("projects", "g/p", "protected_tags", "v*"), "/projects/g%2Fp/protected_tags/v%2A"),
    (("projects", "g/p", "protected_tags", "release/1.0"), "/projects/g%2Fp/protected_tags/release%2F1.0"),
])
def test_api_path_encodes_each_segment_whole(parts, expected):
    assert _client.api_path(*parts) == expected


def test_raise_failures_names_each_failure_against_the_total():
    outcomes = [
        _client.Outcome("g/a", value="ok"),
        _client.Outcome("g/b", error=GitlabModuleError("HTTP 404 Project Not Found", status=404)),
        _client.Outcome("g/c", error=GitlabModuleError("HTTP 403 Forbidden", status=403)),
    ]
    with pytest.raises(TargetFailures) as raised:
        _client.raise_failures("reading deploy keys", outcomes, total=20)
    assert raised.value.msg.startswith("reading deploy keys failed on 2 of 20 targets:")
    assert "- g/b: HTTP 404" in raised.value.msg and "- g/c: HTTP 403" in raised.value.msg
    assert raised.value.status is None  # two different statuses: none is "the" status
    _client.raise_failures("reading", outcomes[:1])  # nothing failed: nothing raised


def test_a_single_failure_carries_its_status_and_target():
    outcomes = [_client.Outcome("g/b", error=GitlabModuleError("boom", status=500, response="500 Internal"))]
    with pytest.raises(TargetFailures) as raised:
        _client.raise_failures("changing", outcomes)
    assert raised.value.status == 500 and raised.value.project == "g/b" and raised.value.response == "500 Internal"


def _client_for(url="http://127.0.0.1:9", **params):
    params.setdefault("api_token", "t")
    return _client.GitlabClient(validate_connection(dict(api_url=url, **params), environ={}))


def test_connection_pool_is_sized_for_the_workers():
    assert _client_for(concurrency=16).pool_size() == 16


def test_map_keeps_order_collects_module_errors_and_lets_bugs_propagate():
    client = _client_for(concurrency=4)

    def work(ref):
        if ref == "bad":
            raise GitlabModuleError("no")
        return ref.upper()

    outcomes = client.map(["a", "bad", "c"], work)
    assert [(o.target, o.ok, o.value) for o in outcomes] == [("a", True, "A"), ("bad", False, None), ("c", True, "C")]
    assert outcomes[1].error.project == "bad"
    with pytest.raises(KeyError):
        client.map(["a", "b"], lambda ref: {}[ref])


def test_map_all_returns_values_or_one_failure():
    client = _client_for()
    assert client.map_all("step", ["a", "b"], str.upper) == {"a": "A", "b": "B"}

    def fail_on_b(ref):
        if ref == "b":
            raise GitlabModuleError("x")
        return 1

    with pytest.raises(TargetFailures, match="step failed on 1 of 2 targets"):
        client.map_all("step", ["a", "b"], fail_on_b)
