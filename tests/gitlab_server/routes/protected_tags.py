"""Protected tags: lib/api/protected_tags.rb (doc/api/protected_tags.md).

No ``authenticate!``; every route needs the Maintainer-level
``manage_protected_tags`` abilities (app/policies/project_policy.rb), so a
Developer gets 403 and a non-member of a private project 404.  There is no
update route: PATCH/PUT on ``/protected_tags/:name`` answer 405.
"""

from __future__ import annotations

from .. import auth, entities, errors, services
from ..app import created, no_content, ok
from ..clock import fmt_time
from ..conditional import check_unmodified_since
from ..pagination import paginate
from ..params import Declared, member

# ProtectedTag::CreateAccessLevel.allowed_access_levels on a self-managed
# instance: No one, Developers + Maintainers, Maintainers, Instance admins.
CREATE_LEVELS = (0, 30, 40, 60)
# The members of ``allowed_to_create``: ``optional :allowed_to_create, type:
# Array[JSON]`` with ``optional :access_level, type: Integer, values:
# ProtectedTag::CreateAccessLevel.allowed_access_levels``, ``:user_id``,
# ``:group_id``, ``:deploy_key_id`` (all ``type: Integer``) in
# ee/lib/ee/api/helpers/protected_tags_helpers.rb (CE declares only
# ``deploy_key_id``: lib/api/helpers/protected_tags_helpers.rb).  Grape
# validates them before the endpoint runs and names them
# ``allowed_to_create[access_level]`` (no index for ``Array[JSON]``).
ALLOWED_TO_CREATE = (member("access_level", int, values=CREATE_LEVELS), member("user_id", int),
                     member("group_id", int), member("deploy_key_id", int))


def _project(app, req) -> dict:
    project = auth.find_project(app, req, req.route_params["id"])
    auth.require_project_level(app, req, project, auth.MAINTAINER)
    return project


def render(app, tag: dict) -> dict:
    levels = []
    for lv in app.store.all("SELECT * FROM protected_tag_create_access_levels WHERE protected_tag_id = ? "
                            "ORDER BY id", (tag["id"],)):
        if lv["deploy_key_id"] is not None:
            key = app.store.get("keys", lv["deploy_key_id"])
            description = key["title"] if key else "Deploy key"
        elif lv["user_id"] is not None:
            user = app.store.get("users", lv["user_id"])
            description = user["name"] if user else "User"
        elif lv["group_id"] is not None:
            group = app.store.get("namespaces", lv["group_id"])
            description = group["name"] if group else "Group"
        else:
            description = entities.ACCESS_LEVEL_DESCRIPTIONS.get(lv["access_level"], str(lv["access_level"]))
        # deploy_key_id is exposed (null on role rows) as
        # spec/requests/api/protected_tags_spec.rb expects; user_id/group_id
        # as EE exposes them (ee/lib/ee/api/entities/protected_ref_access.rb).
        levels.append({"id": lv["id"], "access_level": lv["access_level"],
                       "access_level_description": description, "deploy_key_id": lv["deploy_key_id"],
                       "user_id": lv["user_id"], "group_id": lv["group_id"]})
    return {"name": tag["name"], "create_access_levels": levels}


def list_tags(app, req):
    req.page_values = Declared(req.params).pagination().validate()
    project = _project(app, req)
    rows = app.store.all("SELECT * FROM protected_tags WHERE project_id = ? ORDER BY id", (project["id"],))
    page, headers = paginate(req, rows)
    return ok([render(app, t) for t in page], headers=headers)


def _find(app, project, name: str) -> dict:
    row = app.store.one("SELECT * FROM protected_tags WHERE project_id = ? AND name = ?", (project["id"], name))
    if not row:
        raise errors.record_not_found()            # find_by! -> "404 Not found"
    return row


def get_tag(app, req):
    project = _project(app, req)
    return ok(render(app, _find(app, project, req.route_params["name"])))


def _entries(app, project, entries: list[dict]) -> tuple[list[dict], list[str]]:
    """Resolve the (already Grape-validated) ``allowed_to_create`` entries
    into access-level rows and the model's full error messages (422).  The
    wording follows the validations of ProtectedRefDeployKeyAccess and
    ProtectedRefAccess (app/models/concerns/protected_ref_deploy_key_access.rb,
    protected_ref_access.rb) as ``errors.full_messages`` renders nested
    attributes; the exact sentences are derived from those validations, not
    copied from a GitLab spec."""
    rows, problems = [], []
    store = app.store
    for entry in entries:
        if entry.get("deploy_key_id") is not None:
            key_id = entry["deploy_key_id"]
            key = store.one("SELECT * FROM keys WHERE id = ? AND type = 'DeployKey'", (key_id,))
            if not key:
                problems.append("Create access levels deploy key can't be blank")
                continue
            link = store.one("SELECT can_push FROM deploy_keys_projects WHERE deploy_key_id = ? "
                             "AND project_id = ?", (key_id, project["id"]))
            if not link or not link["can_push"]:
                problems.append("Create access levels deploy key is not enabled for this project")
                continue
            owner = store.get("users", key["user_id"]) if key["user_id"] else None
            if not owner or auth.project_access(store, owner, project) < auth.GUEST:
                problems.append("Create access levels deploy key owner is not a project member")
                continue
            if any(r.get("deploy_key_id") == key_id for r in rows):
                problems.append("Create access levels deploy key has already been taken")
                continue
            rows.append({"deploy_key_id": key_id, "access_level": auth.MAINTAINER})
        elif entry.get("user_id") is not None:
            user_id = entry["user_id"]
            user = store.get("users", user_id)
            if not user:
                problems.append("Create access levels user can't be blank")
            elif auth.project_access(store, user, project) < auth.GUEST:
                problems.append("Create access levels user is not a member of the project")
            else:
                rows.append({"user_id": user_id, "access_level": auth.MAINTAINER})
        elif entry.get("group_id") is not None:
            group_id = entry["group_id"]
            if not store.one("SELECT 1 FROM namespaces WHERE id = ? AND kind = 'group'", (group_id,)):
                problems.append("Create access levels group can't be blank")
            else:
                rows.append({"group_id": group_id, "access_level": auth.MAINTAINER})
        elif entry.get("access_level") is not None:
            rows.append({"access_level": entry["access_level"]})
    return rows, problems


def protect(app, req):
    vals = (Declared(req.params).requires("name").optional("create_access_level", int, values=CREATE_LEVELS)
            .optional("allowed_to_create", "json_array", members=ALLOWED_TO_CREATE).validate())
    project = _project(app, req)
    entries = vals.get("allowed_to_create") or []
    rows, problems = _entries(app, project, entries)
    # ProtectedRefs::AccessLevelParams: the role row comes first, then the
    # entries (app/services/protected_refs/access_level_params.rb). This
    # server accepts user_id/group_id entries, i.e. it behaves as EE, whose
    # override `use_default_access_level?` is `allowed_to_create.blank?`: the
    # default 40 is added only when no entry of any kind was given
    # (ee/app/services/ee/protected_refs/access_level_params.rb); a nil
    # create_access_level gets the default too (``||=``).
    level = vals.get("create_access_level")
    if level is None and not entries:
        level = auth.MAINTAINER
    levels = ([{"access_level": level}] if level is not None else []) + rows
    name = vals["name"]
    if not name.strip():
        problems.insert(0, "Name can't be blank")
    if app.store.one("SELECT 1 FROM protected_tags WHERE project_id = ? AND name = ?", (project["id"], name)):
        problems.insert(0, "Name has already been taken")
    if problems:
        raise errors.message(422, problems)
    now = fmt_time(app.clock.now())
    tag_id = app.store.insert("protected_tags", project_id=project["id"], name=name, created_at=now, updated_at=now)
    for lv in levels:
        app.store.insert("protected_tag_create_access_levels", protected_tag_id=tag_id, created_at=now,
                         access_level=lv.get("access_level", auth.MAINTAINER), user_id=lv.get("user_id"),
                         group_id=lv.get("group_id"), deploy_key_id=lv.get("deploy_key_id"))
    services.touch_project(app.state, project["id"])
    return created(render(app, app.store.get("protected_tags", tag_id)))


def unprotect(app, req):
    project = _project(app, req)
    tag = _find(app, project, req.route_params["name"])
    check_unmodified_since(req, tag["updated_at"])     # destroy_conditionally!(protected_tag)
    app.store.run("DELETE FROM protected_tag_create_access_levels WHERE protected_tag_id = ?", (tag["id"],))
    app.store.run("DELETE FROM protected_tags WHERE id = ?", (tag["id"],))
    services.touch_project(app.state, project["id"])
    return no_content()


def register(router) -> None:
    router.api("GET", "/projects/:id/protected_tags", list_tags)
    router.api("POST", "/projects/:id/protected_tags", protect)
    router.api("GET", "/projects/:id/protected_tags/:name", get_tag)
    router.api("DELETE", "/projects/:id/protected_tags/:name", unprotect)
