"""Repository tags (lib/api/tags.rb, doc/api/tags.md) and branches
(lib/api/branches.rb), read from and written to the project's bare
repository."""

from __future__ import annotations

import re

from .. import auth, errors, protection
from ..app import created, no_content, ok
from ..conditional import check_unmodified_since
from ..pagination import paginate
from ..params import Declared


def _project(app, req) -> dict:
    """``authorize_read_code!``; then 404 if the repository does not exist."""
    project = auth.find_project(app, req, req.route_params["id"])
    if not auth.can_read_code(app.store, req.user, project):
        raise errors.forbidden()
    return project


def _web_commit(req, project, commit: dict | None) -> dict | None:
    if commit is None:
        return None
    out = dict(commit)
    out["web_url"] = f"{req.base_url}/{project['full_path']}/-/commit/{commit['id']}"
    return out


def _tag_entity(app, req, project, ref: dict) -> dict:
    return {"name": ref["name"], "message": ref["message"], "target": ref["target"],
            "commit": _web_commit(req, project, ref["commit"]), "release": None,
            "protected": protection.is_protected(app.store, project["id"], ref["name"]),
            "created_at": ref["created_at"]}


def _version_key(name: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name) if p]


def list_tags(app, req):
    project = _project(app, req)
    vals = (Declared(req.params).optional("order_by", values=("name", "updated", "version"), default="updated")
            .optional("sort", values=("asc", "desc"), default="desc").optional("search").validate())
    refs = app.repos.refs(project["disk_path"], "tags")
    search = vals.get("search")
    if search:
        if search.startswith("^"):
            refs = [r for r in refs if r["name"].startswith(search[1:])]
        elif search.endswith("$"):
            refs = [r for r in refs if r["name"].endswith(search[:-1])]
        else:
            refs = [r for r in refs if search in r["name"]]
    key = {"name": lambda r: r["name"], "version": lambda r: _version_key(r["name"]),
           "updated": lambda r: ((r["commit"] or {}).get("committed_date") or "", r["name"])}[vals["order_by"]]
    refs.sort(key=key, reverse=vals["sort"] == "desc")
    page, headers = paginate(req, refs)
    return ok([_tag_entity(app, req, project, r) for r in page], headers=headers)


def _find_ref(app, project, kind: str, name: str) -> dict | None:
    for ref in app.repos.refs(project["disk_path"], kind):
        if ref["name"] == name:
            return ref
    return None


def get_tag(app, req):
    project = _project(app, req)
    ref = _find_ref(app, project, "tags", req.route_params["tag_name"])
    if not ref:
        raise errors.not_found("Tag")
    return ok(_tag_entity(app, req, project, ref))


def create_tag(app, req):
    project = _project(app, req)
    auth.require_project_level(app, req, project, auth.DEVELOPER)   # admin_tag (push_code)
    vals = Declared(req.params).requires("tag_name").requires("ref").optional("message").validate()
    name, target, msg = vals["tag_name"], vals["ref"], (vals.get("message") or "").strip()
    repos, path = app.repos, project["disk_path"]
    # Tags::CreateService; every service error is a 400 {"message": ...}.
    if not repos.valid_ref_name("tags", name):
        raise errors.bad_request("Tag name invalid")
    if not target:
        raise errors.bad_request("Target is empty")
    sha = repos.resolve_commit(path, target)
    if not sha:
        raise errors.bad_request(f"Target {target} is invalid")
    if repos.ref_exists(path, f"refs/tags/{name}"):
        raise errors.bad_request(f"Tag {name} already exists")
    # Pre-receive (Gitlab::Checks::TagCheck) runs through Gitaly's hooks.
    violation = protection.tag_create_violation(app.store, req.user, project, name)
    if violation:
        raise errors.bad_request(violation)
    user = req.user
    repos.create_tag(path, name, sha, msg or None, (user["name"], user["email"] or "noreply@example.com"),
                     app.clock.now())
    return created(_tag_entity(app, req, project, _find_ref(app, project, "tags", name)))


def delete_tag(app, req):
    """lib/api/tags.rb: find the tag (404), ``authorize!(:delete_tag, tag)``
    (403), then ``destroy_conditionally!(commit, last_updated:
    commit.authored_date)`` (412 for an older If-Unmodified-Since)."""
    project = _project(app, req)
    name = req.route_params["tag_name"]
    ref = _find_ref(app, project, "tags", name)
    if not ref:
        raise errors.not_found("Tag")
    # delete_tag = admin_tag & (!protected | maintainer_access)
    # (app/policies/gitlab/git/tag_policy.rb)
    auth.require_project_level(app, req, project, auth.DEVELOPER)
    if protection.is_protected(app.store, project["id"], name):
        auth.require_project_level(app, req, project, auth.MAINTAINER)
    check_unmodified_since(req, (ref["commit"] or {}).get("authored_date"))
    app.repos.delete_ref(project["disk_path"], f"refs/tags/{name}")
    return no_content()


# --- branches ---------------------------------------------------------------

def _branch_entity(app, req, project, ref: dict) -> dict:
    level = auth.project_level(app.store, req.user, project)
    default = ref["name"] == project["default_branch"]
    # The instance default (default_branch_protection) protects the default
    # branch; protected branches are not otherwise modelled here (INFERRED).
    return {"name": ref["name"], "commit": _web_commit(req, project, ref["commit"]), "merged": False,
            "protected": default, "developers_can_push": False, "developers_can_merge": False,
            "can_push": level >= (auth.MAINTAINER if default else auth.DEVELOPER), "default": default,
            "web_url": f"{req.base_url}/{project['full_path']}/-/tree/{ref['name']}"}


def list_branches(app, req):
    project = _project(app, req)
    refs = sorted(app.repos.refs(project["disk_path"], "heads"), key=lambda r: r["name"])
    search = req.params.get("search")
    if search:
        refs = [r for r in refs if str(search) in r["name"]]
    page, headers = paginate(req, refs)
    return ok([_branch_entity(app, req, project, r) for r in page], headers=headers)


def get_branch(app, req):
    project = _project(app, req)
    ref = _find_ref(app, project, "heads", req.route_params["branch"])
    if not ref:
        raise errors.not_found("Branch")
    return ok(_branch_entity(app, req, project, ref))


def create_branch(app, req):
    project = _project(app, req)
    auth.require_project_level(app, req, project, auth.DEVELOPER)
    vals = Declared(req.params).requires("branch").requires("ref").validate()
    repos, path = app.repos, project["disk_path"]
    if not repos.valid_ref_name("heads", vals["branch"]):
        raise errors.bad_request("Branch name is invalid")
    sha = repos.resolve_commit(path, vals["ref"])
    if not sha:
        raise errors.bad_request("Invalid reference name: " + vals["ref"])
    if repos.ref_exists(path, f"refs/heads/{vals['branch']}"):
        raise errors.bad_request("Branch already exists")
    repos.create_branch(path, vals["branch"], sha)
    return created(_branch_entity(app, req, project, _find_ref(app, project, "heads", vals["branch"])))


def register(router) -> None:
    router.api("GET", "/projects/:id/repository/tags", list_tags)
    router.api("POST", "/projects/:id/repository/tags", create_tag)
    router.api("GET", "/projects/:id/repository/tags/:tag_name", get_tag)
    router.api("DELETE", "/projects/:id/repository/tags/:tag_name", delete_tag)
    router.api("GET", "/projects/:id/repository/branches", list_branches)
    router.api("POST", "/projects/:id/repository/branches", create_branch)
    router.api("GET", "/projects/:id/repository/branches/:branch", get_branch)
