"""Authentication (doc/api/rest/authentication.md; lib/api/helpers.rb
``current_user``, ``sudo!``; lib/api/api_guard.rb) and the permission model.

Roles: guest 10, reporter 20, developer 30, maintainer 40, owner 50.  A
user's access to a project is the highest of their project membership, the
memberships in the project's group and all its ancestors (inherited), and
Owner for projects in their personal namespace.  Admins may do everything
(GitLab with admin mode off).
"""

from __future__ import annotations

import re

from . import errors
from .clock import stored_date

NO_ACCESS, MINIMAL, GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 0, 5, 10, 20, 30, 40, 50
ADMIN = 60
ROLE_NAMES = {
    "no_access": NO_ACCESS, "minimal_access": MINIMAL, "guest": GUEST, "reporter": REPORTER,
    "developer": DEVELOPER, "maintainer": MAINTAINER, "owner": OWNER,
}
VALID_LEVELS = (NO_ACCESS, MINIMAL, GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER)


def role_level(value) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    return ROLE_NAMES[text]


# --- who is calling ---------------------------------------------------------

def token_from_request(req) -> str | None:
    """PRIVATE-TOKEN header, ``private_token`` query, ``Authorization:
    Bearer`` or ``access_token``.  JOB-TOKEN / ``job_token`` are ignored: none
    of the endpoints served here accept job tokens (doc/ci/jobs/ci_job_token.md
    lists the ones that do), so such a request is unauthenticated."""
    token = req.headers.get("PRIVATE-TOKEN")
    if token:
        return token.strip()
    token = req.query.get("private_token")
    if isinstance(token, str) and token:
        return token
    auth = req.headers.get("Authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    token = req.query.get("access_token")
    if isinstance(token, str) and token:
        return token
    return None


def _token_user(app, token: str) -> tuple[dict, set]:
    """``find_current_user!``: the token's user and the token's scopes.

    A token that was sent but is unknown gives 401 everywhere, also on
    endpoints without ``authenticate!`` (``find_personal_access_token``
    raises UnauthorizedError).  Expired and revoked tokens give the OAuth
    ``invalid_token`` body (lib/api/api_guard.rb)."""
    found = app.store.user_by_token(token)
    if not found:
        raise errors.unauthorized()
    user, pat = found
    if pat["revoked"]:
        raise errors.ApiError(401, {"error": "invalid_token",
                                    "error_description": "Token was revoked. You have to re-authorize from the user."})
    expires = stored_date(pat["expires_at"])
    if expires is not None and expires <= app.clock.today():
        # PersonalAccessToken.expired?: expires_at <= Date.current
        raise errors.ApiError(401, {"error": "invalid_token",
                                    "error_description": "Token is expired. You can either do re-authorization or token refresh."})
    if user is None or user["state"] != "active":
        raise errors.unauthorized()
    return user, set(pat["scopes"].split())


def _insufficient_scope(scope: str) -> errors.ApiError:
    return errors.ApiError(403, {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
        "scope": scope})


def _check_endpoint_scopes(req, scopes: set) -> None:
    """``validate_and_save_access_token!(scopes: scopes_registered_for_endpoint)``:
    ``api`` everywhere, ``read_api`` for GET/HEAD (lib/api/api.rb
    ``allow_access_with_scope``)."""
    if "api" in scopes or ("read_api" in scopes and req.method in ("GET", "HEAD")):
        return
    raise _insufficient_scope("api read_api" if req.method in ("GET", "HEAD") else "api")


def sudo_identifier(req):
    """``params[:sudo] || env['HTTP_SUDO']`` (lib/api/helpers.rb): the
    parameter (query or body) wins over the ``Sudo`` header; an empty value
    is still a value (Ruby's ``""`` is truthy)."""
    if "sudo" in req.params and req.params["sudo"] is not None:
        return req.params["sudo"]
    return req.headers.get("Sudo")


def find_user(store, ident) -> dict | None:
    """``UserFinder#find_by_id_or_username`` (app/finders/user_finder.rb):
    an Integer or ``/^\\d+$/`` is an id, anything else a username
    (``User.find_by_username``, case-insensitive)."""
    if isinstance(ident, bool):
        ident = str(ident).lower()
    if isinstance(ident, int) or re.fullmatch(r"\d+", str(ident)):
        return store.get("users", int(ident))
    return store.user_by_username(str(ident))


def resolve_user(app, req) -> dict | None:
    """``current_user`` (lib/api/helpers.rb): the token's user, then ``sudo!``,
    then the endpoint's scope check unless the request is sudoed
    (``validate_and_save_access_token!(...) unless sudo?``).

    ``sudo!``: without a Sudo value nothing happens.  With one: no
    authenticated user, 401; not an admin, 403 "Must be admin to use sudo";
    a token without the ``sudo`` scope, 403 ``insufficient_scope`` with
    ``"scope":"sudo"`` (doc/api/rest/authentication.md "Sudo"); an unknown
    id or username, 404 "User with ID or username '<value>' Not Found".
    Otherwise the request acts as that user.  No credentials at all: None.
    """
    token = token_from_request(req)
    initial, scopes = _token_user(app, token) if token else (None, set())
    ident = sudo_identifier(req)
    if ident is None:
        if initial is not None:
            _check_endpoint_scopes(req, scopes)
        return initial
    if initial is None:
        raise errors.unauthorized()
    if not initial["is_admin"]:
        raise errors.forbidden("Must be admin to use sudo")
    if "sudo" not in scopes:
        raise _insufficient_scope("sudo")
    sudoed = find_user(app.store, ident)
    if sudoed is None:
        raise errors.not_found(f"User with ID or username '{ident}'")
    if sudoed["id"] == initial["id"]:
        _check_endpoint_scopes(req, scopes)       # sudo? is false: the usual check runs
    return sudoed


def authenticate(req) -> dict:
    """``authenticate!``: 401 without a valid user."""
    if req.user is None:
        raise errors.unauthorized()
    return req.user


def authenticated_admin(req) -> dict:
    user = authenticate(req)
    if not user["is_admin"]:
        raise errors.forbidden()
    return user


# --- access levels ----------------------------------------------------------

def group_access(store, user, group) -> int:
    """Highest membership in the group or any ancestor (inherited)."""
    if not user or not group:
        return NO_ACCESS
    best = NO_ACCESS
    for ns in store.namespace_chain(group["id"]):
        row = store.member_row("Namespace", ns["id"], user["id"])
        if row:
            best = max(best, row["access_level"])
    return best


def project_access(store, user, project) -> int:
    """``project.team.max_member_access(user)``."""
    if not user or not project:
        return NO_ACCESS
    best = NO_ACCESS
    row = store.member_row("Project", project["id"], user["id"])
    if row:
        best = row["access_level"]
    for ns in store.namespace_chain(project["namespace_id"]):
        if ns["kind"] == "user":
            if ns["owner_id"] == user["id"]:
                best = max(best, OWNER)
            continue
        row = store.member_row("Namespace", ns["id"], user["id"])
        if row:
            best = max(best, row["access_level"])
    return best


def _visible(visibility: str, user, level: int) -> bool:
    if visibility == "public":
        return True
    if visibility == "internal":
        return user is not None
    return bool(user and (user["is_admin"] or level >= GUEST))


def can_read_project(store, user, project) -> bool:
    return _visible(project["visibility"], user, project_access(store, user, project))


def can_read_group(store, user, group) -> bool:
    if _visible(group["visibility"], user, group_access(store, user, group)):
        return True
    # A private group is visible to members of projects or subgroups inside it.
    if user is None:
        return False
    row = store.one(
        "SELECT 1 FROM members m JOIN projects p ON m.source_type = 'Project' AND p.id = m.source_id "
        "WHERE m.user_id = ? AND (p.full_path LIKE ? || '/%') LIMIT 1", (user["id"], group["full_path"]))
    if row is not None:
        return True
    row = store.one(
        "SELECT 1 FROM members m JOIN namespaces n ON m.source_type = 'Namespace' AND n.id = m.source_id "
        "WHERE m.user_id = ? AND (n.full_path LIKE ? || '/%') LIMIT 1", (user["id"], group["full_path"]))
    return row is not None


def project_level(store, user, project) -> int:
    """Access level for ability checks; admins count as Owner."""
    if user and user["is_admin"]:
        return OWNER
    return project_access(store, user, project)


def group_level(store, user, group) -> int:
    if user and user["is_admin"]:
        return OWNER
    return group_access(store, user, group)


def can_read_code(store, user, project) -> bool:
    """``download_code``: anyone on a public project, Reporter+ otherwise."""
    if project["visibility"] == "public":
        return True
    if project["visibility"] == "internal" and user is not None:
        return True
    return project_level(store, user, project) >= REPORTER


# --- finders ----------------------------------------------------------------

def find_project(app, req, ref) -> dict:
    """``find_project!``: not found or not visible -> 404 Project Not Found."""
    project = app.store.project_by_ref(ref)
    if not project or not can_read_project(app.store, req.user, project):
        raise errors.not_found("Project")
    return project


def find_group(app, req, ref) -> dict:
    group = app.store.group_by_ref(ref)
    if not group or not can_read_group(app.store, req.user, group):
        raise errors.not_found("Group")
    return group


def require_project_level(app, req, project, level: int) -> None:
    """``authorize!`` on a project ability that needs ``level``."""
    if project_level(app.store, req.user, project) < level:
        raise errors.forbidden()


def require_group_level(app, req, group, level: int) -> None:
    if group_level(app.store, req.user, group) < level:
        raise errors.forbidden()
