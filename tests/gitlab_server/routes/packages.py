"""Project-level package registries: PyPI, npm and generic packages, as the
real clients (pip, twine, npm, curl) use them.

GitLab's files, for each rule below:

- lib/api/pypi_packages.rb (``projects/:id/packages/pypi``: ``simple``,
  ``simple/*package_name``, ``files/:sha256/*file_identifier``, ``POST``);
- lib/api/npm_project_packages.rb and lib/api/concerns/packages/npm_endpoints.rb
  (``projects/:id/packages/npm``: metadata ``*package_name``, tarball
  ``*package_name/-/*file_name``, ``PUT :package_name``); lib/api/helpers/packages/npm.rb
  (``project`` is ``user_project(action: :read_package)``);
- lib/api/generic_packages.rb (``projects/:id/packages/generic/:package_name/*package_version/:file_name``);
- lib/api/helpers/packages/basic_auth_helpers.rb (PyPI and generic: no
  credentials on a project the caller cannot see is 401 with
  ``WWW-Authenticate: Basic realm="GitLab Packages Registry"``; a caller that
  may read the project but not its packages, 403; otherwise 404);
- app/policies/project_policy.rb and app/policies/packages/policies/project_policy.rb:
  a deploy token with ``read_package_registry`` or ``write_package_registry``
  on its project (or a project below its group) may ``read_project`` and
  ``read_package``; only ``write_package_registry`` gives ``create_package``.
  A deploy token without a package scope cannot even see the project (404).

Who is calling (lib/gitlab/auth/auth_finders.rb ``deploy_token_from_request``,
these routes set ``deploy_token_allowed: true``): a deploy token from the
``Deploy-Token`` header, ``Authorization: Bearer`` (npm's ``_authToken``) or the
password of HTTP Basic (the Basic username is not compared); a user's personal
access token from ``PRIVATE-TOKEN``, Bearer or the Basic password
(``basic_auth_personal_access_token: true``). A token that matches nothing, or
a revoked or expired deploy token, is 401.

Not modelled: group- and instance-level endpoints, request forwarding to
pypi.org / npmjs.org for missing packages (off here; the test network is
loopback only), Workhorse's ``/authorize`` pre-flight, package protection rules.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hashlib
import html
import json
import re

from .. import auth, errors
from ..app import Response
from ..clock import fmt_time, stored_date
from .jwt_auth import Caller, basic_credentials, deploy_token_active, deploy_token_has_access

PROJECTS = r"\A/api/v4/projects/(?P<id>[^/]+)/packages"
REALM = {"WWW-Authenticate": 'Basic realm="GitLab Packages Registry"'}
PACKAGE_SCOPES = {"read_package_registry", "write_package_registry"}
SHA256_RE = re.compile(r"\A[A-Fa-f0-9]{64}\Z")          # Gitlab::Regex.sha256_regex
# Gitlab::Regex.generic_package_name_regex / _version_regex / _file_name_regex (lib/gitlab/regex/packages.rb)
GENERIC_NAME_RE = re.compile(r"\A[-+.\w]+\Z", re.ASCII)
GENERIC_VERSION_RE = re.compile(r"\A[-+.\w]+\Z", re.ASCII)
GENERIC_FILE_RE = re.compile(r"\A[-+.~\w]+\Z", re.ASCII)


# --- who is calling -----------------------------------------------------------------

def package_caller(app, req) -> Caller:
    """The deploy token or user behind the request; ``Caller()`` without
    credentials; 401 for credentials that match nothing active."""
    secret = (req.headers.get("Deploy-Token") or "").strip()
    header = req.headers.get("Authorization") or ""
    if not secret and header[:7].lower() == "bearer ":
        secret = header[7:].strip()
    creds = basic_credentials(req)
    if creds is not None:
        secret = creds[1]          # deploy_token_from_request: Basic wins, its username is not compared
    if not secret:
        secret = (req.headers.get("PRIVATE-TOKEN") or "").strip()
    if not secret:
        return Caller()
    token = app.store.one("SELECT * FROM deploy_tokens WHERE token = ?", (secret,))
    if token is not None:
        if not deploy_token_active(app, token):       # DeployToken.active.find_by_token
            raise errors.ApiError(401, {"message": "401 Unauthorized"}, dict(REALM))
        return Caller(deploy_token=token)
    found = app.store.user_by_token(secret)
    if found:
        user, pat = found
        expires = stored_date(pat["expires_at"])
        if not (pat["revoked"] or (expires is not None and expires <= app.clock.today())
                or user is None or user["state"] != "active"):
            return Caller(user=user)
    raise errors.ApiError(401, {"message": "401 Unauthorized"}, dict(REALM))


def _deploy_token_on(app, caller: Caller, project: dict, scopes: set) -> bool:
    return bool(caller.scopes() & scopes) and deploy_token_has_access(app, caller.deploy_token, project)


def can_read_project(app, caller: Caller, project: dict) -> bool:
    if caller.deploy_token is not None:
        return _deploy_token_on(app, caller, project, PACKAGE_SCOPES)
    return auth.can_read_project(app.store, caller.user, project)


def can_read_package(app, caller: Caller, project: dict) -> bool:
    """Packages::Policies::ProjectPolicy ``read_package``: either package scope;
    a member with Reporter or more; anyone who can see a public project."""
    if caller.deploy_token is not None:
        return _deploy_token_on(app, caller, project, PACKAGE_SCOPES)
    if project["visibility"] == "public":
        return True
    if caller.user is None:
        return False
    return project["visibility"] == "internal" or auth.project_level(app.store, caller.user, project) >= auth.REPORTER


def can_create_package(app, caller: Caller, project: dict) -> bool:
    """ProjectPolicy ``create_package``: ``write_package_registry``, or Developer and up."""
    if caller.deploy_token is not None:
        return _deploy_token_on(app, caller, project, {"write_package_registry"})
    return caller.user is not None and auth.project_level(app.store, caller.user, project) >= auth.DEVELOPER


def _unauthorized_or(caller: Caller, error: errors.ApiError) -> errors.ApiError:
    """BasicAuthHelpers ``unauthorized_or!``: 401 with the realm without a caller."""
    if caller.anonymous:
        return errors.ApiError(401, {"message": "401 Unauthorized"}, dict(REALM))
    return error


def basic_auth_project(app, req, caller: Caller, action: str) -> dict:
    """BasicAuthHelpers ``authorized_project_find!`` (PyPI and generic)."""
    project = app.store.project_by_ref(req.route_params["id"])
    if project is None:
        raise _unauthorized_or(caller, errors.not_found())
    if action == "read_package":
        if not can_read_package(app, caller, project):
            # guest users can have :read_project but not :read_package
            if can_read_project(app, caller, project):
                raise errors.forbidden()
            raise _unauthorized_or(caller, errors.not_found())
    elif not can_read_project(app, caller, project):
        raise _unauthorized_or(caller, errors.not_found())
    return project


def authorize_upload(app, caller: Caller, project: dict) -> None:
    """``authorize_upload!`` -> ``authorize!(:create_package)`` with BasicAuthHelpers' ``authorize!``."""
    if not can_create_package(app, caller, project):
        raise _unauthorized_or(caller, errors.forbidden())


# --- storage ----------------------------------------------------------------------

def _add_package(app, project: dict, package_type: str, name: str, version: str, metadata=None) -> int:
    return app.store.insert("packages", project_id=project["id"], package_type=package_type, name=name,
                            version=version, metadata=json.dumps(metadata) if metadata is not None else None,
                            created_at=fmt_time(app.clock.now()))


def _add_file(app, package_id: int, file_name: str, content: bytes) -> dict:
    row = {"package_id": package_id, "file_name": file_name, "file_sha256": hashlib.sha256(content).hexdigest(),
           "file_sha1": hashlib.sha1(content).hexdigest(),  # noqa: S324 - npm's dist.shasum is SHA-1
           "file_md5": hashlib.md5(content).hexdigest(),  # noqa: S324 - GitLab stores it too
           "content": content, "created_at": fmt_time(app.clock.now())}
    row["id"] = app.store.insert("package_files", **row)
    return row


def _packages(app, project: dict, package_type: str) -> list[dict]:
    return app.store.all("SELECT * FROM packages WHERE project_id = ? AND package_type = ? ORDER BY id",
                         (project["id"], package_type))


def _files(app, package_id: int) -> list[dict]:
    return app.store.all("SELECT * FROM package_files WHERE package_id = ? ORDER BY id", (package_id,))


def _download(row: dict, headers: dict | None = None) -> Response:
    """``present_package_file!``: the file's bytes, as an attachment."""
    name = row["file_name"].rsplit("/", 1)[-1]
    out = {"Content-Disposition": f'attachment; filename="{name}"'}
    out.update(headers or {})
    return Response(200, bytes(row["content"]), out, content_type="application/octet-stream")


# --- PyPI ---------------------------------------------------------------------------

def pypi_normalize(name: str) -> str:
    """PEP 503 normalization, as Packages::Pypi::PackagesFinder compares names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _html(title: str, links: list[str]) -> Response:
    body = ("<!DOCTYPE html>\n<html>\n  <head>\n    <title>Links for " + html.escape(title) + "</title>\n  </head>\n"
            "  <body>\n    <h1>Links for " + html.escape(title) + "</h1>\n"
            + "".join("    " + link + "\n" for link in links) + "  </body>\n</html>\n")
    return Response(200, body, {"Vary": "Accept"}, content_type="text/html; charset=utf-8")


def pypi_simple_index(app, req):
    caller = package_caller(app, req)
    project = basic_auth_project(app, req, caller, "read_package")
    names = sorted({p["name"] for p in _packages(app, project, "pypi")}, key=pypi_normalize)
    base = f"{req.base_url}/api/v4/projects/{project['id']}/packages/pypi/simple"
    return _html(project["name"], [f'<a href="{base}/{pypi_normalize(n)}" data-requires-python="">{html.escape(n)}</a><br>'
                                   for n in names])


def pypi_simple_package(app, req):
    """Packages::Pypi::SimplePackageVersionsPresenter: one link a file, with
    ``#sha256=`` and ``data-requires-python``."""
    caller = package_caller(app, req)
    project = basic_auth_project(app, req, caller, "read_package")
    wanted = pypi_normalize(req.route_params["package_name"])
    packages = [p for p in _packages(app, project, "pypi") if pypi_normalize(p["name"]) == wanted]
    if not packages:
        raise errors.not_found("Package")
    base = f"{req.base_url}/api/v4/projects/{project['id']}/packages/pypi/files"
    links = []
    for package in packages:
        requires = json.loads(package["metadata"] or "{}").get("requires_python") or ""
        for row in _files(app, package["id"]):
            links.append(f'<a href="{base}/{row["file_sha256"]}/{html.escape(row["file_name"])}#sha256={row["file_sha256"]}" '
                         f'data-requires-python="{html.escape(requires)}">{html.escape(row["file_name"])}</a><br>')
    return _html(packages[-1]["name"], links)


def pypi_file(app, req):
    caller = package_caller(app, req)
    project = basic_auth_project(app, req, caller, "read_package")
    row = app.store.one(
        "SELECT f.* FROM package_files f JOIN packages p ON p.id = f.package_id WHERE p.project_id = ? "
        "AND p.package_type = 'pypi' AND f.file_name = ? AND f.file_sha256 = ? ORDER BY f.id DESC LIMIT 1",
        (project["id"], req.route_params["file_identifier"], req.route_params["sha256"].lower()))
    if row is None:
        raise errors.not_found("Package")
    return _download(row)


def multipart_fields(req) -> dict:
    """A ``multipart/form-data`` body (twine's upload) as ``{name: str or (filename, bytes)}``."""
    ctype = req.headers.get("Content-Type") or ""
    if not ctype.lower().startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + req.body)
    out: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        out[name] = (filename, payload) if filename is not None else payload.decode("utf-8", "replace")
    return out


def pypi_upload(app, req):
    # Rack reads form fields from a urlencoded body as well; only multipart can carry the file.
    fields = {**{k: v for k, v in req.params.items() if isinstance(v, str)}, **multipart_fields(req)}
    # Grape validates the declared params before the endpoint body runs.
    missing = [n for n in ("content", "name", "version") if n not in fields]
    if missing:
        raise errors.missing(*missing)
    if not isinstance(fields["content"], tuple):
        raise errors.invalid("content")
    digest = fields.get("sha256_digest")
    if digest and not SHA256_RE.match(str(digest)):
        raise errors.invalid("sha256_digest")
    caller = package_caller(app, req)
    project = basic_auth_project(app, req, caller, "read_project")
    authorize_upload(app, caller, project)
    filename, content = fields["content"]
    if digest and hashlib.sha256(content).hexdigest() != str(digest).lower():
        raise errors.bad_request("Validation failed: File sha256 does not match the uploaded file")
    name, version = str(fields["name"]), str(fields["version"])
    package = next((p for p in _packages(app, project, "pypi")
                    if pypi_normalize(p["name"]) == pypi_normalize(name) and p["version"] == version), None)
    if package is None:
        package_id = _add_package(app, project, "pypi", name, version,
                                  {"requires_python": str(fields.get("requires_python") or "")})
    else:
        package_id = package["id"]
        if any(f["file_name"] == filename for f in _files(app, package_id)):
            # Packages::Pypi::CreatePackageService: a file name once per package
            raise errors.bad_request("Validation failed: File name has already been taken")
    _add_file(app, package_id, filename, content)
    return Response(201, {"message": "201 Created"})


# --- npm ----------------------------------------------------------------------------

def npm_project(app, req, caller: Caller) -> dict:
    """``user_project(action: :read_package)`` -> ``find_project!``: 404 Project
    Not Found when missing or not visible (these routes do not set
    ``authenticate_non_public``, so an anonymous npm gets 404, not 401)."""
    project = app.store.project_by_ref(req.route_params["id"])
    if project is None or not can_read_project(app, caller, project):
        raise errors.not_found("Project")
    return project


def _npm_versions(app, project: dict, name: str) -> list[dict]:
    return [p for p in _packages(app, project, "npm") if p["name"] == name]


def npm_tarball_url(req, project: dict, name: str, file_name: str) -> str:
    return f"{req.base_url}/api/v4/projects/{project['id']}/packages/npm/{name}/-/{file_name}"


def npm_metadata(app, req):
    """Packages::Npm::GenerateMetadataService: ``name``, ``versions`` (each with
    ``dist.shasum`` and ``dist.tarball``) and ``dist-tags``."""
    caller = package_caller(app, req)
    project = npm_project(app, req, caller)
    if not can_read_package(app, caller, project):
        raise errors.forbidden()                    # authorize_read_package!
    name = req.route_params["package_name"]
    packages = _npm_versions(app, project, name)
    if not packages:
        raise errors.not_found("Packages")
    versions, tags = {}, {}
    for package in packages:
        meta = json.loads(package["metadata"] or "{}")
        files = _files(app, package["id"])
        entry = dict(meta.get("package_json") or {"name": name, "version": package["version"]})
        if files:
            entry["dist"] = {"shasum": files[-1]["file_sha1"],
                             "tarball": npm_tarball_url(req, project, name, files[-1]["file_name"])}
        versions[package["version"]] = entry
        for tag in meta.get("tags", []):
            tags[tag] = package["version"]
    return Response(200, {"name": name, "versions": versions, "dist-tags": tags})


def npm_tarball(app, req):
    caller = package_caller(app, req)
    project = npm_project(app, req, caller)
    if not can_read_package(app, caller, project):
        raise errors.forbidden()
    row = app.store.one(
        "SELECT f.* FROM package_files f JOIN packages p ON p.id = f.package_id WHERE p.project_id = ? "
        "AND p.package_type = 'npm' AND p.name = ? AND f.file_name = ? ORDER BY f.id DESC LIMIT 1",
        (project["id"], req.route_params["package_name"], req.route_params["file_name"]))
    if row is None:
        raise errors.not_found("Package")
    return _download(row)


def npm_publish(app, req):
    """``npm publish``: the package document with one version and its tarball
    base64 in ``_attachments`` (Packages::Npm::CreatePackageService)."""
    caller = package_caller(app, req)
    if caller.anonymous:
        raise errors.unauthorized()                 # authenticate_non_get!
    name = req.route_params["package_name"]
    if not isinstance(req.params.get("versions"), dict):
        raise errors.missing("versions")
    project = npm_project(app, req, caller)
    if not can_create_package(app, caller, project):
        raise errors.forbidden()                    # authorize_create_package!
    versions = req.params["versions"]
    if len(versions) != 1:
        raise errors.bad_request("Package must have exactly one version")
    version, package_json = next(iter(versions.items()))
    if package_json.get("name") != name:
        raise errors.bad_request("Package name mismatch")
    if any(p["version"] == version for p in _npm_versions(app, project, name)):
        raise errors.message(403, "Package already exists.")     # CreatePackageService ERROR_REASON_PACKAGE_EXISTS
    attachments = req.params.get("_attachments") or {}
    file_name = f"{name}-{version}.tgz"
    attachment = attachments.get(file_name) or (next(iter(attachments.values())) if attachments else None)
    try:
        content = base64.b64decode((attachment or {}).get("data") or "", validate=True)
    except (ValueError, binascii.Error, AttributeError):
        content = b""
    if not content:
        raise errors.bad_request("Attachment data is empty.")
    package_json = {k: v for k, v in package_json.items() if k not in ("dist", "readme", "_id")}
    tags = sorted((req.params.get("dist-tags") or {"latest": version}).keys())
    for other in _npm_versions(app, project, name):       # a dist-tag names one version
        meta = json.loads(other["metadata"] or "{}")
        if set(meta.get("tags", [])) & set(tags):
            meta["tags"] = [t for t in meta["tags"] if t not in tags]
            app.store.update("packages", other["id"], metadata=json.dumps(meta))
    package_id = _add_package(app, project, "npm", name, version, {"package_json": package_json, "tags": tags})
    _add_file(app, package_id, file_name, content)
    return Response(200, {"id": package_id, "name": name, "version": version, "package_type": "npm"})


# --- generic ------------------------------------------------------------------------

def _generic_params(req) -> tuple[str, str, str]:
    params = req.route_params
    for key, rule in (("package_name", GENERIC_NAME_RE), ("package_version", GENERIC_VERSION_RE),
                      ("file_name", GENERIC_FILE_RE)):
        if not rule.match(params[key]) or params[key] in (".", ".."):
            raise errors.invalid(key)
    return params["package_name"], params["package_version"], params["file_name"]


def generic_download(app, req):
    name, version, file_name = _generic_params(req)
    caller = package_caller(app, req)
    project = basic_auth_project(app, req, caller, "read_package")
    package = app.store.one("SELECT * FROM packages WHERE project_id = ? AND package_type = 'generic' AND name = ? "
                            "AND version = ? ORDER BY id DESC LIMIT 1", (project["id"], name, version))
    # Packages::Generic::PackageFinder#execute! and PackageFileFinder#execute! raise
    # ActiveRecord::RecordNotFound, which lib/api/api.rb answers with "404 Not found".
    row = None
    if package is not None:
        row = app.store.one("SELECT * FROM package_files WHERE package_id = ? AND file_name = ? ORDER BY id DESC LIMIT 1",
                            (package["id"], file_name))
    if row is None:
        raise errors.record_not_found()
    return _download(row, {"X-Checksum-SHA256": row["file_sha256"]})


def generic_upload(app, req):
    name, version, file_name = _generic_params(req)
    caller = package_caller(app, req)
    if caller.anonymous:
        raise errors.ApiError(401, {"message": "401 Unauthorized"}, dict(REALM))    # authenticate_non_get!
    project = basic_auth_project(app, req, caller, "read_project")
    authorize_upload(app, caller, project)
    package = app.store.one("SELECT * FROM packages WHERE project_id = ? AND package_type = 'generic' AND name = ? "
                            "AND version = ?", (project["id"], name, version))
    package_id = package["id"] if package else _add_package(app, project, "generic", name, version)
    # Duplicates are allowed by default (the namespace's generic_duplicates_allowed): the newest file wins.
    _add_file(app, package_id, file_name, req.body)
    return Response(201, {"message": "201 Created"})


# --- routes -------------------------------------------------------------------------

NPM_NAME = r"(?P<package_name>(?:@[^/]+/)?[^/]+)"     # "@scope/name" in a tarball path, "@scope%2fname" elsewhere


def register(router) -> None:
    pypi = PROJECTS + "/pypi"
    router.add("GET", re.compile(pypi + r"/simple/?\Z"), pypi_simple_index)
    router.add("GET", re.compile(pypi + r"/simple/(?P<package_name>[^/]+)/?\Z"), pypi_simple_package)
    router.add("GET", re.compile(pypi + r"/files/(?P<sha256>[^/]+)/(?P<file_identifier>[^/]+)\Z"), pypi_file)
    router.add("POST", re.compile(pypi + r"/?\Z"), pypi_upload)
    npm = PROJECTS + "/npm/"
    router.add("GET", re.compile(npm + NPM_NAME + r"/-/(?P<file_name>(?:@[^/]+/)?[^/]+)\Z"), npm_tarball)
    router.add("GET", re.compile(npm + r"(?P<package_name>[^/]+)\Z"), npm_metadata)
    router.add("PUT", re.compile(npm + r"(?P<package_name>[^/]+)\Z"), npm_publish)
    generic = re.compile(PROJECTS + r"/generic/(?P<package_name>[^/]+)/(?P<package_version>[^/]+)/(?P<file_name>[^/]+)\Z")
    router.add("GET", generic, generic_download)
    router.add("PUT", generic, generic_upload)
