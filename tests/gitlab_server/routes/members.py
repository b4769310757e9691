"""Project and group members (``/projects/:id/members``, ``/groups/:id/members``)."""

from __future__ import annotations

from .. import auth, entities, errors, services
from ..app import created, no_content, ok
from ..clock import fmt_time
from ..conditional import check_unmodified_since
from ..pagination import paginate
from ..params import Declared

ROLE_TITLES = {10: "Guest", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner", 5: "Minimal Access"}


def _source(app, req, kind: str):
    if kind == "projects":
        project = auth.find_project(app, req, req.route_params["id"])
        return "Project", project
    group = auth.find_group(app, req, req.route_params["id"])
    return "Namespace", group


def _inherited(app, source_type: str, source: dict, user_id: int) -> tuple[int, dict | None]:
    """The best membership above the source (groups and ancestors)."""
    ns_id = source["namespace_id"] if source_type == "Project" else source["parent_id"]
    best, where = 0, None
    for ns in app.store.namespace_chain(ns_id):
        row = app.store.member_row("Namespace", ns["id"], user_id) if ns["kind"] == "group" else None
        if row and row["access_level"] > best:
            best, where = row["access_level"], ns
    return best, where


def _require_admin_members(app, req, source_type, source) -> None:
    """``admin_project_member`` is Maintainer+, ``admin_group_member`` is Owner."""
    auth.authenticate(req)
    if source_type == "Project":
        auth.require_project_level(app, req, source, auth.MAINTAINER)
    else:
        auth.require_group_level(app, req, source, auth.OWNER)


def _level_of(app, req, source_type, source) -> int:
    return (auth.project_level(app.store, req.user, source) if source_type == "Project"
            else auth.group_level(app.store, req.user, source))


def list_members(kind: str, inherited: bool):
    def handler(app, req):
        source_type, source = _source(app, req, kind)
        rows = app.store.all("SELECT * FROM members WHERE source_type = ? AND source_id = ? ORDER BY id",
                             (source_type, source["id"]))
        if inherited:
            by_user = {r["user_id"]: r for r in rows}
            ns_id = source["namespace_id"] if source_type == "Project" else source["parent_id"]
            for ns in app.store.namespace_chain(ns_id):
                if ns["kind"] != "group":
                    continue
                for r in app.store.all("SELECT * FROM members WHERE source_type = 'Namespace' AND source_id = ?",
                                       (ns["id"],)):
                    if r["user_id"] not in by_user or by_user[r["user_id"]]["access_level"] < r["access_level"]:
                        by_user[r["user_id"]] = r
            rows = sorted(by_user.values(), key=lambda r: r["id"])
        query = str(req.params.get("query") or "").lower()
        if query:
            rows = [r for r in rows if query in app.store.get("users", r["user_id"])["username"].lower()]
        page, headers = paginate(req, rows)
        return ok([entities.member(req, app.store, r) for r in page], headers=headers)
    return handler


def get_member(kind: str):
    def handler(app, req):
        source_type, source = _source(app, req, kind)
        uid = req.route_params["user_id"]
        row = app.store.member_row(source_type, source["id"], int(uid)) if uid.isdigit() else None
        if not row:
            raise errors.record_not_found()
        return ok(entities.member(req, app.store, row))
    return handler


def _validate_level(app, req, source_type, source, user_id: int, level: int) -> None:
    if level == auth.OWNER and _level_of(app, req, source_type, source) < auth.OWNER:
        raise errors.forbidden()
    inherited, where = _inherited(app, source_type, source, user_id)
    if inherited > level:
        raise errors.validation({"access_level": [
            f"should be greater than or equal to {ROLE_TITLES.get(inherited, inherited)} inherited membership "
            f"from group {where['name']}"]})


def add_member(kind: str):
    def handler(app, req):
        source_type, source = _source(app, req, kind)
        _require_admin_members(app, req, source_type, source)
        vals = (Declared(req.params).requires("user_id", int)
                .requires("access_level", int, values=auth.VALID_LEVELS)
                .optional("expires_at", "datetime").validate())
        user = app.store.get("users", vals["user_id"])
        if not user:
            raise errors.not_found("User")
        if app.store.member_row(source_type, source["id"], user["id"]):
            raise errors.conflict("Member already exists")
        _validate_level(app, req, source_type, source, user["id"], vals["access_level"])
        expires = vals.get("expires_at")
        row = services.add_member(app.state, source_type, source["id"], user["id"], vals["access_level"],
                                  req.user["id"], expires.strftime("%Y-%m-%dT00:00:00.000Z") if expires else None)
        return created(entities.member(req, app.store, row))
    return handler


def update_member(kind: str):
    def handler(app, req):
        source_type, source = _source(app, req, kind)
        _require_admin_members(app, req, source_type, source)
        uid = req.route_params["user_id"]
        row = app.store.member_row(source_type, source["id"], int(uid)) if uid.isdigit() else None
        if not row:
            raise errors.record_not_found()
        vals = Declared(req.params).requires("access_level", int, values=auth.VALID_LEVELS).validate()
        _validate_level(app, req, source_type, source, row["user_id"], vals["access_level"])
        if row["access_level"] != vals["access_level"]:
            app.store.update("members", row["id"], access_level=vals["access_level"],
                             updated_at=fmt_time(app.clock.now()))
        return ok(entities.member(req, app.store, app.store.get("members", row["id"])))
    return handler


def remove_member(kind: str):
    def handler(app, req):
        source_type, source = _source(app, req, kind)
        _require_admin_members(app, req, source_type, source)
        uid = req.route_params["user_id"]
        row = app.store.member_row(source_type, source["id"], int(uid)) if uid.isdigit() else None
        if not row:
            raise errors.record_not_found()
        # destroy_conditionally!(member) (lib/api/members.rb)
        check_unmodified_since(req, row["updated_at"] or row["created_at"])
        app.store.run("DELETE FROM members WHERE id = ?", (row["id"],))
        return no_content()
    return handler


def register(router) -> None:
    for kind in ("projects", "groups"):
        router.api("GET", f"/{kind}/:id/members", list_members(kind, False))
        router.api("POST", f"/{kind}/:id/members", add_member(kind))
        router.api("GET", f"/{kind}/:id/members/all", list_members(kind, True))
        router.api("GET", f"/{kind}/:id/members/:user_id", get_member(kind))
        router.api("PUT", f"/{kind}/:id/members/:user_id", update_member(kind))
        router.api("DELETE", f"/{kind}/:id/members/:user_id", remove_member(kind))
