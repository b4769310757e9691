"""Deploy keys (spec §2): lib/api/deploy_keys.rb."""

from __future__ import annotations

from .. import auth, entities, errors, keys, services
from ..app import created, no_content, ok
from ..clock import fmt_time
from ..pagination import paginate
from ..params import Declared, at_least_one_of, coerce_bool


def _project_for_admin(app, req) -> dict:
    """``authenticate!`` (401) -> ``user_project`` (404) -> ``authorize_admin_project`` (403)."""
    auth.authenticate(req)
    project = auth.find_project(app, req, req.route_params["id"])
    auth.require_project_level(app, req, project, auth.MAINTAINER)
    return project


def _key_id(req) -> int | None:
    raw = req.route_params["key_id"]
    if not raw.isdigit():
        raise errors.invalid("key_id")           # requires :key_id, type: Integer
    return int(raw)


def _taken(app):
    return lambda fp: app.store.one("SELECT 1 FROM keys WHERE fingerprint_sha256 = ?", (fp,)) is not None


def _new_key(app, req, user, vals: dict, public: bool, prefix: str) -> int:
    """Create a DeployKey row after the Key model validations; errors are
    rendered with ``prefix`` (``deploy_key.`` when nested in the join row)."""
    key_text = keys.sanitize(vals["key"]) if vals["key"].strip() else vals["key"]
    errs = keys.validate(vals["title"], key_text, app.settings(), _taken(app))
    expires = vals.get("expires_at")
    if expires is not None and expires < app.clock.now():
        # Key#expiration, on: :create.  The nested name is INFERRED (spec §2.4).
        errs.setdefault("key", []).append("has expired")
    if errs:
        raise errors.validation({f"{prefix}{attr}": msgs for attr, msgs in errs.items()})
    pk = keys.parse(key_text)
    now = fmt_time(app.clock.now())
    return app.store.insert("keys", type="DeployKey", user_id=user["id"], title=vals["title"], key=key_text,
                            fingerprint=pk.fingerprint_md5, fingerprint_sha256=pk.fingerprint_sha256,
                            public=int(public), expires_at=fmt_time(expires), created_at=now, updated_at=now)


def _link(app, key_id: int, project_id: int, can_push: bool) -> None:
    now = fmt_time(app.clock.now())
    app.store.insert("deploy_keys_projects", deploy_key_id=key_id, project_id=project_id,
                     can_push=int(bool(can_push)), created_at=now, updated_at=now)


def accessible_key_ids(app, user) -> set[int]:
    """``User#accessible_deploy_keys``: keys enabled in any project the user
    is authorised for (any role), plus every public key.  Admins get no
    extra keys here (spec §2.4 step 3)."""
    store = app.store
    ids = {r["id"] for r in store.all("SELECT id FROM keys WHERE type = 'DeployKey' AND public = 1")}
    for row in store.all("SELECT dkp.deploy_key_id, p.* FROM deploy_keys_projects dkp "
                         "JOIN projects p ON p.id = dkp.project_id"):
        if auth.project_access(store, user, row) >= auth.GUEST:
            ids.add(row["deploy_key_id"])
    return ids


# --- project deploy keys ----------------------------------------------------

def list_project_keys(app, req):
    project = _project_for_admin(app, req)
    rows = app.store.all("SELECT k.*, dkp.can_push FROM deploy_keys_projects dkp JOIN keys k "
                         "ON k.id = dkp.deploy_key_id WHERE dkp.project_id = ? ORDER BY dkp.id", (project["id"],))
    page, headers = paginate(req, rows)
    return ok([entities.deploy_keys_project(r, r["can_push"]) for r in page], headers=headers)


def get_project_key(app, req):
    project = _project_for_admin(app, req)
    row = app.store.project_deploy_key(project["id"], _key_id(req))
    if not row:
        raise errors.record_not_found()          # find_by!
    return ok(entities.deploy_keys_project(row, row["can_push"]))


def create_project_key(app, req):
    """The reuse-or-link-or-create algorithm of spec §2.4."""
    project = _project_for_admin(app, req)
    vals = (Declared(req.params).requires("key").requires("title").optional("can_push", bool)
            .optional("expires_at", "datetime").validate())
    user, store = req.user, app.store
    key_text = vals["key"].strip()
    vals["key"] = key_text
    # 2. already in this project: raw match against the stored (sanitised) key.
    row = store.one("SELECT k.*, dkp.can_push FROM deploy_keys_projects dkp JOIN keys k "
                    "ON k.id = dkp.deploy_key_id WHERE dkp.project_id = ? AND k.key = ?", (project["id"], key_text))
    if row:
        return created(entities.deploy_keys_project(row, row["can_push"]))
    # 3. a key the user can reach: link it (same id, existing title kept).
    can_push = bool(vals.get("can_push", False))
    candidates = store.all("SELECT * FROM keys WHERE type = 'DeployKey' AND key = ? ORDER BY id", (key_text,))
    if candidates:
        reachable = accessible_key_ids(app, user)
        for key in candidates:
            if key["id"] in reachable:
                _link(app, key["id"], project["id"], can_push)
                return created(entities.deploy_keys_project(key, can_push))
    # 4. a new private key owned by the caller.
    key_id = _new_key(app, req, user, vals, public=False, prefix="deploy_key.")
    _link(app, key_id, project["id"], can_push)
    return created(entities.deploy_keys_project(store.get("keys", key_id), can_push))


def _may_update_title(app, user, key: dict) -> bool:
    """``update_deploy_key_title`` (spec §2.5): admin; or for a private key
    the caller can manage, when it is orphaned or in exactly one project that
    the caller maintains."""
    store = app.store
    if user["is_admin"]:
        return True
    if key["public"]:
        return False
    projects = store.all("SELECT p.* FROM deploy_keys_projects dkp JOIN projects p ON p.id = dkp.project_id "
                         "WHERE dkp.deploy_key_id = ?", (key["id"],))
    maintained = [p for p in projects if auth.project_access(store, user, p) >= auth.MAINTAINER]
    if not maintained:
        return False                              # no update_deploy_key at all
    return len(projects) == 0 or (len(projects) == 1 and len(maintained) == 1)


def update_project_key(app, req):
    project = _project_for_admin(app, req)
    key_id = _key_id(req)
    vals = Declared(req.params).optional("title").optional("can_push", bool).validate()
    at_least_one_of(req.params, "title", "can_push")
    row = app.store.project_deploy_key(project["id"], key_id)
    if not row:
        raise errors.record_not_found()
    # update_deploy_keys_project (Maintainer of this project) was checked above,
    # so the 403 branch (forbidden!(nil)) cannot be reached here.
    if "title" in vals and _may_update_title(app, req.user, row):
        title = vals["title"]
        if not title.strip():
            raise errors.validation({"deploy_key.title": ["can't be blank"]})
        if len(title) > 255:
            raise errors.validation({"deploy_key.title": ["is too long (maximum is 255 characters)"]})
        app.store.update("keys", key_id, title=title, updated_at=fmt_time(app.clock.now()))
    # Otherwise the title is silently ignored (still 200).
    if "can_push" in vals:
        app.store.update("deploy_keys_projects", row["dkp_id"], can_push=int(vals["can_push"]),
                         updated_at=fmt_time(app.clock.now()))
    row = app.store.project_deploy_key(project["id"], key_id)
    return ok(entities.deploy_keys_project(row, row["can_push"]))


def delete_project_key(app, req):
    project = _project_for_admin(app, req)
    key_id = _key_id(req)
    dkp = app.store.one("SELECT * FROM deploy_keys_projects WHERE project_id = ? AND deploy_key_id = ?",
                        (project["id"], key_id))
    if not dkp:
        raise errors.not_found("Deploy key")
    services.destroy_deploy_keys_project(app.state, dkp)
    return no_content()


def enable_project_key(app, req):
    """Projects::EnableDeployKeyService (spec §2.7)."""
    project = _project_for_admin(app, req)
    key_id = _key_id(req)
    user = req.user
    key = app.store.one("SELECT * FROM keys WHERE id = ? AND type = 'DeployKey'", (key_id,))
    if not key or not (user["is_admin"] or key_id in accessible_key_ids(app, user)):
        raise errors.not_found("Deploy key")
    if not app.store.one("SELECT 1 FROM deploy_keys_projects WHERE project_id = ? AND deploy_key_id = ?",
                         (project["id"], key_id)):
        _link(app, key_id, project["id"], False)
    return created(entities.deploy_key(key))


# --- instance deploy keys (admin) -------------------------------------------

def list_instance_keys(app, req):
    auth.authenticated_admin(req)
    public_only = req.params.get("public") not in (None, "") and coerce_bool(req.params["public"])
    sql = "SELECT * FROM keys WHERE type = 'DeployKey'" + (" AND public = 1" if public_only else "") + " ORDER BY id"
    page, headers = paginate(req, app.store.all(sql))
    out = []
    for key in page:
        item = entities.deploy_key(key)
        links = app.store.all("SELECT p.*, dkp.can_push FROM deploy_keys_projects dkp JOIN projects p "
                              "ON p.id = dkp.project_id WHERE dkp.deploy_key_id = ? ORDER BY dkp.id", (key["id"],))
        item["projects_with_write_access"] = [entities.project_identity(req, app.store, p)
                                              for p in links if p["can_push"]]
        item["projects_with_readonly_access"] = [entities.project_identity(req, app.store, p)
                                                 for p in links if not p["can_push"]]
        out.append(item)
    return ok(out, headers=headers)


def create_instance_key(app, req):
    """Admin ``POST /deploy_keys`` (17.5+): a public key; errors not nested."""
    user = auth.authenticated_admin(req)
    vals = (Declared(req.params).requires("key").requires("title").optional("expires_at", "datetime")
            .validate())
    vals["key"] = vals["key"].strip()
    key_id = _new_key(app, req, user, vals, public=True, prefix="")
    return created(entities.deploy_key(app.store.get("keys", key_id)))


def user_project_keys(app, req):
    """``GET /users/:id_or_username/project_deploy_keys`` (lib/api/users.rb).

    Keys enabled in projects where the caller is Maintainer+ by membership
    (``Project.visible_to_user_and_access_level``: project authorizations, so
    admins get no extra projects); for another user, only the projects where
    both are Maintainer+.  No such project: 403 "No common authorized project
    found".
    """
    caller = auth.authenticate(req)
    ref = str(req.route_params["id"])
    target = app.store.get("users", int(ref)) if ref.isdigit() else app.store.user_by_username(ref)
    if not target:
        raise errors.not_found("User")
    store = app.store
    project_ids = []
    for project in store.all("SELECT * FROM projects ORDER BY id"):
        if auth.project_access(store, caller, project) < auth.MAINTAINER:
            continue
        if target["id"] != caller["id"] and auth.project_access(store, target, project) < auth.MAINTAINER:
            continue
        project_ids.append(project["id"])
    if not project_ids:
        raise errors.forbidden("No common authorized project found")
    marks = ", ".join("?" for dummy in project_ids)
    rows = store.all("SELECT * FROM keys WHERE type = 'DeployKey' AND id IN (SELECT deploy_key_id FROM "
                     "deploy_keys_projects WHERE project_id IN (%s)) ORDER BY id" % marks, tuple(project_ids))
    page, headers = paginate(req, rows)
    return ok([entities.deploy_key(r) for r in page], headers=headers)


def register(router) -> None:
    router.api("GET", "/users/:id/project_deploy_keys", user_project_keys)
    router.api("GET", "/deploy_keys", list_instance_keys)
    router.api("POST", "/deploy_keys", create_instance_key)
    router.api("GET", "/projects/:id/deploy_keys", list_project_keys)
    router.api("POST", "/projects/:id/deploy_keys", create_project_key)
    router.api("GET", "/projects/:id/deploy_keys/:key_id", get_project_key)
    router.api("PUT", "/projects/:id/deploy_keys/:key_id", update_project_key)
    router.api("DELETE", "/projects/:id/deploy_keys/:key_id", delete_project_key)
    router.api("POST", "/projects/:id/deploy_keys/:key_id/enable", enable_project_key)
