"""GitLab Shell's internal API: lib/api/internal/base.rb,
lib/api/helpers/internal_helpers.rb (the client side is gitlab-shell's
internal/gitlabnet/authorizedkeys/client.go and accessverifier/client.go).

- ``GET /internal/authorized_keys?key=<b64>``: which key an SSH client
  presented (sshd's ``AuthorizedKeysCommand`` asks through
  gitlab-shell-authorized-keys-check).
- ``POST /internal/allowed``: may that key run ``git-upload-pack`` /
  ``git-receive-pack`` on the project; asked once by gitlab-shell with
  ``changes=_any`` and again by the pre-receive hook with the real
  ``<old> <new> <ref>`` lines, where the tag rules of lib/gitlab/checks/tag_check.rb apply.
- ``GET /internal/discover?key_id=``: whose key it is (``ssh -T`` greeting).
- ``GET /internal/check``: the health check gitlab-shell's ``check`` uses.

Every route needs the ``Gitlab-Shell-Api-Request`` header: a JWT (HS256,
``iss: gitlab-shell``) signed with the shared secret the server was started
with (``--shell-secret-file``); without a valid one: 401.

Test-server addition, not in GitLab: the ``/internal/allowed`` answer carries
``repository_path``, the absolute path of the bare repository, so the SSH
stand-in (tests/gitshell) can run git there instead of asking Gitaly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time

from .. import auth, entities, errors, keys, protection
from ..app import ok
from ..clock import fmt_time

JWT_HEADER = "Gitlab-Shell-Api-Request"
JWT_ISSUER = "gitlab-shell"
ZERO = "0" * 40

# lib/gitlab/git_access.rb ERROR_MESSAGES and the checks in lib/gitlab/checks/.
PROJECT_NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it."
COMMAND_NOT_ALLOWED = "The command you're trying to execute is not allowed."
DOWNLOAD_DENIED = "You are not allowed to download code from this project."
PUSH_DENIED = "You are not allowed to push code to this project."
DEPLOY_KEY_PUSH_DENIED = "This deploy key does not have write access to this project."
ACCOUNT_BLOCKED = "Your account has been blocked."
NO_REPO = "A repository for this project does not exist yet."
PROTECTED_BRANCH = "You are not allowed to push code to protected branches on this project."
DELETE_DEFAULT_BRANCH = "The default branch of a project cannot be deleted."
CHANGE_EXISTING_TAGS = "You are not allowed to change existing tags on this project."
PROTECTED_TAG_UPDATE = "Protected tags cannot be updated."
PROTECTED_TAG_DELETE = ("You are not allowed to delete protected tags from this project. "
                        "Only a project maintainer or owner can delete a protected tag.")
PROTECTED_TAG_DELETE_WEB = "You can only delete protected tags using the web interface."
ACTIONS = ("git-upload-pack", "git-receive-pack", "git-upload-archive")


# --- the shell token ---------------------------------------------------------

def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def valid_shell_token(secret: str | None, token: str | None, now: float | None = None) -> bool:
    """``JWT.decode(token, secret, true, iss: 'gitlab-shell', verify_iss: true,
    algorithm: 'HS256')``: signature, issuer and (when present) expiry."""
    if not secret or not token or token.count(".") != 2:
        return False
    head, body, sig = token.split(".")
    try:
        header = json.loads(_b64url(head))
        claims = json.loads(_b64url(body))
        signature = _b64url(sig)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return False
    expected = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return False
    if claims.get("iss") != JWT_ISSUER:
        return False
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or exp <= (now or time.time())):
        return False
    return True


def _authenticate_shell(app, req) -> None:
    """``authenticate_by_gitlab_shell_token!``: 401 ``{"message":"401 Unauthorized"}``."""
    if not valid_shell_token(getattr(app.state, "shell_secret", None), req.headers.get(JWT_HEADER)):
        raise errors.unauthorized()


# --- lookups -----------------------------------------------------------------

def authorized_keys(app, req):
    """Find a key by the base64 blob sshd passes as ``%k`` (deploy keys
    included); the fingerprint is the SHA256 of the blob."""
    _authenticate_shell(app, req)
    raw = req.params.get("key")
    if not isinstance(raw, str) or not raw:
        raise errors.missing("key")
    try:
        blob = base64.b64decode(raw.strip().replace(" ", "+"), validate=True)
    except (ValueError, binascii.Error):
        raise errors.not_found("Key") from None
    key = app.store.one("SELECT * FROM keys WHERE fingerprint_sha256 = ? AND usage_type IN ('auth', 'auth_and_signing')",
                        (keys.sha256_fingerprint(blob),))
    if not key:
        raise errors.not_found("Key")
    return ok(entities.ssh_key(key))


def _project_from(app, params) -> dict | None:
    """``project`` (``/group/proj.git`` as the SSH command has it) or
    ``gl_repository`` (``project-<id>``, as the hooks send it)."""
    gl_repo = params.get("gl_repository")
    if isinstance(gl_repo, str) and re.fullmatch(r"project-\d+", gl_repo):
        return app.store.get("projects", int(gl_repo.split("-", 1)[1]))
    path = params.get("project")
    if not isinstance(path, str) or not path:
        return None
    path = path.strip().strip("'\"").lstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if path.endswith(".wiki"):
        return None          # wikis are not modelled
    return app.store.project_by_ref(path) if "/" in path else None


def _actor(app, params) -> tuple[dict | None, dict | None]:
    """``(key, user)`` from ``key_id``, ``user_id``, ``username`` or
    ``identifier`` (``key-42`` / ``user-7``, as gitaly's hooks send GL_ID)."""
    store = app.store
    ident = str(params.get("identifier") or "")
    key_id = params.get("key_id") or (ident[4:] if ident.startswith("key-") else None)
    if key_id is not None and str(key_id).isdigit():
        key = store.get("keys", int(key_id))
        if not key:
            return None, None
        return key, store.get("users", key["user_id"]) if key["user_id"] else None
    user_id = params.get("user_id") or (ident[5:] if ident.startswith("user-") else None)
    if user_id is not None and str(user_id).isdigit():
        return None, store.get("users", int(user_id))
    if params.get("username"):
        return None, store.user_by_username(str(params["username"]))
    return None, None


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- GitAccess -----------------------------------------------------------------

def _check_access(app, key, user, project, action: str) -> None:
    """The checks gitlab-shell's first call runs (``changes=_any``)."""
    store = app.store
    if action not in ACTIONS:
        raise Denied(401, COMMAND_NOT_ALLOWED)
    if user is not None and user["state"] != "active":
        raise Denied(401, ACCOUNT_BLOCKED)
    is_deploy_key = key is not None and key["type"] == "DeployKey"
    if project is None:
        raise Denied(404, PROJECT_NOT_FOUND)
    if is_deploy_key:
        link = store.project_deploy_key(project["id"], key["id"])
        if link is None and not key["public"]:
            raise Denied(404, PROJECT_NOT_FOUND)           # deploy_key.has_access_to?(project)
        if action == "git-receive-pack" and not (link and link["can_push"]):
            raise Denied(401, DEPLOY_KEY_PUSH_DENIED)
    else:
        if user is None or not auth.can_read_project(store, user, project):
            raise Denied(404, PROJECT_NOT_FOUND)
        if action != "git-receive-pack" and not auth.can_read_code(store, user, project):
            raise Denied(401, DOWNLOAD_DENIED)
        if action == "git-receive-pack" and auth.project_level(store, user, project) < auth.DEVELOPER:
            raise Denied(401, PUSH_DENIED)
    if not project["disk_path"] or not os.path.isdir(project["disk_path"]):
        raise Denied(401, NO_REPO)


def _parse_changes(text: str) -> list[tuple[str, str, str]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
    return out


def _check_change(app, key, user, project, old: str, new: str, ref: str) -> None:
    """BranchCheck (default branch only; other protected branches are not
    modelled) and TagCheck (lib/gitlab/checks/tag_check.rb) for one ``<old> <new> <ref>`` line."""
    store = app.store
    is_deploy_key = key is not None and key["type"] == "DeployKey"
    level = auth.project_level(store, user, project) if user else auth.NO_ACCESS
    creation, deletion = set(old) == {"0"}, set(new) == {"0"}
    if ref.startswith("refs/heads/"):
        branch = ref[len("refs/heads/"):]
        if branch == project["default_branch"]:
            if deletion:
                raise Denied(401, DELETE_DEFAULT_BRANCH)
            # The default branch is protected (Maintainers push); deploy keys
            # need an explicit protected-branch entry, which is not modelled.
            if is_deploy_key or level < auth.MAINTAINER:
                raise Denied(401, PROTECTED_BRANCH)
        return
    if not ref.startswith("refs/tags/"):
        return
    tag = ref[len("refs/tags/"):]
    admin_tag = is_deploy_key or level >= auth.DEVELOPER   # the push checks passed already
    if not creation and not admin_tag:
        raise Denied(401, CHANGE_EXISTING_TAGS)
    if creation:
        violation = protection.tag_create_violation(store, user, project, tag,
                                                    deploy_key=key if is_deploy_key else None)
        if violation:
            raise Denied(401, violation)
        return
    if protection.is_protected(store, project["id"], tag):
        if not deletion:
            raise Denied(401, PROTECTED_TAG_UPDATE)
        if level < auth.MAINTAINER or is_deploy_key:
            raise Denied(401, PROTECTED_TAG_DELETE)
        raise Denied(401, PROTECTED_TAG_DELETE_WEB)


def _root_namespace_id(store, project) -> int:
    chain = store.namespace_chain(project["namespace_id"])
    return chain[-1]["id"] if chain else project["namespace_id"]


def allowed(app, req):
    _authenticate_shell(app, req)
    params = req.params
    store = app.store
    key, user = _actor(app, params)
    project = _project_from(app, params)
    action = str(params.get("action") or "")
    try:
        _check_access(app, key, user, project, action)
        changes = params.get("changes")
        if action == "git-receive-pack" and isinstance(changes, str) and changes != "_any":
            for old, new, ref in _parse_changes(changes):
                _check_change(app, key, user, project, old, new, ref)
    except Denied as exc:
        raise errors.ApiError(exc.status, {"status": False, "message": exc.message}) from None
    if key is not None:
        store.update("keys", key["id"], last_used_at=fmt_time(app.clock.now()))
    gl_repository = f"project-{project['id']}"
    relative = os.path.relpath(project["disk_path"], app.repos.root)
    body = {
        "status": True,
        "gl_repository": gl_repository,
        "gl_project_path": project["full_path"],
        "gl_project_id": project["id"],
        "gl_root_namespace_id": _root_namespace_id(store, project),
        "gl_id": f"user-{user['id']}" if user else None,
        "gl_username": user["username"] if user else None,
        "gl_key_type": ("deploy_key" if key["type"] == "DeployKey" else "key") if key else None,
        "gl_key_id": key["id"] if key else None,
        "git_config_options": ["uploadpack.allowFilter=true", "uploadpack.allowAnySHA1InWant=true"],
        "gitaly": {
            "repository": {"storage_name": "default", "relative_path": relative, "git_object_directory": "",
                           "git_alternate_object_directories": [], "gl_repository": gl_repository,
                           "gl_project_path": project["full_path"]},
            "address": "unix:/nonexistent/gitaly.socket", "token": "", "features": {},
        },
        "gl_console_messages": [],
        "need_audit": False,
        "repository_path": project["disk_path"],   # test-server addition (see the module docstring)
    }
    return ok(body)


def discover(app, req):
    """``GET /internal/discover?key_id=``: whose key this is (``ssh -T`` greeting)."""
    _authenticate_shell(app, req)
    key, user = _actor(app, req.params)
    if user is None:
        return ok(None)
    return ok({"id": user["id"], "name": user["name"], "username": user["username"]})


def check(app, req):
    _authenticate_shell(app, req)
    return ok({"api_version": "v4", "gitlab_version": "18.10.0", "gitlab_rev": "0123456789a", "redis": True})


def register(router) -> None:
    router.api("GET", "/internal/authorized_keys", authorized_keys)
    router.api("POST", "/internal/allowed", allowed)
    router.api("GET", "/internal/discover", discover)
    router.api("GET", "/internal/check", check)
