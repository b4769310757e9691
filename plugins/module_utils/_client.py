# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The collection's one client layer, and the only code that uses python-gitlab.

Everything that talks to GitLab goes through :class:`GitlabClient`, as named
operations on API paths (``list``, ``get``, ``create``, ``create_once``,
``update``, ``delete``, ``current_user``) plus ``map`` for per-target work:

* one python-gitlab session per module run, built from a validated
  :class:`~._connection.Connection`;
* every request is retried after HTTP 429 (python-gitlab waits for
  ``Retry-After``), 500/502/503/504, timeouts and dropped connections, up to
  ``max_retries`` times, except ``create_once``: a create whose answer holds
  a secret GitLab shows once is never re-sent blindly;
* lists ask for 100 items a page (GitLab's maximum) and follow every page;
* ``map`` runs per-target work on a bounded thread pool sharing one HTTP
  connection pool, so a fleet task pays one start-up and one session;
* python-gitlab and ``requests`` exceptions become :class:`GitlabModuleError`
  worded by ``_errors`` (status once, GitLab's message, a hint).

No other file imports ``gitlab`` or ``requests``.
"""

from __future__ import annotations

import concurrent.futures
import time
import traceback
from urllib.parse import quote

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import (
    GitlabModuleError,
    TargetFailures,
    http_error_text,
    unreachable_text,
)

try:
    import gitlab
    import gitlab.const
    import gitlab.exceptions
    import requests
    import requests.adapters
except ImportError:
    HAS_GITLAB = False
    GITLAB_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_GITLAB = True
    GITLAB_IMPORT_ERROR = None


PER_PAGE = 100  # GitLab's maximum page size (config/initializers/kaminari_config.rb: max_per_page = 100).


def api_path(*parts) -> str:
    """``/projects/group%2Fapp/deploy_keys/7`` from ``("projects", "group/app", "deploy_keys", 7)``.

    Each part is one path segment, URL-encoded whole, as GitLab's ``:id``
    routes require (lib/api/api.rb ``NAMESPACE_OR_PROJECT_REQUIREMENTS``).
    """
    return "/" + "/".join(quote(str(part), safe="") for part in parts)


def gitlab_message(error_message) -> str:
    """GitLab's error text as one readable string.

    GitLab answers ``{"error": "..."}`` for parameter errors and
    ``{"message": ...}`` otherwise, where the message may be a string, a list
    of strings, or attribute -> list of strings (lib/api/helpers.rb
    ``render_validation_error!``).
    """
    if isinstance(error_message, bytes):
        error_message = error_message.decode("utf-8", errors="replace").strip()
    if isinstance(error_message, dict):
        parts = []
        for key, value in sorted(error_message.items()):
            values = value if isinstance(value, list) else [value]
            parts.append(f"{key} {', '.join(str(v) for v in values)}")
        return "; ".join(parts)
    if isinstance(error_message, list):
        return "; ".join(str(item) for item in error_message)
    return str(error_message)


def describe_error(exc: Exception, action: str, target=None) -> GitlabModuleError:
    """A python-gitlab or ``requests`` exception as a :class:`GitlabModuleError`; re-raises anything else.

    ``answer_lost`` is set when GitLab may have done the work although the
    client saw no success (no answer, or a 5xx from GitLab or a proxy).
    """
    if HAS_GITLAB and isinstance(exc, gitlab.exceptions.GitlabError):
        status = exc.response_code
        message = gitlab_message(exc.error_message if exc.error_message is not None else str(exc))
        return GitlabModuleError(http_error_text(_where(action, target), status, message), project=target, status=status,
                                 response=message, answer_lost=status is None or status >= 500)
    if HAS_GITLAB and isinstance(exc, requests.exceptions.RequestException):
        return GitlabModuleError(unreachable_text(_where(action, target), type(exc).__name__, str(exc)), project=target,
                                 answer_lost=True)
    raise exc


def _where(action: str, target) -> str:
    return action if target is None else f"{action} on {target}"


class Outcome:
    """The result of one unit of per-target work: a value or an error, never both."""

    __slots__ = ("target", "value", "error")

    def __init__(self, target, value=None, error=None) -> None:
        self.target = target
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None


def raise_failures(step: str, outcomes, total: int | None = None, not_attempted=()) -> None:
    """Raise one :class:`TargetFailures` for every failed outcome (nothing if all succeeded).

    ``total`` is how many targets the step covers, when more than ``outcomes``.
    """
    failures = {outcome.target: outcome.error for outcome in outcomes if not outcome.ok}
    if failures:
        total = total if total is not None else len(outcomes) + len(not_attempted)
        raise TargetFailures(step, failures, total=total, not_attempted=not_attempted)


class GitlabClient:
    """One authenticated python-gitlab session shared by all of a module run's work."""

    def __init__(self, connection) -> None:
        if not HAS_GITLAB:
            raise GitlabModuleError(
                f"python-gitlab is required on the controller (pip install python-gitlab): {GITLAB_IMPORT_ERROR}")
        self.url = connection.url
        self.token_kind = connection.token_kind
        self.concurrency = connection.concurrency
        self.max_retries = connection.max_retries
        self._user = None
        # One connection pool large enough for every worker thread: without it
        # requests keeps 10 connections and the extra threads reconnect each time.
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=connection.concurrency)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        token = {"api_token": "private_token", "api_oauth_token": "oauth_token",
                 "api_job_token": "job_token"}[connection.token_kind]
        self._gl = _RetryingGitlab(
            self.url, ssl_verify=connection.verify, timeout=connection.timeout, per_page=PER_PAGE,
            retry_transient_errors=connection.max_retries > 0, session=session,
            max_retries=connection.max_retries, **{token: connection.token})

    def pool_size(self) -> int:
        return self._gl.session.get_adapter(self.url + "/")._pool_maxsize

    # --- named operations: each turns API errors into GitlabModuleError -------------

    def _call(self, action: str, target, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # narrowed by describe_error, which re-raises the rest
            raise describe_error(exc, action, target) from None

    def get(self, path: str, action: str, target=None, **query) -> dict:
        return self._call(action, target, self._gl.http_get, path, query_data=query)

    def list(self, path: str, action: str, target=None, **filters) -> list:
        """Every item of a list endpoint, following all pages at 100 a page."""
        items = self._call(action, target, self._gl.http_list, path, query_data=filters, get_all=True,
                           per_page=PER_PAGE)
        return list(items)

    def list_within(self, path: str, action: str, max_pages: int, target=None, **filters):
        """Every item of a list endpoint if it holds at most ``max_pages`` pages of 100, else ``None``.

        The first page's ``X-Total-Pages`` says how many there are; GitLab
        leaves the header out above 10,000 items (config/initializers/
        kaminari_config.rb, lib/gitlab/pagination/offset_pagination.rb), which
        counts as "too many". Costs one request when the answer is ``None``.
        """
        pages = self._call(action, target, self._gl.http_list, path, query_data=filters, iterator=True,
                           per_page=PER_PAGE)
        if pages.total_pages is None or pages.total_pages > max_pages:
            return None
        return self._call(action, target, list, pages)

    def _write(self, action: str, target, func, *args, **kwargs):
        """A write, re-sent here rather than inside python-gitlab, so the caller learns what happened.

        Each transient failure (5xx, no answer) is sent again, up to
        ``max_retries`` times, waiting 0.1 s, 0.2 s, 0.4 s... (python-gitlab
        still waits out HTTP 429 itself: GitLab answers it before doing
        anything). When the final answer comes after an attempt whose answer
        was lost, that answer does not say what the lost attempt did (a 404 on
        a DELETE, a "has already been taken"): the error is marked
        ``answer_lost`` so the caller reads the state back. Returns
        ``(answer, lost_before)``.
        """
        lost_before = False
        for attempt in range(self.max_retries + 1):
            try:
                return self._call(action, target, func, *args, retry_transient_errors=False, **kwargs), lost_before
            except GitlabModuleError as exc:
                if exc.answer_lost and attempt < self.max_retries:
                    lost_before = True
                    time.sleep(0.1 * 2 ** attempt)
                    continue
                exc.answer_lost = exc.answer_lost or lost_before
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def create(self, path: str, action: str, target=None, data=None) -> dict:
        """POST, sent again after a transient failure: for creates GitLab answers the same way twice."""
        return self._write(action, target, self._gl.http_post, path, post_data=data or {})[0]

    def create_once(self, path: str, action: str, target=None, data=None) -> dict:
        """POST that is never re-sent after a transient failure (python-gitlab still waits out HTTP 429).

        For creates whose answer holds a secret GitLab shows only once: a
        second POST after a lost answer would leave a credential nobody holds.
        The caller decides what to do when ``answer_lost`` is set.
        """
        return self._call(action, target, self._gl.http_post, path, post_data=data or {},
                          retry_transient_errors=False)

    def update(self, path: str, data: dict, action: str, target=None) -> dict:
        return self._write(action, target, self._gl.http_put, path, post_data=data)[0]

    def delete(self, path: str, action: str, target=None, missing_ok: bool = False) -> bool:
        """DELETE; ``True`` when this run's request removed the object.

        With ``missing_ok`` a 404 is no error: it returns ``False`` when the
        first attempt met it (someone else removed the object), and ``True``
        when it came after an attempt whose answer was lost (this run's
        earlier attempt removed it).
        """
        try:
            dummy, lost_before = self._write(action, target, self._gl.http_delete, path)
        except GitlabModuleError as exc:
            if missing_ok and exc.status == 404:
                return exc.answer_lost
            raise
        return True

    def current_user(self) -> dict:
        """``GET /user``: ``id``, ``username`` and, for administrators, ``is_admin`` (read once)."""
        if self._user is None:
            self._user = self.get("/user", "read the token's user")
        return self._user

    # --- per-target work ------------------------------------------------------------

    def map(self, targets, work) -> list:
        """Run ``work(target)`` for each target on the bounded pool; one :class:`Outcome` each, in order.

        A :class:`GitlabModuleError` becomes that target's ``error``; any
        other exception is a bug and propagates.
        """
        targets = list(targets)

        def run(target):
            try:
                return Outcome(target, value=work(target))
            except GitlabModuleError as exc:
                if exc.project is None:
                    exc.project = target
                return Outcome(target, error=exc)

        workers = min(self.concurrency, len(targets))
        if workers <= 1:
            return [run(target) for target in targets]
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run, targets))

    def map_all(self, step: str, targets, work) -> dict:
        """:meth:`map`, then ``{target: value}``, or one :class:`TargetFailures` naming every failure."""
        outcomes = self.map(targets, work)
        raise_failures(step, outcomes)
        return {outcome.target: outcome.value for outcome in outcomes}


if HAS_GITLAB:

    class _RetryingGitlab(gitlab.Gitlab):
        """python-gitlab's client with the module's ``max_retries`` as the default.

        python-gitlab takes ``max_retries`` per request only; every request of
        the collection goes through here so the option applies everywhere.
        """

        def __init__(self, *args, **kwargs) -> None:
            self._default_max_retries = kwargs.pop("max_retries")
            super().__init__(*args, **kwargs)

        def http_request(self, *args, **kwargs):
            kwargs.setdefault("max_retries", self._default_max_retries)
            return super().http_request(*args, **kwargs)
