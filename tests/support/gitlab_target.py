"""The GitLab the tests run against: the bundled test server or a real one.

Scenario builders (``make_user``, ``make_group``, ``make_project``,
``add_member``) use only GitLab's public admin API through python-gitlab, so
they work on both.  Control methods (faults, latency, clock, counters,
reset, backdate) need the test server's ``/-/test/`` endpoint and skip the
calling test on a real GitLab. Faults (:meth:`GitlabTarget.add_fault`) answer
an error status, drop the connection before the request is handled, or lose
the answer after GitLab applied it, for requests chosen by method, path regex,
body fields and position (``skip``).
"""

from __future__ import annotations

import datetime
import re
import secrets
import urllib.parse

import gitlab
import pytest
import requests

CONTROL_SKIP = "needs the test server's control endpoint"


def _suffix() -> str:
    return secrets.token_hex(4)


class GitlabTarget:
    def __init__(self, url: str, admin_token: str, is_test_server: bool) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token
        self.is_test_server = is_test_server
        self._http = requests.Session()

    # --- control endpoint (test server only) -----------------------------------
    def _control(self, method: str, path: str, body: dict | None = None):
        if not self.is_test_server:
            pytest.skip(CONTROL_SKIP)
        resp = self._http.request(method, f"{self.url}/-/test/{path}", json=body, timeout=30)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def reset(self) -> None:
        self._control("POST", "reset")

    def requests(self) -> dict:
        return self._control("GET", "requests")

    def clear_requests(self) -> None:
        self._control("DELETE", "requests")

    def add_fault(self, **rule) -> int:
        """Add a fault rule; returns its id. The rule's fields (tests/gitlab_server/control.py has the full contract):

        - ``method`` (``"POST"``; default any) and ``path``, a regex searched in the raw request path
          (``%2F`` and ``%2A`` stay encoded; :meth:`api_path_regex` builds one for a project);
        - ``match_body={"name": "v*"}``: only requests whose JSON or form body has these exact field values;
        - ``skip=N``: let the first N matching requests through, act from the N+1st on;
        - what it does: ``status=503`` (answered instead of the handler, nothing applied; ``retry_after=N``
          adds ``Retry-After: N``, 0 included; 429 is GitLab's plain-text "Retry later"), ``drop=True``
          (connection closed before the handler runs: nothing applied), or ``lose_answer=True`` (the
          handler runs and commits, then the connection is closed without an answer: the lost response);
        - ``count=N`` (act N times, then the rule is gone) or ``rate=0.3``; neither: act every time;
        - ``latency_ms``: extra delay on every matching request.

        Examples: a 429 storm ``add_fault(path=..., status=429, retry_after=0, count=5)``; a lost answer of
        the second POST creating ``v*``: ``add_fault(method="POST", path=..., match_body={"name": "v*"},
        skip=1, lose_answer=True, count=1)``.
        """
        return self._control("POST", "faults", rule)["id"]

    def faults(self) -> list:
        """The fault rules in place, with their remaining ``count`` and ``skip``."""
        return self._control("GET", "faults")

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def set_latency(self, ms: int) -> None:
        self._control("PUT", "latency", {"ms": ms})

    def set_clock(self, offset_days: int) -> None:
        self._control("PUT", "clock", {"offset_days": offset_days})

    def backdate(self, kind: str, obj_id: int, created_at: str) -> dict:
        """``kind`` is ``deploy_tokens`` or ``deploy_keys``."""
        return self._control("PUT", f"objects/{kind}/{obj_id}", {"created_at": created_at})

    @staticmethod
    def api_path_regex(project, *parts) -> str:
        """A fault ``path`` regex for one project's API path, whether a client names it by id or by path.

        ``api_path_regex(project, "deploy_keys")`` matches ``/projects/12/deploy_keys`` and
        ``/projects/group%2Fapp/deploy_keys`` (not ``.../deploy_keys/5``); a part may be a regex itself,
        e.g. ``"[0-9]+"``; give ``"v%2A"`` for a protected tag named ``v*``.
        """
        ref = f"(?:{project.id}|{re.escape(urllib.parse.quote(project.path_with_namespace, safe=''))})"
        return "/".join([f"/projects/{ref}", *map(str, parts)]) + "$"

    # --- clients ----------------------------------------------------------------
    def admin_client(self) -> gitlab.Gitlab:
        return self.client(self.admin_token)

    def client(self, token: str) -> gitlab.Gitlab:
        return gitlab.Gitlab(self.url, private_token=token, per_page=100, retry_transient_errors=False)

    # --- scenario builders (public admin API only) ------------------------------
    def make_user(self, username_prefix: str = "user"):
        """A fresh non-admin user and an ``api`` personal access token."""
        gl = self.admin_client()
        name = f"{username_prefix}-{_suffix()}"
        user = gl.users.create({
            "username": name, "name": name.replace("-", " ").title(), "email": f"{name}@example.test",
            "password": secrets.token_urlsafe(18) + "aA1!", "skip_confirmation": True,
        })
        expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
        pat = user.personal_access_tokens.create({"name": "tests", "scopes": ["api"], "expires_at": expires})
        return user, pat.token

    def make_group(self, path_prefix: str = "group", parent_id: int | None = None):
        gl = self.admin_client()
        path = f"{path_prefix}-{_suffix()}"
        data = {"name": path, "path": path, "visibility": "private"}
        if parent_id is not None:
            data["parent_id"] = parent_id
        return gl.groups.create(data)

    def make_project(self, name_prefix: str = "project", namespace_id: int | None = None,
                     initialize_with_readme: bool = True):
        gl = self.admin_client()
        name = f"{name_prefix}-{_suffix()}"
        data = {"name": name, "path": name, "initialize_with_readme": initialize_with_readme,
                "visibility": "private"}
        if namespace_id is not None:
            data["namespace_id"] = namespace_id
        return gl.projects.create(data)

    def add_member(self, project_or_group, user, access_level: int):
        user_id = getattr(user, "id", user)
        return project_or_group.members.create({"user_id": user_id, "access_level": int(access_level)})
