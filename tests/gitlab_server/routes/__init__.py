"""Route modules; each has ``register(router)``."""

from __future__ import annotations

from ..app import Router
from . import deploy_keys, deploy_tokens, groups, internal, members, meta, projects, protected_tags, tags, users
from . import git_http, jwt_auth, packages

MODULES = (meta, users, groups, projects, members, deploy_keys, deploy_tokens, protected_tags, tags, internal, jwt_auth,
           git_http, packages)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        module.register(router)
    return router
