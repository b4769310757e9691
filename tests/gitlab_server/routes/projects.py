"""Projects: list, get, create, delete."""

from __future__ import annotations

import re

from .. import auth, entities, errors, services
from ..app import created, ok
from ..conditional import check_unmodified_since
from ..pagination import paginate
from ..params import Declared, flag

VISIBILITIES = ("private", "internal", "public")
PATH_RE = re.compile(r"\A[a-zA-Z0-9_][a-zA-Z0-9_\-.]*\Z")
# Gitlab::Access.all_values (lib/gitlab/access.rb): Guest, Planner, Reporter,
# Developer, Maintainer, Owner; ``min_access_level`` is declared with
# ``type: Integer, values: Gitlab::Access.all_values`` (lib/api/projects.rb,
# lib/api/groups.rb).
ACCESS_VALUES = (10, 15, 20, 30, 40, 50)


def min_access_level(req):
    """``optional :min_access_level``: ``abc`` gives 400 "min_access_level is
    invalid, min_access_level does not have a valid value"."""
    return Declared(req.params).optional("min_access_level", int, values=ACCESS_VALUES).validate() \
        .get("min_access_level")


def order_projects(req, rows: list[dict]) -> list[dict]:
    """Default ``order_by=created_at``, ``sort=desc`` (lib/api/projects.rb);
    ties broken by id so pages never overlap."""
    order_by = req.params.get("order_by") or "created_at"
    sort = req.params.get("sort") or "desc"
    if order_by not in ("id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity"):
        raise errors.not_valid_value("order_by")
    if sort not in ("asc", "desc"):
        raise errors.not_valid_value("sort")
    column = {"updated_at": "last_activity_at", "similarity": "name"}.get(order_by, order_by)
    return sorted(rows, key=lambda p: (p[column] if column != "name" else p["name"].lower(), p["id"]),
                  reverse=sort == "desc")


def _flag(req, name: str) -> bool:
    return bool(flag(req, name))


def list_projects(app, req):
    store, user = app.store, req.user
    rows = store.all("SELECT * FROM projects")
    if not (user and user["is_admin"]):
        rows = [p for p in rows if auth.can_read_project(store, user, p)]
    if _flag(req, "membership"):
        rows = [p for p in rows if auth.project_access(store, user, p) > 0]
    if _flag(req, "owned"):
        rows = [p for p in rows if auth.project_access(store, user, p) >= auth.OWNER]
    level = min_access_level(req)
    if level is not None:
        rows = [p for p in rows if auth.project_access(store, user, p) >= level]
    if req.params.get("visibility"):
        rows = [p for p in rows if p["visibility"] == req.params["visibility"]]
    search = str(req.params.get("search") or "").lower()
    if search:
        rows = [p for p in rows if search in p["name"].lower() or search in p["path"].lower()
                or (_flag(req, "search_namespaces") and search in p["full_path"].lower())]
    page, headers = paginate(req, order_projects(req, rows))
    return ok([entities.project(req, store, p) for p in page], headers=headers)


def get_project(app, req):
    project = auth.find_project(app, req, req.route_params["id"])
    return ok(entities.project(req, app.store, project))


def _namespace_for(app, req, user, ref) -> dict | None:
    if ref is None:
        return app.store.get("namespaces", user["namespace_id"])
    ref = str(ref)
    if ref.isdigit():
        return app.store.get("namespaces", int(ref))
    return app.store.one("SELECT * FROM namespaces WHERE full_path = ?", (ref,))


def _can_create_in(app, user, ns: dict) -> bool:
    if user["is_admin"]:
        return True
    if ns["kind"] == "user":
        return ns["owner_id"] == user["id"]
    # project_creation_level defaults to "Developers + Maintainers" (application
    # setting default_project_creation = 2).
    return auth.group_access(app.store, user, ns) >= auth.DEVELOPER


def create_project(app, req):
    user = auth.authenticate(req)
    vals = (Declared(req.params).optional("name").optional("path").optional("namespace_id")
            .optional("namespace_path").optional("description").optional("visibility", values=VISIBILITIES)
            .optional("initialize_with_readme", bool, default=False).optional("default_branch")
            .validate())
    if not vals.get("name") and not vals.get("path"):
        raise errors.error(400, "name, path are missing, at least one parameter must be provided")
    name = vals.get("name") or vals["path"]
    path = vals.get("path") or services.parameterize(name)
    ns = _namespace_for(app, req, user, vals.get("namespace_id", vals.get("namespace_path")))
    if not ns or not _can_create_in(app, user, ns):
        # Projects::CreateService adds this error; the API renders it as a validation error.
        raise errors.validation({"namespace": ["is not valid"]})
    problems = {}
    if not PATH_RE.match(path) or path.endswith((".git", ".atom")):
        problems["path"] = ["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', "
                            "end in '.git' or end in '.atom'"]
    if app.store.one("SELECT 1 FROM projects WHERE namespace_id = ? AND name = ?", (ns["id"], name)):
        problems["name"] = ["has already been taken"]
    if app.store.one("SELECT 1 FROM projects WHERE full_path = ?", (f"{ns['full_path']}/{path}",)) or \
            app.store.one("SELECT 1 FROM namespaces WHERE full_path = ?", (f"{ns['full_path']}/{path}",)):
        problems.setdefault("path", []).append("has already been taken")
    if problems:
        raise errors.validation(problems)
    project = services.create_project(
        app.state, user, ns, name, path, vals.get("visibility") or "private",
        vals.get("default_branch") or "main", vals["initialize_with_readme"], vals.get("description", ""))
    return created(entities.project(req, app.store, project))


def delete_project(app, req):
    auth.authenticate(req)
    project = auth.find_project(app, req, req.route_params["id"])
    auth.require_project_level(app, req, project, auth.OWNER)   # remove_project
    # delete_project: destroy_conditionally!(user_project) (lib/api/projects.rb)
    check_unmodified_since(req, project["updated_at"] or project["created_at"])
    services.delete_project(app.state, project)
    return ok({"message": "202 Accepted"}, status=202)


def register(router) -> None:
    router.api("GET", "/projects", list_projects)
    router.api("POST", "/projects", create_project)
    router.api("GET", "/projects/:id", get_project)
    router.api("DELETE", "/projects/:id", delete_project)
