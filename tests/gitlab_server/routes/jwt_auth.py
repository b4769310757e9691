"""Container registry token service: ``GET /jwt/auth``.

app/controllers/jwt_controller.rb and
app/services/auth/container_registry_authentication_service.rb.  Docker
distribution (``auth.token`` in its config) sends clients here; they come
back with a short-lived RS256 JWT whose ``access`` claim lists what they may
do with which repository.

Credentials are HTTP Basic: a deploy token (``<username>:<token>``,
lib/gitlab/auth.rb ``deploy_token_check``) or a user's personal access token as password
(any username).  No Basic auth: anonymous (public projects, pull only).

The signing key comes from ``--registry-key PEM`` (``state.registry_key``);
without it the registry counts as disabled (404 ``UNAVAILABLE``).  The
registry trusts it through ``rootcertbundle``: a certificate for the same key
(tests/support/endpoints.py --registry makes both at start).  The JWT header carries
``kid``, the libtrust fingerprint of the public key, which is how
distribution picks the key from that bundle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
import uuid

from .. import auth
from ..app import Response
from ..clock import parse_time, stored_date

SERVICE = "container_registry"
ISSUER = "gitlab-issuer"            # gitlab.yml registry.issuer default
EXPIRE_MINUTES = 5                  # container_registry_token_expire_delay
DENIED = {"errors": [{"code": "DENIED", "message": "access forbidden"}]}
UNAUTHORIZED_MESSAGE = ("HTTP Basic: Access denied. If a password was provided for Git authentication, the password "
                        "was incorrect or you're required to use a token instead of a password. If a token was "
                        "provided, it was either incorrect, expired, or improperly scoped. See "
                        "http://localhost/help/user/profile/account/two_factor_authentication_troubleshooting.md"
                        "#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-")
REGISTRY_DISABLED = {"errors": [{"code": "UNAVAILABLE", "message": "registry not enabled"}]}


# --- who is calling (shared with git smart HTTP) ------------------------------

class Caller:
    """Who authenticated with HTTP Basic: a deploy token or a user (PAT)."""

    def __init__(self, deploy_token: dict | None = None, user: dict | None = None) -> None:
        self.deploy_token = deploy_token
        self.user = user

    @property
    def anonymous(self) -> bool:
        return self.deploy_token is None and self.user is None

    def scopes(self) -> set[str]:
        return set(json.loads(self.deploy_token["scopes"])) if self.deploy_token else set()


def basic_credentials(req) -> tuple[str, str] | None:
    header = req.headers.get("Authorization") or ""
    if header[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error):
        return None
    login, sep, password = raw.partition(":")
    return (login, password) if sep else None


def deploy_token_active(app, token: dict) -> bool:
    """``DeployToken.active`` (app/models/deploy_token.rb): ``revoked = false
    AND expires_at >= NOW()``, a comparison of timestamps, not dates; no
    stored expiry is the "Forever" date, i.e. active."""
    if token["revoked"]:
        return False
    expires = parse_time(token["expires_at"]) if token["expires_at"] else None
    return expires is None or expires >= app.clock.now()


def basic_caller(app, req) -> Caller | None:
    """``Gitlab::Auth.find_for_git_client`` for the two credential kinds we
    model.  Returns ``Caller()`` (anonymous) without Basic auth and ``None``
    for credentials that match nothing (the caller answers 401)."""
    creds = basic_credentials(req)
    if creds is None:
        return Caller()
    login, password = creds
    if not password:
        return None
    token = app.store.one("SELECT * FROM deploy_tokens WHERE token = ?", (password,))
    if token is not None:
        # deploy_token_check: active, and the login must be the token's username exactly.
        if not deploy_token_active(app, token) or token["username"] != login:
            return None
        return Caller(deploy_token=token)
    found = app.store.user_by_token(password)
    if not found:
        return None
    user, pat = found
    expires = stored_date(pat["expires_at"])
    if pat["revoked"] or (expires is not None and expires <= app.clock.today()) or user["state"] != "active":
        return None
    return Caller(user=user)


def deploy_token_has_access(app, token: dict, project: dict) -> bool:
    """``DeployToken#has_access_to?``: its own project, or any project below its group."""
    if token["project_id"] is not None:
        return token["project_id"] == project["id"]
    if token["group_id"] is not None:
        return any(ns["id"] == token["group_id"] for ns in app.store.namespace_chain(project["namespace_id"]))
    return False


# --- the registry token ----------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key) -> str:
    """docker/libtrust ``keyIDFromCryptoKey``: base32 of the first 240 bits of
    SHA-256 over the DER SubjectPublicKeyInfo, in 12 groups of 4."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def load_registry_key(path: str):
    """The RSA private key (PEM) that signs registry tokens."""
    from cryptography.hazmat.primitives import serialization

    with open(path, "rb") as fh:
        return serialization.load_pem_private_key(fh.read(), password=None)


def sign_rs256(private_key, claims: dict) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(private_key.public_key())}
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


# --- scopes and abilities ---------------------------------------------------------

SCOPE_RE = re.compile(r"\A(?P<type>[a-z]+)(?:\((?P<class>[a-z]+)\))?:(?P<name>[^:]+):(?P<actions>[a-z*,]*)\Z")


def parse_scopes(req) -> list[dict]:
    """``scope`` may repeat and each value may hold several, separated by spaces."""
    raw = req.query.get("scope")
    values = raw if isinstance(raw, list) else [raw] if raw else []
    # parse_query keeps only the last of repeated plain keys; read them again.
    repeated = [v for k, v in (p.partition("=")[::2] for p in req.query_string.split("&")) if k == "scope"]
    if len(repeated) > len(values):
        from urllib.parse import unquote_plus
        values = [unquote_plus(v) for v in repeated]
    out = []
    for value in values:
        for item in str(value).split():
            m = SCOPE_RE.match(item)
            if m:
                out.append({"type": m.group("type"), "name": m.group("name"),
                            "actions": [a for a in m.group("actions").split(",") if a]})
    return out


def repository_project(app, name: str) -> dict | None:
    """``ContainerRegistry::Path#repository_project``: the longest leading
    part of the repository path that is a project (``group/proj/image``)."""
    parts = name.split("/")
    for n in range(len(parts), 1, -1):
        project = app.store.one("SELECT * FROM projects WHERE full_path = ?", ("/".join(parts[:n]),))
        if project:
            return project
    return None


def allowed_actions(app, caller: Caller, project: dict | None, requested: list[str]) -> list[str]:
    """Keep the actions the caller may perform; others are dropped
    (app/services/auth/container_registry_authentication_service.rb
    ``process_repository_access``)."""
    if project is None:
        return []
    keep = []
    for action in requested:
        if action == "pull":
            ok = _can_pull(app, caller, project)
        elif action == "push":
            ok = _can_push(app, caller, project)
        else:                    # delete and "*" need admin_container_image: not for these callers
            ok = caller.user is not None and caller.user["is_admin"]
        if ok and action not in keep:
            keep.append(action)
    return keep


def _can_pull(app, caller: Caller, project: dict) -> bool:
    if caller.deploy_token is not None:
        return "read_registry" in caller.scopes() and deploy_token_has_access(app, caller.deploy_token, project)
    if caller.user is not None:
        return auth.project_level(app.store, caller.user, project) >= auth.REPORTER or project["visibility"] != "private"
    return project["visibility"] == "public"


def _can_push(app, caller: Caller, project: dict) -> bool:
    if caller.deploy_token is not None:
        return "write_registry" in caller.scopes() and deploy_token_has_access(app, caller.deploy_token, project)
    if caller.user is not None:
        return auth.project_level(app.store, caller.user, project) >= auth.DEVELOPER
    return False


def _root_namespace_id(app, project: dict) -> int:
    chain = app.store.namespace_chain(project["namespace_id"])
    return chain[-1]["id"] if chain else project["namespace_id"]


# --- the endpoint ------------------------------------------------------------------

def jwt_auth(app, req):
    if req.params.get("service") != SERVICE:
        return Response(404, b"", content_type="text/plain")
    key = getattr(app.state, "registry_key", None)
    if key is None:
        return Response(404, REGISTRY_DISABLED)
    caller = basic_caller(app, req)
    if caller is None:
        return Response(401, {"errors": [{"code": "UNAUTHORIZED", "message": UNAUTHORIZED_MESSAGE}]},
                        {"WWW-Authenticate": 'Basic realm="GitLab"'})
    if caller.deploy_token is not None and not caller.scopes() & {"read_registry", "write_registry"}:
        return Response(403, DENIED)
    access = []
    for scope in parse_scopes(req):
        if scope["type"] != "repository":
            continue                       # registry:catalog:* needs an admin; not modelled
        project = repository_project(app, scope["name"])
        actions = allowed_actions(app, caller, project, scope["actions"])
        entry = {"type": "repository", "name": scope["name"], "actions": actions}
        if project is not None:
            entry["meta"] = {"project_path": project["full_path"], "project_id": project["id"],
                             "root_namespace_id": _root_namespace_id(app, project)}
        access.append(entry)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": SERVICE, "iat": now, "nbf": now - 5, "exp": now + EXPIRE_MINUTES * 60,
              "jti": str(uuid.uuid4()), "access": access}
    if caller.deploy_token is not None:
        claims["auth_type"] = "deploy_token"
        user_info = {"token_type": "deploy_token", "username": caller.deploy_token["username"],
                     "deploy_token_id": caller.deploy_token["id"]}
    elif caller.user is not None:
        claims["sub"] = caller.user["username"]
        claims["auth_type"] = "personal_access_token"
        user_info = {"token_type": "personal_access_token", "username": caller.user["username"],
                     "user_id": caller.user["id"]}
    else:
        user_info = None
    if user_info is not None:
        claims["user"] = sign_rs256(key, {"user_info": user_info, "iat": now, "exp": claims["exp"]})
    return Response(200, {"token": sign_rs256(key, claims)})


def register(router) -> None:
    router.add("GET", "/jwt/auth", jwt_auth)
