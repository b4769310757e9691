"""Git smart HTTP (``/<group>/<project>.git/info/refs`` etc.), served by
``git http-backend`` as a CGI, the way GitLab Workhorse hands the pack
protocol to Gitaly after Rails said yes (app/controllers/repositories/
git_http_controller.rb, git_http_client_controller.rb).

Authentication is HTTP Basic, as git's credential helpers send it:

- a deploy token (``<username>:<token>``) with ``read_repository`` clones the
  projects it has access to (its project, or every project below its group);
  deploy tokens cannot push (no write scope in app/models/deploy_token.rb
  ``AVAILABLE_SCOPES``): ``git-receive-pack`` answers 403;
- a user's personal access token as password (any username) clones what the
  user may read.  Pushing over HTTP is not modelled (403): the tag and branch
  rules of lib/gitlab/checks/tag_check.rb run in the SSH endpoint's pre-receive hook only;
- no credentials: public projects only; otherwise 401 with
  ``WWW-Authenticate: Basic realm="GitLab"`` so git asks its credential helper.
"""

from __future__ import annotations

import os
import re
import subprocess

from .. import auth
from ..app import Response
from .jwt_auth import UNAUTHORIZED_MESSAGE, basic_caller, deploy_token_has_access

GIT_PATH = re.compile(r"\A/(?P<path>[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)+?)\.git/"
                      r"(?P<rest>info/refs|git-upload-pack|git-receive-pack)\Z")
REALM = {"WWW-Authenticate": 'Basic realm="GitLab"'}
NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it."
DOWNLOAD_DENIED = "You are not allowed to download code from this project."
PUSH_DENIED_DEPLOY_TOKEN = "This deploy token does not have write access to this project."
PUSH_NOT_MODELLED = "Pushing over HTTP is not modelled by the GitLab test server; push over SSH."


def _text(status: int, text: str, headers: dict | None = None) -> Response:
    return Response(status, text + "\n", dict(headers or {}), content_type="text/plain; charset=utf-8")


def _service(req, rest: str) -> str | None:
    if rest == "info/refs":
        svc = req.query.get("service")
        return svc if svc in ("git-upload-pack", "git-receive-pack") else None
    return rest


def _may_read(app, caller, project) -> bool:
    if caller.deploy_token is not None:
        return "read_repository" in caller.scopes() and deploy_token_has_access(app, caller.deploy_token, project)
    return auth.can_read_project(app.store, caller.user, project) and auth.can_read_code(app.store, caller.user, project)


def git_http(app, req):
    m = GIT_PATH.match(req.path)
    project = app.store.one("SELECT * FROM projects WHERE full_path = ?", (m.group("path"),))
    service = _service(req, m.group("rest"))
    if service is None:
        # Dumb HTTP (info/refs without ?service=) is not offered by GitLab either.
        return _text(403, "Dumb HTTP is not supported")
    caller = basic_caller(app, req)
    if caller is None:
        return _text(401, UNAUTHORIZED_MESSAGE, REALM)
    if caller.anonymous and (project is None or project["visibility"] != "public" or service == "git-receive-pack"):
        return _text(401, "HTTP Basic: Access denied", REALM)
    if project is None or (caller.user is not None and not auth.can_read_project(app.store, caller.user, project)) \
            or (caller.deploy_token is not None and not deploy_token_has_access(app, caller.deploy_token, project)):
        return _text(404, NOT_FOUND)
    if service == "git-receive-pack":
        return _text(403, PUSH_DENIED_DEPLOY_TOKEN if caller.deploy_token is not None else PUSH_NOT_MODELLED)
    if not caller.anonymous and not _may_read(app, caller, project):
        return _text(403, DOWNLOAD_DENIED)
    disk_path = project["disk_path"]
    if not disk_path or not os.path.isdir(disk_path):
        return _text(404, NOT_FOUND)
    return _run_backend(req, disk_path, m.group("rest"))


def _run_backend(req, disk_path: str, rest: str) -> Response:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROJECT_ROOT": os.path.dirname(disk_path),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{os.path.basename(disk_path)}/{rest}",
        "REQUEST_METHOD": req.method,
        "QUERY_STRING": req.query_string,
        "CONTENT_TYPE": req.headers.get("Content-Type") or "",
        "CONTENT_LENGTH": str(len(req.body)),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if req.headers.get("Git-Protocol"):
        env["HTTP_GIT_PROTOCOL"] = req.headers.get("Git-Protocol")
    if req.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = req.headers.get("Content-Encoding")
    proc = subprocess.run(["git", "http-backend"], input=req.body, capture_output=True, env=env, check=False,
                          timeout=300)
    head, sep, body = proc.stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = proc.stdout.partition(b"\n\n")
    if not sep:
        return _text(500, "git http-backend failed: " + proc.stderr.decode("utf-8", "replace").strip())
    status, headers, ctype = 200, {}, "application/octet-stream"
    for line in head.decode("latin-1").splitlines():
        name, dummy, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name.lower() == "content-type":
            ctype = value
        elif name:
            headers[name] = value
    return Response(status, body, headers, content_type=ctype)


def register(router) -> None:
    router.add("GET", GIT_PATH, git_http)
    router.add("POST", GIT_PATH, git_http)
