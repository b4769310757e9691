"""The GitLab the tests run against: the bundled test server or a real one.

Scenario builders (``make_user``, ``make_group``, ``make_project``,
``add_member``) use only GitLab's public admin API through python-gitlab, so
they work on both.  Control methods (faults, latency, clock, counters,
reset, backdate) need the test server's ``/-/test/`` endpoint and skip the
calling test on a real GitLab.
"""

from __future__ import annotations

import datetime
import secrets

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
        return self._control("POST", "faults", rule)["id"]

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def set_latency(self, ms: int) -> None:
        self._control("PUT", "latency", {"ms": ms})

    def set_clock(self, offset_days: int) -> None:
        self._control("PUT", "clock", {"offset_days": offset_days})

    def backdate(self, kind: str, obj_id: int, created_at: str) -> dict:
        """``kind`` is ``deploy_tokens`` or ``deploy_keys``."""
        return self._control("PUT", f"objects/{kind}/{obj_id}", {"created_at": created_at})

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
