"""Deploy tokens: lib/api/deploy_tokens.rb (doc/api/deploy_tokens.md).

These endpoints have no ``authenticate!`` and no ``before`` filter: Grape
validates the parameters first (400), then the endpoint finds the project or
group (404) and checks the ability (403).  An anonymous caller is stopped by
project/group visibility (404) or by the ability check (403).
"""

from __future__ import annotations

import json
import re

from .. import auth, entities, errors
from ..app import created, no_content, ok
from ..clock import fmt_time
from ..pagination import paginate
from ..params import Declared
from ..services import random_token
from .jwt_auth import deploy_token_active

# DeployToken::AVAILABLE_SCOPES, in GitLab's order (app/models/deploy_token.rb).
SCOPES = entities.DEPLOY_TOKEN_SCOPES
USERNAME_RE = re.compile(r"\A[a-zA-Z0-9.+_-]+\Z")


def _scope(app, req, kind: str):
    if kind == "projects":
        project = auth.find_project(app, req, req.route_params["id"])
        return "project_id", project, lambda level: auth.require_project_level(app, req, project, level)
    group = auth.find_group(app, req, req.route_params["id"])
    return "group_id", group, lambda level: auth.require_group_level(app, req, group, level)


def _list_params(req) -> dict:
    """``use :pagination; use :filter_params`` (``optional :active, type: Boolean``)."""
    vals = Declared(req.params).pagination().optional("active", bool).validate()
    req.page_values = vals
    return vals


def _active_filter(app, vals: dict, rows: list[dict]) -> list[dict]:
    """``DeployTokens::TokensFinder#by_active`` (app/finders/deploy_tokens/tokens_finder.rb):
    ``params[:active] ? items.active : items``, so ``active=false`` is no
    filter at all, and ``active=true`` is the ``DeployToken.active`` scope,
    ``expires_at >= NOW()`` on the timestamp (a token that expires today at
    midnight is no longer active, although its ``expired`` is still false)."""
    if not vals.get("active"):
        return rows
    return [t for t in rows if deploy_token_active(app, t)]


def _render(app, rows):
    today = app.clock.today()
    return [entities.deploy_token(t, today) for t in rows]


def list_all(app, req):
    vals = _list_params(req)
    auth.authenticated_admin(req)
    rows = _active_filter(app, vals, app.store.all("SELECT * FROM deploy_tokens ORDER BY id"))
    page, headers = paginate(req, rows)
    return ok(_render(app, page), headers=headers)


def list_tokens(kind: str):
    def handler(app, req):
        vals = _list_params(req)
        column, owner, require = _scope(app, req, kind)
        require(auth.MAINTAINER)                           # read_deploy_token
        rows = app.store.all(f"SELECT * FROM deploy_tokens WHERE {column} = ? ORDER BY id", (owner["id"],))  # noqa: S608
        page, headers = paginate(req, _active_filter(app, vals, rows))
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
        vals = (Declared(req.params).requires("name").requires("scopes", "comma_array", values=SCOPES)
                .optional("expires_at", "datetime").optional("username").validate())
        column, owner, require = _scope(app, req, kind)
        # Project: Maintainer (create_deploy_token); group: Owner.
        require(auth.MAINTAINER if kind == "projects" else auth.OWNER)
        # scope_params turns the list into one boolean column per scope and
        # DeployToken#scopes reads them back in AVAILABLE_SCOPES order, so the
        # answer has GitLab's order and no duplicates.
        scopes = [scope for scope in SCOPES if scope in vals["scopes"]]
        # The model's validations in their order (app/models/deploy_token.rb):
        # ensure_at_least_one_scope, username (length, format), name (length
        # only: there is no presence check, an empty name is accepted).
        problems = []
        if not scopes:
            problems.append("Scopes can't be blank")
        username = vals.get("username") or None            # params[:username].presence
        if username is not None:
            if len(username) > 255:
                problems.append("Username is too long (maximum is 255 characters)")
            if not USERNAME_RE.match(username):
                problems.append("Username can contain only letters, digits, '_', '-', '+', and '.'")
        if len(vals["name"]) > 255:
            problems.append("Name is too long (maximum is 255 characters)")
        if problems:
            # DeployTokenMethods#create_deploy_token_payload_for
            # (app/services/concerns/deploy_token_methods.rb):
            # errors.full_messages.to_sentence, a *string* message.
            raise errors.bad_request(errors.to_sentence(problems))
        expires = vals.get("expires_at")                    # nil (also for "") -> "Forever" -> null
        token_id = app.store.insert(
            "deploy_tokens", name=vals["name"], username=username, token=random_token("gldt-"),
            scopes=json.dumps(scopes), expires_at=fmt_time(expires), created_at=fmt_time(app.clock.now()),
            creator_id=req.user["id"], **{column: owner["id"]})
        if not username:
            # DeployToken#default_username: "gitlab+deploy-token-#{id}", the token's own id.
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
        # no_content!, not destroy_conditionally!: If-Unmodified-Since is ignored.
        return no_content()
    return handler


def register(router) -> None:
    router.api("GET", "/deploy_tokens", list_all)
    for kind in ("projects", "groups"):
        router.api("GET", f"/{kind}/:id/deploy_tokens", list_tokens(kind))
        router.api("POST", f"/{kind}/:id/deploy_tokens", create_token(kind))
        router.api("GET", f"/{kind}/:id/deploy_tokens/:token_id", get_token(kind))
        router.api("DELETE", f"/{kind}/:id/deploy_tokens/:token_id", delete_token(kind))
