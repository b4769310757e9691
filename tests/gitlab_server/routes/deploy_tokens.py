"""Deploy tokens (spec §3): lib/api/deploy_tokens.rb.

These endpoints have no ``authenticate!``: an anonymous caller is stopped by
project/group visibility (404) or by the ability check (403).
"""

from __future__ import annotations

import json
import re

from .. import auth, entities, errors
from ..app import created, no_content, ok
from ..clock import fmt_time
from ..pagination import paginate
from ..params import Declared, coerce_bool
from ..services import random_token

SCOPES = ("read_repository", "read_registry", "write_registry", "read_package_registry",
          "write_package_registry", "read_virtual_registry", "write_virtual_registry")
USERNAME_RE = re.compile(r"\A[a-zA-Z0-9.+_-]+\Z")


def _scope(app, req, kind: str):
    if kind == "projects":
        project = auth.find_project(app, req, req.route_params["id"])
        return "project_id", project, lambda level: auth.require_project_level(app, req, project, level)
    group = auth.find_group(app, req, req.route_params["id"])
    return "group_id", group, lambda level: auth.require_group_level(app, req, group, level)


def _active_filter(app, req, rows: list[dict]) -> list[dict]:
    value = req.params.get("active")
    if value in (None, ""):
        return rows
    try:
        active = coerce_bool(value)
    except ValueError:
        raise errors.invalid("active") from None
    today = app.clock.today()

    def is_active(t):
        expired = t["expires_at"] is not None and t["expires_at"][:10] < today.isoformat()
        return not t["revoked"] and not expired

    return [t for t in rows if is_active(t) == active]


def _render(app, rows):
    today = app.clock.today()
    return [entities.deploy_token(t, today) for t in rows]


def list_all(app, req):
    auth.authenticated_admin(req)
    rows = _active_filter(app, req, app.store.all("SELECT * FROM deploy_tokens ORDER BY id"))
    page, headers = paginate(req, rows)
    return ok(_render(app, page), headers=headers)


def list_tokens(kind: str):
    def handler(app, req):
        column, owner, require = _scope(app, req, kind)
        require(auth.MAINTAINER)                           # read_deploy_token
        rows = app.store.all(f"SELECT * FROM deploy_tokens WHERE {column} = ? ORDER BY id", (owner["id"],))  # noqa: S608
        page, headers = paginate(req, _active_filter(app, req, rows))
        return ok(_render(app, page), headers=headers)
    return handler


def _find_token(app, req, column: str, owner: dict) -> dict:
    raw = req.route_params["token_id"]
    if not raw.isdigit():
        raise errors.invalid("token_id")
    row = app.store.one(f"SELECT * FROM deploy_tokens WHERE id = ? AND {column} = ?", (int(raw), owner["id"]))  # noqa: S608
    if not row:
        raise errors.record_not_found()                   # find(...) -> 404 Not found
    return row


def get_token(kind: str):
    def handler(app, req):
        column, owner, require = _scope(app, req, kind)
        require(auth.MAINTAINER)
        return ok(entities.deploy_token(_find_token(app, req, column, owner), app.clock.today()))
    return handler


def create_token(kind: str):
    def handler(app, req):
        column, owner, require = _scope(app, req, kind)
        # Project: Maintainer (create_deploy_token); group: Owner.
        require(auth.MAINTAINER if kind == "projects" else auth.OWNER)
        vals = (Declared(req.params).requires("name").requires("scopes", "comma_array", values=SCOPES)
                .optional("expires_at", "datetime").optional("username").validate())
        problems = []
        if not vals["name"].strip():
            problems.append("Name can't be blank")
        if not vals["scopes"]:
            problems.append("Scopes can't be blank")
        username = vals.get("username")
        if username:
            if len(username) > 255:
                problems.append("Username is too long (maximum is 255 characters)")
            elif not USERNAME_RE.match(username):
                problems.append("Username can contain only letters, digits, '_', '-', '+', and '.'")
        if problems:
            # create_deploy_token_payload_for: message is a *string* (spec §3.2).
            raise errors.bad_request(errors.to_sentence(problems))
        expires = vals.get("expires_at")
        token_id = app.store.insert(
            "deploy_tokens", name=vals["name"], username=username or None, token=random_token("gldt-"),
            scopes=json.dumps(vals["scopes"]), expires_at=fmt_time(expires), created_at=fmt_time(app.clock.now()),
            creator_id=req.user["id"], **{column: owner["id"]})
        if not username:
            # The default username uses the token's own id (spec §3.1).
            app.store.update("deploy_tokens", token_id, username=f"gitlab+deploy-token-{token_id}")
        row = app.store.get("deploy_tokens", token_id)
        return created(entities.deploy_token(row, app.clock.today(), with_token=True))
    return handler


def delete_token(kind: str):
    def handler(app, req):
        column, owner, require = _scope(app, req, kind)
        require(auth.MAINTAINER if kind == "projects" else auth.OWNER)
        row = _find_token(app, req, column, owner)
        app.store.run("DELETE FROM deploy_tokens WHERE id = ?", (row["id"],))
        return no_content()
    return handler


def register(router) -> None:
    router.api("GET", "/deploy_tokens", list_all)
    for kind in ("projects", "groups"):
        router.api("GET", f"/{kind}/:id/deploy_tokens", list_tokens(kind))
        router.api("POST", f"/{kind}/:id/deploy_tokens", create_token(kind))
        router.api("GET", f"/{kind}/:id/deploy_tokens/:token_id", get_token(kind))
        router.api("DELETE", f"/{kind}/:id/deploy_tokens/:token_id", delete_token(kind))
