"""Users, personal access tokens, users' SSH keys and ``GET /keys``."""

from __future__ import annotations

import re

from .. import auth, entities, errors, keys, services
from ..app import created, ok
from ..clock import fmt_time
from ..pagination import paginate
from ..params import Declared, flag

PAT_SCOPES = ("api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy",
              "read_repository", "write_repository", "read_registry", "write_registry",
              "read_virtual_registry", "write_virtual_registry", "sudo", "admin_mode",
              "ai_features", "read_service_ping", "self_rotate")
USERNAME_RE = re.compile(r"\A[a-zA-Z0-9_.][a-zA-Z0-9_\-.]*[a-zA-Z0-9_\-]\Z|\A[a-zA-Z0-9_]\Z")


def current_user(app, req):
    return ok(entities.user(req, auth.authenticate(req)))


def list_users(app, req):
    username = req.params.get("username")
    if req.user is None and not username:
        raise errors.forbidden("Not authorized to access /api/v4/users")
    rows = app.store.all("SELECT * FROM users ORDER BY id DESC")  # default order_by id, sort desc
    if username:
        rows = [r for r in rows if r["username"].lower() == str(username).lower()]
    search = req.params.get("search")
    if search:
        s = str(search).lower()
        rows = [r for r in rows if s in r["username"].lower() or s in r["name"].lower()
                or (req.user and req.user["is_admin"] and s in (r["email"] or "").lower())]
    if flag(req, "active"):           # optional :active, type: Boolean, default: false
        rows = [r for r in rows if r["state"] == "active"]
    page, headers = paginate(req, rows)
    return ok([entities.user(req, r) for r in page], headers=headers)


def _find_user(app, ref) -> dict:
    ref = str(ref)
    row = app.store.get("users", int(ref)) if ref.isdigit() else app.store.user_by_username(ref)
    if not row:
        raise errors.not_found("User")
    return row


def get_user(app, req):
    """``GET /users/:id`` (lib/api/users.rb): the ``users`` resource declares
    ``requirements: { uid: /[0-9]*/, id: /[0-9]*/ }`` (so ``/users/alice``
    matches no route: 404 ``{"error":"404 Not Found"}``) and the endpoint
    starts with ``forbidden!('Not authorized!') unless current_user``.  Admins
    skip the ``users_get_by_id`` rate limit, which is off here anyway."""
    if req.user is None:
        raise errors.forbidden("Not authorized!")
    row = app.store.get("users", int(req.route_params["id"]))
    if not row:
        raise errors.not_found("User")
    return ok(entities.user(req, row))


def create_user(app, req):
    actor = auth.authenticated_admin(req)
    vals = (Declared(req.params).requires("email").requires("name").requires("username")
            .optional("password").optional("reset_password", bool).optional("force_random_password", bool)
            .optional("admin", bool, default=False).optional("skip_confirmation", bool).validate())
    given = [n for n in ("password", "reset_password", "force_random_password") if n in vals]
    if len(given) != 1:
        raise errors.error(400, "password, reset_password, force_random_password are missing, "
                                "exactly one parameter must be provided" if not given else
                           f"{', '.join(given)} are mutually exclusive")
    store = app.store
    if store.one("SELECT 1 FROM users WHERE email = ?", (vals["email"],)):
        raise errors.conflict("Email has already been taken")
    if store.user_by_username(vals["username"]) or \
            store.one("SELECT 1 FROM namespaces WHERE full_path = ?", (vals["username"],)):
        raise errors.conflict("Username has already been taken")
    problems = {}
    if not USERNAME_RE.match(vals["username"]):
        problems["username"] = ["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' "
                                "or end in '.', '.git' or '.atom'."]
    if not vals["name"].strip():
        problems["name"] = ["can't be blank"]
    if vals.get("password") is not None and len(vals["password"]) < 8:
        problems["password"] = ["is too short (minimum is 8 characters)"]
    if problems:
        raise errors.validation(problems)
    del actor
    row = services.create_user(app.state, vals["username"], vals["name"], vals["email"], vals["admin"])
    return created(entities.user(req, row))


def create_pat(app, req):
    auth.authenticated_admin(req)
    user = _find_user(app, req.route_params["user_id"])
    vals = (Declared(req.params).requires("name").requires("scopes", "str_array", values=PAT_SCOPES)
            .optional("expires_at", "datetime").optional("description").validate())
    if not vals["scopes"]:
        raise errors.validation({"scopes": ["can't be blank"]})
    if vals.get("expires_at") is not None:
        expires = fmt_time(vals["expires_at"].replace(hour=0, minute=0, second=0, microsecond=0))
        if vals["expires_at"].date() < app.clock.today():
            raise errors.validation({"expires_at": ["must not be in the past"]})  # INFERRED wording
    else:
        expires = services.default_pat_expiry(app.state)
    row = services.create_pat(app.state, user["id"], vals["name"], vals["scopes"], expires)
    return created(entities.pat(row, app.clock.today(), with_token=True))


# --- users' own SSH keys (they share the keys table with deploy keys) --------

def _create_ssh_key(app, req, owner: dict):
    vals = (Declared(req.params).requires("key").requires("title").optional("expires_at", "datetime")
            .optional("usage_type", values=("auth", "signing", "auth_and_signing")).validate())
    key_text = keys.sanitize(vals["key"].strip())
    errs = keys.validate(vals["title"], key_text, app.settings(), _fingerprint_taken(app))
    if vals.get("expires_at") is not None and vals["expires_at"] < app.clock.now():
        errs.setdefault("key", []).append("has expired")
    if errs:
        raise errors.validation(errs)
    pk = keys.parse(key_text)
    now = fmt_time(app.clock.now())
    key_id = app.store.insert("keys", type=None, user_id=owner["id"], title=vals["title"], key=key_text,
                              fingerprint=pk.fingerprint_md5, fingerprint_sha256=pk.fingerprint_sha256,
                              usage_type=vals.get("usage_type") or "auth_and_signing",
                              expires_at=fmt_time(vals.get("expires_at")), created_at=now, updated_at=now)
    return created(entities.ssh_key(app.store.get("keys", key_id)))


def _fingerprint_taken(app):
    return lambda fp: app.store.one("SELECT 1 FROM keys WHERE fingerprint_sha256 = ?", (fp,)) is not None


def create_own_key(app, req):
    return _create_ssh_key(app, req, auth.authenticate(req))


def create_user_key(app, req):
    auth.authenticated_admin(req)
    return _create_ssh_key(app, req, _find_user(app, req.route_params["id"]))


def list_own_keys(app, req):
    user = auth.authenticate(req)
    rows = app.store.all("SELECT * FROM keys WHERE type IS NULL AND user_id = ? ORDER BY id", (user["id"],))
    page, headers = paginate(req, rows)
    return ok([entities.ssh_key(r) for r in page], headers=headers)


def _key_with_user(app, req, key: dict) -> dict:
    out = entities.deploy_key(key) if key["type"] == "DeployKey" else entities.ssh_key(key)
    owner = app.store.get("users", key["user_id"]) if key["user_id"] else None
    out["user"] = entities.user(req, owner) if owner else None
    if key["type"] == "DeployKey":
        out["deploy_keys_projects"] = [
            {"id": r["id"], "deploy_key_id": r["deploy_key_id"], "project_id": r["project_id"],
             "can_push": bool(r["can_push"]), "created_at": r["created_at"], "updated_at": r["updated_at"]}
            for r in app.store.all("SELECT * FROM deploy_keys_projects WHERE deploy_key_id = ? ORDER BY id",
                                   (key["id"],))]
    return out


def keys_by_fingerprint(app, req):
    """``GET /keys?fingerprint=`` (admin): ``SHA256:<b64>`` or MD5 ``aa:bb:..``."""
    auth.authenticated_admin(req)
    vals = Declared(req.params).requires("fingerprint").validate()
    fp = vals["fingerprint"]
    if fp.startswith("SHA256:"):
        key = app.store.one("SELECT * FROM keys WHERE fingerprint_sha256 = ?", (fp[7:].rstrip("="),))
    else:
        key = app.store.one("SELECT * FROM keys WHERE fingerprint = ?", (fp.lower(),))
    if not key:
        raise errors.not_found("Key")
    return ok(_key_with_user(app, req, key))


def get_key(app, req):
    auth.authenticated_admin(req)
    key = app.store.get("keys", req.route_params["id"]) if req.route_params["id"].isdigit() else None
    if not key:
        raise errors.not_found("Key")
    return ok(_key_with_user(app, req, key))


def register(router) -> None:
    router.api("GET", "/user", current_user)
    router.api("GET", "/user/keys", list_own_keys)
    router.api("POST", "/user/keys", create_own_key)
    router.api("GET", "/users", list_users)
    router.api("POST", "/users", create_user)
    router.api("GET", "/users/:id", get_user, requirements={"id": "[0-9]+"})
    router.api("POST", "/users/:id/keys", create_user_key)
    router.api("POST", "/users/:user_id/personal_access_tokens", create_pat)
    router.api("GET", "/keys", keys_by_fingerprint)
    router.api("GET", "/keys/:id", get_key)
