# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one connection validator: every bad connection option is refused before any request."""

from __future__ import annotations

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils._connection import (
    connection_spec,
    validate_connection,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError


def params(**overrides):
    base = {name: option.get("default") for name, option in connection_spec().items()}
    base.update(api_url="https://gitlab.example.com", api_token="glpat-x")
    base.update(overrides)
    return base


@pytest.mark.parametrize("url, expected", [
    ("https://gitlab.example.com", "https://gitlab.example.com"),
    ("https://gitlab.example.com/", "https://gitlab.example.com"),
    ("https://gitlab.example.com/api/v4", "https://gitlab.example.com"),
    ("https://gitlab.example.com/api/v4/", "https://gitlab.example.com"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("https://example.com/gitlab/", "https://example.com/gitlab"),
    ("https://example.com/gitlab/api/v4", "https://example.com/gitlab"),
    ("  https://gitlab.example.com  ", "https://gitlab.example.com"),
])
def test_good_urls_are_normalised(url, expected):
    assert validate_connection(params(api_url=url), environ={}).url == expected


@pytest.mark.parametrize("url, words", [
    ("", "api_url is empty"),
    ("   ", "api_url is empty"),
    ("gitlab.example.com", "write it with its scheme, e.g. https://gitlab.example.com"),
    ("ftp://gitlab.example.com", "not an http(s) URL"),
    ("https://", "not an http(s) URL with a host"),
    ("https://user:secret@gitlab.example.com", "must hold no user name, password, query or fragment"),
    ("https://gitlab.example.com/?private_token=x", "query or fragment"),
])
def test_bad_urls_are_refused_naming_api_url(url, words):
    with pytest.raises(OptionError) as raised:
        validate_connection(params(api_url=url), environ={"GITLAB_URL": "https://other.example.com"})
    assert words in raised.value.msg
    assert raised.value.msg.startswith("api_url ")
    assert "Nothing was sent to GitLab." in raised.value.msg
    assert "secret" not in raised.value.msg


def test_an_empty_api_url_never_falls_back_to_a_default_host():
    with pytest.raises(OptionError) as raised:
        validate_connection(params(api_url=""), environ={})
    assert "GITLAB_URL" in raised.value.msg and "never sent to a default host" in raised.value.msg


def test_unset_api_url_comes_from_gitlab_url_or_is_refused():
    assert validate_connection(params(api_url=None), environ={"GITLAB_URL": "https://x.example"}).url == "https://x.example"
    with pytest.raises(OptionError, match="api_url is not set and GITLAB_URL is not in the environment"):
        validate_connection(params(api_url=None), environ={})
    with pytest.raises(OptionError, match="api_url is empty"):
        validate_connection(params(api_url=None), environ={"GITLAB_URL": ""})


def test_tokens():
    conn = validate_connection(params(api_token=None), environ={"GITLAB_TOKEN": "from-env"})
    assert (conn.token_kind, conn.token) == ("api_token", "from-env")
    # An explicit OAuth or job token wins over GITLAB_TOKEN in the environment: no false conflict.
    conn = validate_connection(params(api_token=None, api_oauth_token="oauth"), environ={"GITLAB_TOKEN": "env"})
    assert (conn.token_kind, conn.token) == ("api_oauth_token", "oauth")
    with pytest.raises(OptionError, match="api_token and api_oauth_token are mutually exclusive"):
        validate_connection(params(api_oauth_token="o"), environ={})
    with pytest.raises(OptionError, match="api_token is not set, nor GITLAB_TOKEN"):
        validate_connection(params(api_token=None), environ={})
    with pytest.raises(OptionError, match="api_job_token is empty"):
        validate_connection(params(api_token=None, api_job_token=" "), environ={})


def test_ca_path(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert validate_connection(params(ca_path=str(bundle)), environ={}).verify == str(bundle)
    assert validate_connection(params(ca_path=str(bundle), validate_certs=False), environ={}).verify is False
    with pytest.raises(OptionError) as raised:
        validate_connection(params(ca_path=str(tmp_path / "missing.pem")), environ={})
    assert raised.value.msg.startswith("ca_path is ") and "does not exist" in raised.value.msg


@pytest.mark.parametrize("option, value, words", [
    ("timeout", 0, "greater than 0"),
    ("timeout", -1, "greater than 0"),
    ("timeout", float("nan"), "greater than 0"),
    ("timeout", float("inf"), "greater than 0"),
    ("max_retries", -1, "0 (no retries) or more"),
    ("concurrency", 0, "1 or more"),
])
def test_numbers(option, value, words):
    with pytest.raises(OptionError) as raised:
        validate_connection(params(**{option: value}), environ={})
    assert raised.value.msg.startswith(option + " ") and words in raised.value.msg


def test_the_spec_declares_every_token_no_log():
    spec = connection_spec()
    assert all(spec[name]["no_log"] for name in ("api_token", "api_oauth_token", "api_job_token"))


@pytest.mark.parametrize("token", ["glpat-abc\n", "  glpat-abc  ", "glpat-abc\r\n"])
def test_a_token_with_surrounding_white_space_is_used_without_it(token):
    assert validate_connection(params(api_token=token), environ={}).token == "glpat-abc"
    assert validate_connection(params(api_token=None), environ={"GITLAB_TOKEN": token}).token == "glpat-abc"


def test_a_token_with_white_space_inside_is_refused_without_echo():
    with pytest.raises(OptionError) as raised:
        validate_connection(params(api_token="glpat-abc def"), environ={})
    assert "glpat-abc" not in raised.value.msg and "white space" in raised.value.msg


@pytest.mark.parametrize("url", ["https://gitlab.example.com/?private_token=glpat-secret",
                                 "gitlab.example.com?private_token=glpat-secret",
                                 "https://root:glpat-secret@gitlab.example.com"])
def test_a_url_that_may_hold_a_secret_is_refused_without_echo(url):
    with pytest.raises(OptionError) as raised:
        validate_connection(params(api_url=url), environ={})
    assert "glpat-secret" not in raised.value.msg and raised.value.msg.startswith("api_url ")
