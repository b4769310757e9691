"""Groups: list, get, create, subgroups, the group's projects."""

from __future__ import annotations

import re

from .. import auth, entities, errors, services
from ..app import created, ok
from ..pagination import paginate
from ..params import Declared, flag
from .projects import min_access_level, order_projects

VISIBILITIES = ("private", "internal", "public")
PATH_RE = re.compile(r"\A[a-zA-Z0-9_.][a-zA-Z0-9_\-.]*\Z")


def _flag(req, name: str) -> bool:
    return bool(flag(req, name))


def _visible_groups(app, req) -> list[dict]:
    rows = app.store.all("SELECT * FROM namespaces WHERE kind = 'group'")
    user = req.user
    if user and user["is_admin"]:
        return rows
    return [g for g in rows if auth.can_read_group(app.store, user, g)]


def _sorted(req, rows: list[dict]) -> list[dict]:
    order_by = req.params.get("order_by") or "name"     # GitLab default: name asc
    sort = req.params.get("sort") or "asc"
    if order_by not in ("name", "path", "id", "similarity"):
        raise errors.not_valid_value("order_by")
    if sort not in ("asc", "desc"):
        raise errors.not_valid_value("sort")
    key = {"name": lambda g: (g["name"].lower(), g["id"]), "path": lambda g: (g["path"], g["id"]),
           "id": lambda g: g["id"], "similarity": lambda g: (g["name"].lower(), g["id"])}[order_by]
    return sorted(rows, key=key, reverse=sort == "desc")


def list_groups(app, req):
    rows = _visible_groups(app, req)
    user = req.user
    if user and not user["is_admin"] and not _flag(req, "all_available"):
        # Non-admins see the groups they belong to by default (all_available=false).
        rows = [g for g in rows if auth.group_access(app.store, user, g) > 0]
    if _flag(req, "owned"):
        rows = [g for g in rows if auth.group_access(app.store, user, g) >= auth.OWNER]
    level = min_access_level(req)
    if level is not None:
        rows = [g for g in rows if auth.group_access(app.store, user, g) >= level]
    if _flag(req, "top_level_only"):
        rows = [g for g in rows if g["parent_id"] is None]
    search = str(req.params.get("search") or "").lower()
    if search:
        rows = [g for g in rows if search in g["name"].lower() or search in g["path"].lower()]
    page, headers = paginate(req, _sorted(req, rows))
    return ok([entities.group(req, app.store, g) for g in page], headers=headers)


def get_group(app, req):
    group = auth.find_group(app, req, req.route_params["id"])
    return ok(entities.group(req, app.store, group))


def list_subgroups(app, req):
    group = auth.find_group(app, req, req.route_params["id"])
    rows = app.store.all("SELECT * FROM namespaces WHERE kind = 'group' AND parent_id = ?", (group["id"],))
    user = req.user
    rows = [g for g in rows if (user and user["is_admin"]) or auth.can_read_group(app.store, user, g)]
    page, headers = paginate(req, _sorted(req, rows))
    return ok([entities.group(req, app.store, g) for g in page], headers=headers)


def create_group(app, req):
    user = auth.authenticate(req)
    vals = (Declared(req.params).requires("name").requires("path").optional("parent_id", int)
            .optional("visibility", values=VISIBILITIES).optional("description").validate())
    parent = None
    if vals.get("parent_id") is not None:
        parent = auth.find_group(app, req, str(vals["parent_id"]))
        # subgroup_creation_level defaults to Maintainer.
        auth.require_group_level(app, req, parent, auth.MAINTAINER)
    problems = {}
    if not vals["name"].strip():
        problems["name"] = ["can't be blank"]
    if not PATH_RE.match(vals["path"]) or vals["path"].endswith((".git", ".atom", ".")):
        problems["path"] = ["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', "
                            "end in '.', '.git' or '.atom'."]
    full_path = f"{parent['full_path']}/{vals['path']}" if parent else vals["path"]
    if app.store.one("SELECT 1 FROM namespaces WHERE full_path = ?", (full_path,)):
        problems.setdefault("path", []).append("has already been taken")
    if problems:
        # lib/api/groups.rb: render_api_error!("Failed to save group #{group.errors.messages}", 400)
        inspect = ", ".join(f":{k}=>[{', '.join(chr(34) + m + chr(34) for m in v)}]" for k, v in problems.items())
        raise errors.bad_request(f"Failed to save group {{{inspect}}}")
    group = services.create_group(app.state, vals["name"], vals["path"], parent,
                                  vals.get("visibility") or "private", user, vals.get("description", ""))
    return created(entities.group(req, app.store, group))


def group_projects(app, req):
    group = auth.find_group(app, req, req.route_params["id"])
    if _flag(req, "include_subgroups"):
        rows = app.store.all("SELECT * FROM projects WHERE full_path LIKE ? || '/%'", (group["full_path"],))
    else:
        rows = app.store.all("SELECT * FROM projects WHERE namespace_id = ?", (group["id"],))
    rows = [p for p in rows if auth.can_read_project(app.store, req.user, p)]
    page, headers = paginate(req, order_projects(req, rows))
    return ok([entities.project(req, app.store, p) for p in page], headers=headers)


def register(router) -> None:
    router.api("GET", "/groups", list_groups)
    router.api("POST", "/groups", create_group)
    router.api("GET", "/groups/:id", get_group)
    router.api("GET", "/groups/:id/subgroups", list_subgroups)
    router.api("GET", "/groups/:id/projects", group_projects)
