"""Deploy keys: lib/api/deploy_keys.rb (doc/api/deploy_keys.md)."""

from __future__ import annotations

from .. import auth, entities, errors, keys, services
from ..app import created, no_content, ok
from ..clock import fmt_time
from ..conditional import check_unmodified_since
from ..pagination import paginate
from ..params import Declared


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
    expires = vals.get("expires_at")        # None also for expires_at="" (Grape: nil)
    if expires is not None and expires < app.clock.now():
        # Key#expiration, on: :create (app/models/key.rb); nested under
        # deploy_key. like every attribute of the nested key.
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


def key_accessible(app, user, key: dict) -> bool:
    """Is ``key`` in ``User#accessible_deploy_keys`` (app/models/user.rb):
    ``DeployKey.are_public`` union the keys enabled in the user's
    ``authorized_projects`` (any role; admins get no extra keys).

    GitLab answers this with indexed queries; so does this: only the links
    of this one key are read (index on ``deploy_keys_projects.deploy_key_id``),
    never every link of the instance."""
    if key["public"]:
        return True
    store = app.store
    for project in store.all("SELECT p.* FROM deploy_keys_projects dkp JOIN projects p ON p.id = dkp.project_id "
                             "WHERE dkp.deploy_key_id = ?", (key["id"],)):
        if auth.project_access(store, user, project) >= auth.GUEST:
            return True
    return False


def _deploy_key_by_text(app, key_text: str) -> dict | None:
    """``DeployKey.find_by(key: params[:key])``: an exact match on the stored
    text.  Equal texts parse to the same key, and ``fingerprint_sha256`` is
    unique across ``keys`` (app/models/key.rb), so the lookup goes through
    that unique index and compares the text afterwards."""
    parsed = keys.parse(key_text)
    if parsed is None:
        return None
    row = app.store.one("SELECT * FROM keys WHERE fingerprint_sha256 = ?", (parsed.fingerprint_sha256,))
    if row and row["type"] == "DeployKey" and row["key"] == key_text:
        return row
    return None


# --- project deploy keys ----------------------------------------------------

def list_project_keys(app, req):
    project = _project_for_admin(app, req)
    req.page_values = Declared(req.params).pagination().validate()
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
    """``POST /projects/:id/deploy_keys``: reuse the key already in this
    project, else link a key the caller can reach, else create one."""
    project = _project_for_admin(app, req)
    vals = (Declared(req.params).requires("key").requires("title").optional("can_push", bool)
            .optional("expires_at", "datetime").validate())
    user, store = req.user, app.store
    key_text = vals["key"].strip()          # params[:key].strip!
    vals["key"] = key_text
    can_push = bool(vals.get("can_push"))   # !!params[:can_push]; nil (can_push="") is false
    candidate = _deploy_key_by_text(app, key_text)
    if candidate is not None:
        # Already joined to this project: returned as it is.
        row = store.one("SELECT can_push FROM deploy_keys_projects WHERE project_id = ? AND deploy_key_id = ?",
                        (project["id"], candidate["id"]))
        if row:
            return created(entities.deploy_keys_project(candidate, row["can_push"]))
        # current_user.accessible_deploy_keys.find_by(key:): link it (same
        # id, its title kept, the sent title ignored).
        if key_accessible(app, user, candidate):
            _link(app, candidate["id"], project["id"], can_push)
            return created(entities.deploy_keys_project(candidate, can_push))
    # A new private key owned by the caller.
    key_id = _new_key(app, req, user, vals, public=False, prefix="deploy_key.")
    _link(app, key_id, project["id"], can_push)
    return created(entities.deploy_keys_project(store.get("keys", key_id), can_push))


def _may_update_title(app, user, key: dict) -> bool:
    """``update_deploy_key_title`` (app/policies/deploy_key_policy.rb): admin; or for a private key
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
    vals = (Declared(req.params).optional("title").optional("can_push", bool)
            .at_least_one_of("title", "can_push").validate())
    row = app.store.project_deploy_key(project["id"], key_id)
    if not row:
        raise errors.record_not_found()
    # update_deploy_keys_project (Maintainer of this project) was checked above,
    # so the 403 branch (forbidden!(nil)) cannot be reached here.
    now = fmt_time(app.clock.now())
    if "can_push" in vals and vals["can_push"] is None:
        # update_params[:can_push] = params[:can_push] if params.key?(:can_push):
        # can_push="" (or null) is nil after Grape's coercion, and the column
        # is ``can_push boolean DEFAULT false NOT NULL`` (db/structure.sql), so
        # GitLab's UPDATE fails with ActiveRecord::NotNullViolation, which
        # lib/api/api.rb answers with 500.
        raise errors.message(500, "500 Internal Server Error")
    if "title" in vals and _may_update_title(app, req.user, row):
        title = vals["title"]
        if title is None or not title.strip():
            raise errors.validation({"deploy_key.title": ["can't be blank"]})
        if len(title) > 255:
            raise errors.validation({"deploy_key.title": ["is too long (maximum is 255 characters)"]})
        if title != row["title"]:
            app.store.update("keys", key_id, title=title, updated_at=now)
    # Otherwise the title is silently ignored (still 200).
    if "can_push" in vals and bool(vals["can_push"]) != bool(row["can_push"]):
        # Only a changed attribute moves updated_at (ActiveRecord timestamps).
        app.store.update("deploy_keys_projects", row["dkp_id"], can_push=int(vals["can_push"]), updated_at=now)
    row = app.store.project_deploy_key(project["id"], key_id)
    return ok(entities.deploy_keys_project(row, row["can_push"]))


def delete_project_key(app, req):
    project = _project_for_admin(app, req)
    key_id = _key_id(req)
    dkp = app.store.one("SELECT * FROM deploy_keys_projects WHERE project_id = ? AND deploy_key_id = ?",
                        (project["id"], key_id))
    if not dkp:
        raise errors.not_found("Deploy key")
    check_unmodified_since(req, dkp["updated_at"])    # destroy_conditionally!(deploy_key_project)
    services.destroy_deploy_keys_project(app.state, dkp)
    return no_content()


def enable_project_key(app, req):
    """Projects::EnableDeployKeyService (app/services/projects/enable_deploy_key_service.rb):
    the key among the caller's accessible keys (any key for an admin);
    idempotent; a new link is read-only."""
    project = _project_for_admin(app, req)
    key_id = _key_id(req)
    user = req.user
    key = app.store.one("SELECT * FROM keys WHERE id = ? AND type = 'DeployKey'", (key_id,))
    if not key or not (user["is_admin"] or key_accessible(app, user, key)):
        raise errors.not_found("Deploy key")
    if not app.store.one("SELECT 1 FROM deploy_keys_projects WHERE project_id = ? AND deploy_key_id = ?",
                         (project["id"], key_id)):
        _link(app, key_id, project["id"], False)
    return created(entities.deploy_key(key))


# --- instance deploy keys (admin) -------------------------------------------

def list_instance_keys(app, req):
    auth.authenticated_admin(req)
    # params { use :pagination; optional :public, type: Boolean, default: false }
    vals = Declared(req.params).pagination().optional("public", bool, default=False).validate()
    req.page_values = vals
    public_only = bool(vals["public"])
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
