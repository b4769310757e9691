"""HTTP plumbing: request parsing, the route table, responses, the threaded
server.

Routes are ``(method, template, handler)``; a template such as
``/api/v4/projects/:id/deploy_keys/:key_id`` matches one path segment per
``:param`` (``[^/]+``: lib/api/api.rb ``NAMESPACE_OR_PROJECT_REQUIREMENTS``,
doc/api/rest/_index.md "Namespaced paths") against the *raw* path, so ``%2F`` inside an
id stays one segment and is decoded afterwards.  Later additions
(``/api/v4/internal/*``, ``/jwt/auth``, git smart HTTP) register more routes
the same way, or a ``re.Pattern`` template for paths a template cannot express.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, unquote_plus

from . import auth, errors

API_PREFIX = "/api/v4"
SECURITY_HEADERS = {"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff"}
_SECRET_QUERY = re.compile(r"((?:private_token|access_token|job_token|token)=)[^&]*", re.I)


# --- requests ----------------------------------------------------------------

def _assign(target: dict, key: str, value) -> None:
    """Rack's nested params: ``a=1``, ``a[]=1``, ``a[k]=1``, ``a[][k]=1``."""
    match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
    if not match or not match.group(2):
        target[key] = value
        return
    name, rest = match.group(1), re.findall(r"\[([^\[\]]*)\]", match.group(2))
    if rest == [""]:
        target.setdefault(name, [])
        if isinstance(target[name], list):
            target[name].append(value)
        return
    if rest[0] == "" and len(rest) == 2:
        items = target.setdefault(name, [])
        if not isinstance(items, list):
            return
        if not items or not isinstance(items[-1], dict) or rest[1] in items[-1]:
            items.append({})
        items[-1][rest[1]] = value
        return
    sub = target.setdefault(name, {})
    if isinstance(sub, dict):
        sub[rest[0]] = value


def parse_query(text: str) -> dict:
    out: dict = {}
    for part in text.split("&"):
        if not part:
            continue
        key, dummy, value = part.partition("=")
        _assign(out, unquote_plus(key), unquote_plus(value))
    return out


@dataclass
class Request:
    method: str
    path: str                  # raw path, no query
    query_string: str
    headers: object            # email.message.Message (case-insensitive .get)
    body: bytes
    app: object = None
    query: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    route_params: dict = field(default_factory=dict)
    page_values: dict | None = None   # pagination params a route validated (pagination.page_params)
    _user: object = None
    _user_resolved: bool = False

    @property
    def host(self) -> str:
        return self.headers.get("Host") or f"{self.app.host}:{self.app.port}"

    @property
    def base_url(self) -> str:
        # Link headers and web_url must use the host the client used
        # (lib/gitlab/pagination/offset_header_builder.rb; python-gitlab
        # warns when GET /user's web_url is on another base: gitlab/client.py _check_url).
        return f"http://{self.host}"

    @property
    def user(self):
        if not self._user_resolved:
            self._user = auth.resolve_user(self.app, self)
            self._user_resolved = True
        return self._user

    def parse(self) -> None:
        self.query = parse_query(self.query_string)
        body: dict = {}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if self.body:
            if ctype == "application/json" or (not ctype and self.body[:1] in (b"{", b"[")):
                try:
                    loaded = json.loads(self.body.decode("utf-8"))
                except ValueError:
                    raise errors.error(400, "The provided content-type 'application/json' is not supported.") from None
                if isinstance(loaded, dict):
                    body = loaded
            elif ctype in ("application/x-www-form-urlencoded", ""):
                body = parse_query(self.body.decode("utf-8", "replace"))
        self.params = {**self.query, **body}   # Rack: body params win

    def json(self) -> dict:
        return self.params

    def body_fields(self) -> dict | None:
        """The body's fields (JSON object or form), for fault rules' ``match_body``; ``None`` if unreadable.

        Never raises: a body the handler would refuse matches no rule."""
        if not self.body:
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        text = self.body.decode("utf-8", "replace")
        if ctype == "application/json" or (not ctype and self.body[:1] in (b"{", b"[")):
            try:
                loaded = json.loads(text)
            except ValueError:
                return None
            return loaded if isinstance(loaded, dict) else None
        if ctype in ("application/x-www-form-urlencoded", ""):
            return parse_query(text)
        return None


@dataclass
class Response:
    status: int = 200
    body: object = None        # JSON-able, or bytes/str for raw bodies
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"


DROP = object()  # a fault asked us to close the connection without answering (after the handler ran, for lose_answer)


def ok(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, body, dict(headers or {}))


def created(body) -> Response:
    return Response(201, body)


def no_content() -> Response:
    return Response(204, None)


# --- routing -----------------------------------------------------------------

@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern
    handler: object

    @property
    def name(self) -> str:
        """Template without the API prefix, as used by ``/-/test/requests``."""
        tpl = self.template
        return tpl[len(API_PREFIX):] if tpl.startswith(API_PREFIX + "/") else tpl


def _compile(template, requirements: dict | None = None) -> re.Pattern:
    """``requirements`` narrows a ``:param`` the way Grape's route
    ``requirements:`` do (a path that does not fit matches no route)."""
    if isinstance(template, re.Pattern):
        return template
    requirements = requirements or {}
    parts = re.split(r"(:[a-z_]+)", template)
    regex = "".join(f"(?P<{p[1:]}>{requirements.get(p[1:], '[^/]+')})" if p.startswith(":") else re.escape(p)
                    for p in parts)
    return re.compile(rf"\A{regex}\Z")


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template, handler, requirements: dict | None = None) -> None:
        self.routes.append(Route(method, template if isinstance(template, str) else template.pattern,
                                 _compile(template, requirements), handler))

    def api(self, method: str, template: str, handler, requirements: dict | None = None) -> None:
        self.add(method, API_PREFIX + template, handler, requirements)

    def match(self, method: str, path: str):
        """``(route, params, allowed_methods)``."""
        allowed: list[str] = []
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: unquote(v) for k, v in m.groupdict().items()}, None
            allowed.append(route.method)
        return None, None, allowed


def allow_header(methods: list[str]) -> str:
    """Grape's Allow header lists the route's methods, HEAD for GET, and OPTIONS."""
    out = ["OPTIONS"]
    for m in methods:
        if m not in out:
            out.append(m)
        if m == "GET" and "HEAD" not in out:
            out.append("HEAD")
    return ", ".join(out)


# --- the server ----------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes on a kept-alive connection;
    # with Nagle's algorithm and the client's delayed ACK the second write
    # waited ~40 ms, which the benchmarks measured as server latency.
    disable_nagle_algorithm = True
    server_version = "nginx"

    def version_string(self) -> str:
        return self.server_version

    def _dispatch(self) -> None:
        started = time.monotonic()
        app = self.server.app
        path, dummy, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):     # absolute-form request target
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        body = self._read_body()
        req = Request(self.command, path, query, self.headers, body, app=app)
        resp = app.handle(req)
        if resp is DROP:
            self.close_connection = True
            app.log(f"{self.command} {path} dropped ({(time.monotonic() - started) * 1000:.0f}ms)")
            return
        self._write(resp)
        masked = _SECRET_QUERY.sub(r"\1[FILTERED]", query)
        app.log(f"{self.command} {path}{'?' + masked if masked else ''} {resp.status} "
                f"({(time.monotonic() - started) * 1000:.0f}ms)")

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, resp: Response) -> None:
        if resp.body is None:
            payload = b""
        elif isinstance(resp.body, bytes):
            payload = resp.body
        elif isinstance(resp.body, str):
            payload = resp.body.encode("utf-8")
        else:
            payload = json.dumps(resp.body, separators=(",", ":")).encode("utf-8")
        self.send_response(resp.status, HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else "")
        headers = dict(SECURITY_HEADERS)
        headers["Content-Type"] = resp.content_type
        headers.update(resp.headers)
        for key, value in headers.items():
            self.send_header(key, value)
        if resp.status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and resp.status not in (204, 304):
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # App.log writes a masked line per request instead

    def log_error(self, format, *args) -> None:  # noqa: A002
        self.server.app.log("error: " + (format % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app) -> None:
        self.app = app
        super().__init__(address, Handler)


class ApiApp:
    """Dispatch one request: control API, faults/latency, routing, errors."""

    def __init__(self, state, router: Router, control) -> None:
        self.state = state
        self.router = router
        self.control = control
        self.host, self.port = "127.0.0.1", 0
        self._log_lock = threading.Lock()

    # The route handlers use ``app.store`` / ``app.clock`` / ``app.repos`` ...
    def __getattr__(self, name):
        return getattr(self.state, name)

    def log(self, line: str) -> None:
        with self._log_lock:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def handle(self, req: Request):
        if req.path.startswith("/-/test/"):
            return self._safe(req, lambda: self.control.handle(req))
        is_api = req.path.startswith(API_PREFIX + "/") or req.path == API_PREFIX
        route, params, allowed = self.router.match(req.method, req.path)
        if route:
            route_name = f"{req.method} {route.name}"
        elif req.method == "OPTIONS" and allowed:
            route_name = f"OPTIONS {req.path}"
        else:
            route_name = f"{req.method} (unmatched)"
        counters = self.control.counters
        if is_api:
            counters.start()
        status, answer_lost = 0, False
        try:
            delay_ms, fault = self.control.faults.match(req.method, req.path, req.body_fields)
            if is_api:
                delay_ms += self.control.latency_ms
            if delay_ms:
                time.sleep(delay_ms / 1000.0)
            if fault is not None and not fault.get("lose_answer"):
                resp = self.control.faults.respond(fault)
            else:
                resp = self._answer(req, route, params, allowed)
            if fault is not None and fault.get("lose_answer"):
                # The handler ran and its transaction committed; the client gets no answer.
                status, answer_lost = resp.status, True
                return DROP
            status = 0 if resp is DROP else resp.status
            return resp
        finally:
            if is_api:
                counters.finish(req.method, route_name, req.path, status, answer_lost=answer_lost)

    def _answer(self, req: Request, route, params, allowed) -> Response:
        """What GitLab answers (no fault): the route's handler, or 404/405/410."""
        if route:
            req.route_params = params
            return self._safe(req, lambda: self._run(route, req))
        if allowed:
            if req.method == "OPTIONS":
                return Response(204, None, {"Allow": allow_header(allowed)})
            return Response(405, {"error": "405 Not Allowed"}, {"Allow": allow_header(allowed)})
        if req.path.startswith("/api/v3/"):
            return Response(410, {"error": "API V3 is no longer supported. Use API V4 instead."})
        return Response(404, {"error": "404 Not Found"})  # lib/api/api.rb route :any, '*path'

    def _run(self, route: Route, req: Request):
        req.parse()
        with self.store.tx():
            return route.handler(self, req)

    def _safe(self, req: Request, fn):
        try:
            return fn()
        except errors.ApiError as exc:
            return Response(exc.status, exc.body, exc.headers)
        except Exception as exc:  # noqa: BLE001 - GitLab answers 500 with a fixed body
            import traceback
            self.log(f"500 on {req.method} {req.path}: {exc!r}\n{traceback.format_exc()}")
            return Response(500, {"message": "500 Internal Server Error"})
