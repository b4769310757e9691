"""Fault rules of the control API: lose_answer, skip, match_body, Retry-After (tests/gitlab_server/control.py)."""

from __future__ import annotations

import time
import urllib.parse

import gitlab
import pytest
import requests

pytestmark = pytest.mark.needs_control


def _api(target, project, *parts):
    return "/".join([f"{target.url}/api/v4/projects/{project.id}", *parts])


def _headers(target):
    return {"PRIVATE-TOKEN": target.admin_token}


def _protected(target, project):
    resp = requests.get(_api(target, project, "protected_tags"), headers=_headers(target), timeout=10)
    return sorted(item["name"] for item in resp.json())


def _tokens(target, project):
    resp = requests.get(_api(target, project, "deploy_tokens"), headers=_headers(target), timeout=10)
    return [item["name"] for item in resp.json()]


# --- lose_answer: applied, then no answer ------------------------------------------------

def test_lose_answer_applies_the_request_then_drops_the_connection(gitlab_target, clean_target):
    project = gitlab_target.make_project("lost")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "deploy_tokens"),
                            lose_answer=True, count=1)
    gitlab_target.clear_requests()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(_api(gitlab_target, project, "deploy_tokens"), headers=_headers(gitlab_target),
                      json={"name": "lost", "scopes": ["read_registry"]}, timeout=10)
    # GitLab created it: the transaction committed before the connection was closed.
    assert _tokens(gitlab_target, project) == ["lost"]
    (entry, dummy) = gitlab_target.requests()["log"]
    assert entry["method"] == "POST" and entry["status"] == 201 and entry["answer_lost"] is True
    # count=1: the next request is answered.
    resp = requests.post(_api(gitlab_target, project, "deploy_tokens"), headers=_headers(gitlab_target),
                         json={"name": "second", "scopes": ["read_registry"]}, timeout=10)
    assert resp.status_code == 201
    assert "answer_lost" not in gitlab_target.requests()["log"][-1]


def test_lose_answer_keeps_the_handlers_refusal_unapplied(gitlab_target, clean_target):
    """The real handler decides: a refused request is rolled back and its answer lost too."""
    project = gitlab_target.make_project("lost422")
    requests.post(_api(gitlab_target, project, "protected_tags"), headers=_headers(gitlab_target),
                  json={"name": "v*"}, timeout=10).raise_for_status()
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "protected_tags"),
                            lose_answer=True)
    gitlab_target.clear_requests()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(_api(gitlab_target, project, "protected_tags"), headers=_headers(gitlab_target),
                      json={"name": "v*"}, timeout=10)
    assert _protected(gitlab_target, project) == ["v*"]
    assert gitlab_target.requests()["log"][0]["status"] == 422


def test_drop_is_before_the_handler_and_applies_nothing(gitlab_target, clean_target):
    project = gitlab_target.make_project("drop")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "deploy_tokens"),
                            drop=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(_api(gitlab_target, project, "deploy_tokens"), headers=_headers(gitlab_target),
                      json={"name": "dropped", "scopes": ["read_registry"]}, timeout=10)
    assert _tokens(gitlab_target, project) == []


def test_python_gitlab_retry_after_a_lost_answer_meets_what_was_applied(gitlab_target, clean_target):
    project = gitlab_target.make_project("lostretry")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "protected_tags"),
                            lose_answer=True, count=1)
    gl = gitlab.Gitlab(gitlab_target.url, private_token=gitlab_target.admin_token, retry_transient_errors=True)
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as refused:
        gl.projects.get(project.id, lazy=True).protectedtags.create({"name": "v*"})
    assert refused.value.response_code == 422  # the retry: "Name has already been taken"
    assert _protected(gitlab_target, project) == ["v*"]


# --- skip: act from the N+1st matching request on ---------------------------------------

def test_skip_lets_the_first_matching_requests_through(gitlab_target, clean_target):
    project = gitlab_target.make_project("skip")
    url = _api(gitlab_target, project, "protected_tags")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "protected_tags"),
                            status=500, skip=1, count=1)
    # A GET does not match the rule and does not use up its skip.
    assert requests.get(url, headers=_headers(gitlab_target), timeout=10).status_code == 200
    (rule,) = gitlab_target.faults()
    assert (rule["skip"], rule["count"]) == (1, 1)
    statuses = [requests.post(url, headers=_headers(gitlab_target), json={"name": name}, timeout=10).status_code
                for name in ("a", "b", "c")]
    assert statuses == [201, 500, 201]
    assert _protected(gitlab_target, project) == ["a", "c"]
    assert gitlab_target.faults() == []


def test_skipped_requests_get_no_latency(gitlab_target, clean_target):
    gitlab_target.add_fault(path=r"^/api/v4/version$", latency_ms=300, skip=1)
    started = time.monotonic()
    requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    first = time.monotonic() - started
    started = time.monotonic()
    requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    assert first < 0.3 <= time.monotonic() - started


# --- match_body ----------------------------------------------------------------------------

def test_match_body_picks_requests_by_their_fields(gitlab_target, clean_target):
    project = gitlab_target.make_project("body")
    url = _api(gitlab_target, project, "protected_tags")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "protected_tags"),
                            match_body={"name": "v*"}, status=503)
    h = _headers(gitlab_target)
    assert requests.post(url, headers=h, json={"name": "v**"}, timeout=10).status_code == 201
    assert requests.post(url, headers=h, json={"name": "v*"}, timeout=10).status_code == 503
    # A form body is matched the same way; an empty body never matches.
    assert requests.post(url, headers=h, data={"name": "v*"}, timeout=10).status_code == 503
    assert requests.post(url, headers=h, timeout=10).status_code == 400
    assert _protected(gitlab_target, project) == ["v**"]


def test_match_body_values_compare_as_text_and_lists_item_by_item(gitlab_target, clean_target):
    project = gitlab_target.make_project("body2")
    url = _api(gitlab_target, project, "deploy_tokens")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "deploy_tokens"),
                            match_body={"scopes": ["read_registry"], "name": "t"}, status=500)
    h = _headers(gitlab_target)
    assert requests.post(url, headers=h, json={"name": "t", "scopes": ["read_registry"]},
                         timeout=10).status_code == 500
    assert requests.post(url, headers=h, json={"name": "t", "scopes": ["read_repository"]},
                         timeout=10).status_code == 201
    assert requests.post(url, headers=h, json={"name": "u", "scopes": ["read_registry"]},
                         timeout=10).status_code == 201
    keys = _api(gitlab_target, project, "deploy_keys")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "deploy_keys"),
                            match_body={"can_push": True, "title": 7}, status=502)
    assert requests.post(keys, headers=h, json={"title": "7", "key": "x", "can_push": True},
                         timeout=10).status_code == 502
    assert requests.post(keys, headers=h, data={"title": "7", "key": "x", "can_push": "true"},
                         timeout=10).status_code == 502
    assert requests.post(keys, headers=h, json={"title": "7", "key": "x", "can_push": False},
                         timeout=10).status_code == 400  # reached the handler: "key is invalid"


def test_match_body_skip_and_lose_answer_together_hit_one_request(gitlab_target, clean_target):
    """The second POST of v* on one project, applied and its answer lost; nothing else."""
    project, other = gitlab_target.make_project("combo"), gitlab_target.make_project("other")
    gitlab_target.add_fault(method="POST", path=gitlab_target.api_path_regex(project, "protected_tags"),
                            match_body={"name": "v*"}, skip=1, lose_answer=True, count=1)
    h = _headers(gitlab_target)
    assert requests.post(_api(gitlab_target, other, "protected_tags"), headers=h, json={"name": "v*"},
                         timeout=10).status_code == 201
    assert requests.post(_api(gitlab_target, project, "protected_tags"), headers=h, json={"name": "v*"},
                         timeout=10).status_code == 201
    assert requests.delete(_api(gitlab_target, project, "protected_tags", urllib.parse.quote("v*", safe="")),
                           headers=h, timeout=10).status_code == 204
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(_api(gitlab_target, project, "protected_tags"), headers=h, json={"name": "v*"}, timeout=10)
    assert _protected(gitlab_target, project) == ["v*"]
    assert gitlab_target.faults() == []


# --- Retry-After ------------------------------------------------------------------------------

def test_a_429_storm_with_retry_after_zero(gitlab_target, clean_target):
    gitlab_target.add_fault(path=r"^/api/v4/version$", status=429, retry_after=0, count=3)
    answers = [requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10) for dummy in range(4)]
    assert [resp.status_code for resp in answers] == [429, 429, 429, 401]
    assert all(resp.headers.get("Retry-After") == "0" for resp in answers[:3])
    assert "Retry-After" not in answers[3].headers
    # python-gitlab waits Retry-After (0 s) instead of its own back-off, and gets through.
    gitlab_target.add_fault(path=r"^/api/v4/user$", status=429, retry_after=0, count=3)
    gl = gitlab.Gitlab(gitlab_target.url, private_token=gitlab_target.admin_token)
    started = time.monotonic()
    assert gl.http_get("/user", max_retries=3)["username"] == "root"
    assert time.monotonic() - started < 0.6  # its own back-off would sleep 0.1 + 0.2 + 0.4 s


def test_retry_after_is_sent_with_any_status(gitlab_target, clean_target):
    gitlab_target.add_fault(path=r"^/api/v4/version$", status=503, retry_after=2, count=1)
    resp = requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
    assert resp.json() == {"message": "503 Service Unavailable"}


# --- the rule's own validation -----------------------------------------------------------------

@pytest.mark.parametrize("rule, words", [
    (dict(lose_answer=True, status=500), "excludes status and drop"),
    (dict(lose_answer=True, drop=True), "excludes status and drop"),
    (dict(status=500, match_body=["name"]), "match_body must be"),
    (dict(status=500, match_body={}), "match_body must be"),
    (dict(status=500, skip=-1), "skip must not be negative"),
    (dict(status=500, skip="x"), "skip must be a whole number"),
    (dict(skip=2), "needs status, drop, lose_answer or latency_ms"),
])
def test_bad_rules_are_refused(gitlab_target, clean_target, rule, words):
    resp = requests.post(f"{gitlab_target.url}/-/test/faults", json=dict(path="x", **rule), timeout=10)
    assert resp.status_code == 400 and words in resp.json()["error"]
    assert gitlab_target.faults() == []


def test_status_with_drop_still_drops(gitlab_target, clean_target):
    """The contract before lose_answer existed: drop wins over status."""
    gitlab_target.add_fault(path=r"^/api/v4/version$", status=500, drop=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{gitlab_target.url}/api/v4/version", timeout=10)
