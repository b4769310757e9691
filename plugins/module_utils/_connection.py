# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The connection options every API module takes, and their one validator.

The options are documented once, in the ``_auth`` doc fragment. They are
validated here, before any request, so that no module can send a token to a
host the user did not name: an empty ``api_url`` (an undefined variable, say)
is refused, never replaced by python-gitlab's default of https://gitlab.com.
Pure: no python-gitlab, no I/O beyond checking that ``ca_path`` exists.
"""

from __future__ import annotations

import math
import os
import re
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import OptionError

TOKEN_OPTIONS = ("api_token", "api_oauth_token", "api_job_token")
URL_ENV = "GITLAB_URL"
TOKEN_ENV = "GITLAB_TOKEN"
_API_SUFFIX = "/api/v4"
# A DNS name, an IPv4 address, or an IPv6 address (urlsplit gives it without brackets).
_HOST = re.compile(r"\A(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\Z")


def connection_spec() -> dict:
    """The connection options (doc fragment ``_auth``).

    The environment fallbacks (``GITLAB_URL``, ``GITLAB_TOKEN``) are applied by
    :func:`validate_connection`, so a ``GITLAB_TOKEN`` in the environment never
    collides with an explicit ``api_oauth_token`` or ``api_job_token``.
    """
    return dict(
        api_url=dict(type="str"),
        api_token=dict(type="str", no_log=True),
        api_oauth_token=dict(type="str", no_log=True),
        api_job_token=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        timeout=dict(type="float", default=30),
        max_retries=dict(type="int", default=5),
        concurrency=dict(type="int", default=8),
    )


class Connection:
    """Validated connection settings: what :class:`GitlabClient` is built from."""

    __slots__ = ("url", "token_kind", "token", "verify", "timeout", "max_retries", "concurrency")

    def __init__(self, url: str, token_kind: str, token: str, verify, timeout: float,
                 max_retries: int, concurrency: int) -> None:
        self.url = url
        self.token_kind = token_kind  # one of TOKEN_OPTIONS
        self.token = token
        self.verify = verify  # True, False, or a CA bundle path
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency


def validate_connection(params: dict, environ=None) -> Connection:
    """Check every connection option; raise :class:`OptionError` naming the option and the fix."""
    environ = os.environ if environ is None else environ
    url = normalize_api_url(params.get("api_url"), environ)
    token_kind, token = _token(params, environ)
    verify = params.get("validate_certs", True)
    ca_path = params.get("ca_path")
    if ca_path is not None:
        if not str(ca_path).strip():
            raise OptionError("ca_path", "is empty; give the path of a PEM CA bundle, or leave ca_path out")
        if not os.path.exists(ca_path):
            raise OptionError("ca_path", f"is {ca_path}, which does not exist; give the path of a PEM CA bundle "
                                         "(a file, or a directory prepared with c_rehash) on the controller")
        if verify:
            verify = ca_path
    timeout = params.get("timeout", 30)
    if timeout is None or not math.isfinite(timeout) or timeout <= 0:
        raise OptionError("timeout", f"must be a number of seconds greater than 0, got {timeout}")
    max_retries = params.get("max_retries", 5)
    if max_retries is None or max_retries < 0:
        raise OptionError("max_retries", f"must be 0 (no retries) or more, got {max_retries}")
    concurrency = params.get("concurrency", 8)
    if concurrency is None or concurrency < 1:
        raise OptionError("concurrency", f"must be 1 or more, got {concurrency}")
    return Connection(url, token_kind, token, verify, float(timeout), max_retries, concurrency)


def normalize_api_url(value, environ) -> str:
    """``api_url`` (or ``GITLAB_URL``) as the base URL python-gitlab expects, without ``/api/v4``."""
    if value is None:
        value = environ.get(URL_ENV)
        if value is None:
            raise OptionError("api_url", f"is not set and {URL_ENV} is not in the environment; give the "
                                         "base URL of your GitLab, e.g. api_url: https://gitlab.example.com")
    text = str(value).strip()
    if not text:
        raise OptionError("api_url", f"is empty (an undefined or empty variable, or an empty {URL_ENV}?); "
                                     "give the base URL of your GitLab, e.g. https://gitlab.example.com. "
                                     "The token is never sent to a default host")
    if url_may_hold_secret(text):
        # Not echoed: a user name, password or private_token in a URL is a secret.
        raise OptionError("api_url", "must hold no user name, password, query or fragment; give only the base "
                                     "URL, e.g. https://gitlab.example.com, and the token in api_token")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        rest = text.split("://", 1)[-1].strip("/")
        example = f"https://{rest}" if rest else "https://gitlab.example.com"
        raise OptionError("api_url", f"is {text!r}, not an http(s) URL with a host; write it with its scheme, "
                                     f"e.g. {example}")
    host = parts.hostname or ""
    try:
        port_ok = parts.port is None or 0 < parts.port
    except ValueError:
        port_ok = False
    if not port_ok or not _HOST.match(host):
        raise OptionError("api_url", f"is {text!r}, whose host or port is not valid; give a host name or address "
                                     "and a port from 1 to 65535, e.g. https://gitlab.example.com:8443")
    path = parts.path.rstrip("/")
    # The API prefix is python-gitlab's to add; a URL copied with it is accepted as meant.
    if path.lower().endswith(_API_SUFFIX):
        path = path[:-len(_API_SUFFIX)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def url_may_hold_secret(text) -> bool:
    """Whether a URL has a part where a secret could hide: user info, a query or a fragment."""
    return any(mark in str(text) for mark in ("@", "?", "#"))


def _token(params: dict, environ) -> tuple:
    given = [option for option in TOKEN_OPTIONS if params.get(option) is not None]
    if len(given) > 1:
        raise OptionError(" and ".join(given), "are mutually exclusive; give exactly one token")
    if not given:
        token = environ.get(TOKEN_ENV)
        if not token:
            raise OptionError("api_token", f"is not set, nor {TOKEN_ENV} in the environment, nor api_oauth_token "
                                           "or api_job_token; give one token")
        return "api_token", _clean_token(token, TOKEN_ENV)
    option = given[0]
    return option, _clean_token(params[option], option)


def _clean_token(token, option: str) -> str:
    """The token without surrounding white space (a vaulted or echoed value often ends in a newline).

    GitLab tokens never hold white space; one inside is refused, without echoing the value.
    """
    text = str(token).strip()
    if not text:
        raise OptionError(option, "is empty (an undefined or empty variable?); give the token, or leave the "
                                  f"option out to use {TOKEN_ENV}")
    if any(char.isspace() or ord(char) < 32 for char in text):
        raise OptionError(option, "holds white space or control characters inside; give the token alone")
    return text
