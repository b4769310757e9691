# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The collection's one client layer on python-gitlab.

Everything that talks to GitLab goes through :class:`GitlabClient`:

* it builds one python-gitlab session from the module's connection options
  (``api_url``, one of the three token kinds, TLS options, ``timeout``);
* it retries HTTP 429 (python-gitlab sleeps for ``Retry-After``), transient
  5xx answers, timeouts and dropped connections, up to ``max_retries`` times;
* it lists with ``per_page=100`` and follows every page;
* it runs per-project work on a bounded thread pool that shares one HTTP
  connection pool, so a fleet task pays one start-up and one session, not one
  per project;
* it turns python-gitlab and ``requests`` exceptions into
  :class:`GitlabModuleError` naming the status, GitLab's own message, the
  project and what to do.

No module builds a ``gitlab.Gitlab`` or calls ``requests`` itself.
"""

from __future__ import annotations

import concurrent.futures
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError

try:
    import gitlab
    import gitlab.exceptions
    import requests
    import requests.adapters
except ImportError:
    HAS_GITLAB = False
    GITLAB_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_GITLAB = True
    GITLAB_IMPORT_ERROR = None


PER_PAGE = 100  # GitLab's maximum page size (Kaminari max_per_page).

TOKEN_OPTIONS = ("api_token", "api_oauth_token", "api_job_token")

# Hints keyed by HTTP status: what the user can do about it.
_STATUS_HINTS = {
    401: "check api_token: it is missing, expired, revoked or for another GitLab instance",
    403: "the token's user lacks the role this needs (Maintainer on the project; Owner on the "
         "group for group deploy tokens) or the token lacks the api scope",
    404: "it does not exist, or the token's user cannot see it",
    429: "GitLab kept rate limiting after the retries; lower concurrency or raise max_retries",
    500: "GitLab failed after the retries; try again later",
    502: "GitLab (or a proxy in front of it) failed after the retries; try again later",
    503: "GitLab was unavailable after the retries; try again later",
    504: "GitLab timed out after the retries; try again later",
}


def auth_argument_spec():
    """The connection options every module takes (doc fragment ``_auth``)."""
    return dict(
        api_url=dict(type="str", required=True, fallback=(env_fallback, ["GITLAB_URL"])),
        api_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GITLAB_TOKEN"])),
        api_oauth_token=dict(type="str", no_log=True),
        api_job_token=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        timeout=dict(type="float", default=30),
        max_retries=dict(type="int", default=5),
        concurrency=dict(type="int", default=8),
    )


def module_kwargs(argument_spec, mutually_exclusive=(), required_one_of=(), **kwargs):
    """``AnsibleModule`` keyword arguments: the module's spec plus the auth spec and its rules.

    The auth constraints live here once instead of in every module.
    """
    spec = auth_argument_spec()
    spec.update(argument_spec)
    return dict(
        argument_spec=spec,
        mutually_exclusive=[TOKEN_OPTIONS] + list(mutually_exclusive),
        required_one_of=[TOKEN_OPTIONS] + list(required_one_of),
        **kwargs
    )


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return value


def gitlab_message(exc):
    """GitLab's own error text from a python-gitlab exception, as a readable string.

    GitLab answers with ``{"error": "..."}`` for parameter errors and with
    ``{"message": ...}`` otherwise, where the message may be a string, a list
    of strings, or a dict of attribute -> list of strings.
    """
    message = _decode(getattr(exc, "error_message", None)) or str(exc)
    if isinstance(message, dict):
        parts = []
        for key, value in sorted(message.items()):
            values = value if isinstance(value, list) else [value]
            parts.append("%s %s" % (key, ", ".join(str(v) for v in values)))
        return "; ".join(parts)
    if isinstance(message, list):
        return "; ".join(str(item) for item in message)
    return str(message)


def describe_error(exc, action, target=None):
    """Turn a python-gitlab or ``requests`` exception into a :class:`GitlabModuleError`.

    ``action`` says what was being done ("list deploy keys"), ``target`` the
    project or group path it was done on.
    """
    where = " on %s" % target if target is not None else ""
    if HAS_GITLAB and isinstance(exc, gitlab.exceptions.GitlabError):
        status = exc.response_code
        message = gitlab_message(exc)
        hint = _STATUS_HINTS.get(status)
        if status is None:
            text = "cannot %s%s: %s" % (action, where, message)
        else:
            text = "cannot %s%s: HTTP %s %s" % (action, where, status, message)
        if hint:
            text += " (%s)" % hint
        return GitlabModuleError(text, project=target, status=status, response=_decode(exc.error_message))
    if HAS_GITLAB and isinstance(exc, requests.exceptions.RequestException):
        # The exception text names the URL but never a token: tokens travel in headers.
        return GitlabModuleError(
            "cannot %s%s: GitLab did not answer after the retries (%s: %s); check api_url, "
            "the network and timeout" % (action, where, type(exc).__name__, exc),
            project=target,
        )
    raise exc


class Outcome:
    """The result of one unit of per-target work: a value or an error, never both."""

    __slots__ = ("target", "value", "error")

    def __init__(self, target, value=None, error=None):
        self.target = target
        self.value = value
        self.error = error

    @property
    def ok(self):
        return self.error is None


class GitlabClient:
    """One authenticated python-gitlab session shared by all of a module run's work."""

    def __init__(self, url, private_token=None, oauth_token=None, job_token=None,
                 validate_certs=True, ca_path=None, timeout=30.0, max_retries=5, concurrency=8):
        if not HAS_GITLAB:
            raise GitlabModuleError(
                "python-gitlab is required on the controller (pip install python-gitlab): %s"
                % GITLAB_IMPORT_ERROR
            )
        if concurrency < 1:
            raise GitlabModuleError("concurrency must be 1 or more, got %s" % concurrency)
        if max_retries < 0:
            raise GitlabModuleError("max_retries must be 0 or more, got %s" % max_retries)
        self.url = url.rstrip("/")
        self.concurrency = concurrency
        self.max_retries = max_retries

        # One connection pool large enough for every worker thread: without it
        # requests keeps 10 connections and the extra threads reconnect each time.
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 1))
        session.mount("http://", adapter)
        session.mount("https://", adapter)

        ssl_verify = validate_certs
        if validate_certs and ca_path:
            ssl_verify = ca_path
        self.gl = _RetryingGitlab(
            self.url,
            private_token=private_token,
            oauth_token=oauth_token,
            job_token=job_token,
            ssl_verify=ssl_verify,
            timeout=timeout,
            per_page=PER_PAGE,
            retry_transient_errors=max_retries > 0,
            session=session,
            max_retries=max_retries,
        )

    @classmethod
    def from_params(cls, params):
        """Build the client from a module's validated ``params``."""
        return cls(
            params["api_url"],
            private_token=params.get("api_token"),
            oauth_token=params.get("api_oauth_token"),
            job_token=params.get("api_job_token"),
            validate_certs=params.get("validate_certs", True),
            ca_path=params.get("ca_path"),
            timeout=params.get("timeout", 30),
            max_retries=params.get("max_retries", 5),
            concurrency=params.get("concurrency", 8),
        )

    # References that cost no request: the first real call on them finds out
    # whether the project exists (GitLab answers 404 Project Not Found), which
    # keeps a no-change run at one read per project.
    def project(self, ref):
        return self.gl.projects.get(_api_id(ref), lazy=True)

    def group(self, ref):
        return self.gl.groups.get(_api_id(ref), lazy=True)

    def list_all(self, manager, **filters):
        """Every item of a list endpoint, following all pages at 100 a page."""
        return manager.list(get_all=True, per_page=PER_PAGE, **filters)

    def call(self, action, target, func, *args, **kwargs):
        """Run ``func`` and turn GitLab and HTTP errors into :class:`GitlabModuleError`."""
        try:
            return func(*args, **kwargs)
        except GitlabModuleError:
            raise
        except Exception as exc:  # narrowed by describe_error, which re-raises the rest
            raise describe_error(exc, action, target)

    def map(self, targets, work, action="work"):
        """Run ``work(target)`` for each target on the bounded pool.

        Returns one :class:`Outcome` per target, in input order. A
        :class:`GitlabModuleError` (or a GitLab/HTTP error, converted) becomes
        that target's ``error``; any other exception is a bug and propagates.
        """
        targets = list(targets)
        if not targets:
            return []

        def run(target):
            try:
                return Outcome(target, value=work(target))
            except GitlabModuleError as exc:
                if exc.project is None:
                    exc.project = target
                return Outcome(target, error=exc)
            except Exception as exc:
                if _is_api_error(exc):
                    return Outcome(target, error=describe_error(exc, action, target))
                raise

        workers = min(self.concurrency, len(targets))
        if workers == 1:
            return [run(target) for target in targets]
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run, targets))


def _is_api_error(exc):
    return HAS_GITLAB and isinstance(exc, (gitlab.exceptions.GitlabError, requests.exceptions.RequestException))


def _api_id(ref):
    """A project/group reference as GitLab's ``:id``: an int id, or a full path.

    python-gitlab URL-encodes paths itself (``group%2Fsub%2Fproject``).
    """
    if isinstance(ref, int):
        return ref
    text = str(ref).strip().strip("/")
    if text.isdigit():
        return int(text)
    return text


def failure_summary(outcomes, action, changed_targets=()):
    """One :class:`GitlabModuleError` for every failed target, or ``None``.

    The message names each failing target and why, and which targets were
    already changed before the failure.
    """
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if not failed:
        return None
    lines = ["%s failed on %d of %d targets:" % (action, len(failed), len(outcomes))]
    for outcome in failed:
        lines.append("- %s: %s" % (outcome.target, outcome.error.msg))
    changed = list(changed_targets)
    if changed:
        lines.append("Changed before the failure: %s." % ", ".join(str(t) for t in changed))
    else:
        lines.append("Nothing was changed.")
    status = failed[0].error.status if len(failed) == 1 else None
    return GitlabModuleError(
        "\n".join(lines),
        project=failed[0].target if len(failed) == 1 else None,
        status=status,
        response=failed[0].error.response if len(failed) == 1 else None,
        actions_done=changed,
    )


if HAS_GITLAB:

    class _RetryingGitlab(gitlab.Gitlab):
        """python-gitlab's client with the module's ``max_retries`` as the default.

        python-gitlab takes ``max_retries`` per request only; every request of
        the collection goes through here so the option applies everywhere.
        """

        def __init__(self, *args, **kwargs):
            self._default_max_retries = kwargs.pop("max_retries")
            super().__init__(*args, **kwargs)

        def http_request(self, *args, **kwargs):
            kwargs.setdefault("max_retries", self._default_max_retries)
            return super().http_request(*args, **kwargs)
