"""The test-only control API under ``/-/test/`` (no auth).

Contract (others code against it; keep it stable):

- ``POST /-/test/reset`` -> seed state again, faults/counters/latency/clock cleared -> ``{"status":"ok"}``
- ``POST /-/test/faults`` ``{method, path, status, retry_after, drop, lose_answer, latency_ms, count | rate,
  skip, match_body, body}`` -> 201 ``{"id": n}``; ``GET`` lists them (``count`` and ``skip`` as they are
  now), ``DELETE`` clears all (204)
- ``PUT /-/test/latency`` ``{"ms": 20}``: extra latency for every /api/v4 request
- ``GET /-/test/requests`` -> ``{total, reads, writes, by_route, log, in_flight, max_in_flight}``; ``DELETE`` zeroes
- ``PUT /-/test/clock`` ``{"offset_days": N}``
- ``PUT /-/test/objects/<deploy_tokens|deploy_keys>/<id>`` ``{"created_at": ...}`` (also ``expires_at``)

A fault rule (every field optional except one of ``status``, ``drop``,
``lose_answer`` or ``latency_ms``):

- ``method``: ``GET``, ``POST``... or ``*`` (the default);
- ``path``: a regex searched in the raw request path, ``%2F`` and ``%2A``
  left encoded (``/projects/fleet%2Fapi/protected_tags/v%2A$``);
- ``match_body``: ``{"name": "v*"}``: the rule applies only to requests whose
  JSON or form body has each of these fields with exactly this value (compared
  as text, booleans as ``true``/``false``, lists item by item; not a pattern);
  a request without a readable body matches no such rule;
- ``skip``: let the first N requests the rule matches (method, path,
  match_body; whatever other rules do with them) through untouched, no latency
  either; the rule acts from the N+1st on;
- what it does (``drop`` wins over ``status``; ``lose_answer`` excludes both):
  ``status``: answer that status instead of the handler (the request is not
  applied): GitLab's ``{"message": "<status> <phrase>"}`` or ``body``; 429 is
  Rack::Attack's plain-text "Retry later";
  ``drop: true``: close the connection without answering, before the handler
  runs (nothing applied: a connection dropped on its way in);
  ``lose_answer: true``: run the real handler (its transaction commits), then
  close the connection without answering: the lost response, GitLab applied
  the request and the client saw no answer. The request log keeps the
  handler's status with ``"answer_lost": true``;
- ``retry_after``: with ``status``, a ``Retry-After: N`` header (any status;
  ``0`` is sent as ``Retry-After: 0``);
- ``latency_ms``: delay added by every matching rule (after ``skip``);
- ``count``: the rule acts that many times, then is removed; ``rate``: it acts
  with that probability (0.0-1.0). A rule with neither acts every time.

Every matching rule adds its ``latency_ms``; the first matching rule with
``status``, ``drop`` or ``lose_answer`` decides the answer, and later matching
rules that would act keep their ``count``.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from http import HTTPStatus

from . import errors
from .app import DROP, Response
from .clock import fmt_time, parse_time

MAX_LOG = 10_000  # the request log keeps the newest entries only


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[dict] = []
        self._next_id = 1

    def add(self, rule: dict) -> int:
        with self._lock:
            rule = dict(rule)
            rule["id"] = self._next_id
            rule["_regex"] = re.compile(rule.get("path") or "")
            self._next_id += 1
            self._rules.append(rule)
            return rule["id"]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self._rules]

    def match(self, method: str, path: str, fields=None) -> tuple[int, dict | None]:
        """Latency to add and the fault (status/drop/lose_answer) that fires, if any.

        ``fields`` is a callable returning the request's body fields (a dict,
        or ``None`` when the body is not readable); it is called only when a
        rule has ``match_body``.  Every matching rule contributes its
        ``latency_ms``; the first matching rule with a status, ``drop`` or
        ``lose_answer`` decides the answer.  ``skip`` lets the first matches
        through; ``count`` is consumed each time a rule fires and the rule is
        removed at zero; ``rate`` fires with that probability."""
        delay, chosen = 0, None
        body = _UNREAD
        with self._lock:
            for rule in list(self._rules):
                if rule.get("method", "*") not in ("*", method.upper()):
                    continue
                if not rule["_regex"].search(path):
                    continue
                if rule.get("match_body") is not None:
                    if body is _UNREAD:
                        body = fields() if fields is not None else None
                    if not body_matches(rule["match_body"], body):
                        continue
                if rule.get("skip"):
                    rule["skip"] = int(rule["skip"]) - 1
                    continue
                if "rate" in rule and random.random() >= float(rule["rate"]):  # noqa: S311
                    continue
                delay += int(rule.get("latency_ms") or 0)
                acts = bool(rule.get("drop")) or bool(rule.get("lose_answer")) or rule.get("status") is not None
                if acts and chosen is not None:
                    continue
                if acts:
                    chosen = rule
                if rule.get("count") is not None:
                    rule["count"] = int(rule["count"]) - 1
                    if rule["count"] <= 0:
                        self._rules.remove(rule)
        return delay, chosen

    @staticmethod
    def respond(rule: dict):
        """The answer of a ``status`` or ``drop`` rule (``lose_answer`` is the app's: it runs the handler)."""
        if rule.get("drop"):
            return DROP
        status = int(rule["status"])
        headers = {}
        if rule.get("retry_after") is not None:
            headers["Retry-After"] = str(int(rule["retry_after"]))
        if status == 429:
            # Rack::Attack's throttled response: plain text "Retry later" (doc/administration/settings/user_and_ip_rate_limits.md).
            return Response(429, b"Retry later\n", headers, content_type="text/plain")
        body = rule.get("body")
        if body is None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            body = {"message": f"{status} {phrase}"}
        return Response(status, body, headers)


_UNREAD = object()


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def body_matches(expected: dict, body) -> bool:
    """Whether ``body`` (the request's body fields) has every field of ``expected`` with that value."""
    if not isinstance(body, dict):
        return False
    for name, want in expected.items():
        if name not in body:
            return False
        have = body[name]
        if isinstance(want, list):
            if not isinstance(have, list) or [_as_text(v) for v in have] != [_as_text(v) for v in want]:
                return False
        elif isinstance(want, dict):
            if not isinstance(have, dict) or not body_matches(want, have):
                return False
        elif isinstance(have, (list, dict)) or _as_text(have) != _as_text(want):
            return False
    return True


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.total = self.reads = self.writes = 0
            self.by_route: Counter = Counter()
            self.log: list[dict] = []
            self.max_in_flight = getattr(self, "in_flight", 0)
            self.in_flight = getattr(self, "in_flight", 0)

    def start(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finish(self, method: str, route_name: str, path: str, status: int, answer_lost: bool = False) -> None:
        with self._lock:
            self.in_flight -= 1
            self.total += 1
            if method in ("GET", "HEAD"):
                self.reads += 1
            elif method in ("POST", "PUT", "PATCH", "DELETE"):
                self.writes += 1
            self.by_route[route_name] += 1
            entry = {"method": method, "path": path, "status": status}
            if answer_lost:
                entry["answer_lost"] = True
            self.log.append(entry)
            if len(self.log) > MAX_LOG:
                del self.log[: len(self.log) - MAX_LOG]

    def snapshot(self) -> dict:
        with self._lock:
            return {"total": self.total, "reads": self.reads, "writes": self.writes,
                    "by_route": dict(self.by_route), "log": list(self.log),
                    "in_flight": self.in_flight, "max_in_flight": self.max_in_flight}


class Control:
    def __init__(self, state) -> None:
        self.state = state
        self.faults = Faults()
        self.counters = Counters()
        self.latency_ms = 0

    def _body(self, req) -> dict:
        if not req.body:
            return {}
        try:
            data = json.loads(req.body.decode("utf-8"))
        except ValueError:
            raise errors.error(400, "body must be JSON") from None
        if not isinstance(data, dict):
            raise errors.error(400, "body must be a JSON object")
        return data

    def handle(self, req) -> Response:
        m, path = req.method, req.path.rstrip("/")
        if path == "/-/test/reset" and m == "POST":
            self.faults.clear()
            self.counters.clear()
            self.latency_ms = 0
            self.state.reset()
            return Response(200, {"status": "ok"})
        if path == "/-/test/faults":
            if m == "POST":
                return Response(201, {"id": self.faults.add(self._fault(self._body(req)))})
            if m == "DELETE":
                self.faults.clear()
                return Response(204)
            if m == "GET":
                return Response(200, self.faults.list())
        if path == "/-/test/latency" and m == "PUT":
            self.latency_ms = max(0, int(self._body(req).get("ms") or 0))
            return Response(200, {"ms": self.latency_ms})
        if path == "/-/test/requests":
            if m == "GET":
                return Response(200, self.counters.snapshot())
            if m == "DELETE":
                self.counters.clear()
                return Response(204)
        if path == "/-/test/clock" and m in ("PUT", "GET"):
            if m == "PUT":
                self.state.clock.set_offset(int(self._body(req).get("offset_days") or 0))
            return Response(200, {"offset_days": self.state.clock.offset_days, "now": fmt_time(self.state.clock.now())})
        match = re.fullmatch(r"/-/test/objects/(deploy_tokens|deploy_keys)/(\d+)", path)
        if match and m == "PUT":
            return self._backdate(match.group(1), int(match.group(2)), self._body(req))
        if path == "/-/test/health" and m == "GET":
            return Response(200, {"status": "ok"})
        return Response(404, {"error": "404 Not Found"})

    @staticmethod
    def _fault(body: dict) -> dict:
        rule = {"method": str(body.get("method") or "*").upper(), "path": body.get("path") or ""}
        try:
            re.compile(rule["path"])
        except re.error as exc:
            raise errors.error(400, f"path is not a valid regex: {exc}") from None
        for key in ("status", "retry_after", "latency_ms", "count", "skip"):
            if body.get(key) is not None:
                try:
                    rule[key] = int(body[key])
                except (TypeError, ValueError):
                    raise errors.error(400, f"{key} must be a whole number") from None
                if rule[key] < 0:
                    raise errors.error(400, f"{key} must not be negative")
        if body.get("rate") is not None:
            rule["rate"] = float(body["rate"])
        if body.get("drop"):
            rule["drop"] = True
        if body.get("lose_answer"):
            rule["lose_answer"] = True
        if body.get("match_body") is not None:
            if not isinstance(body["match_body"], dict) or not body["match_body"]:
                raise errors.error(400, "match_body must be a non-empty JSON object of field: value")
            rule["match_body"] = body["match_body"]
        if body.get("body") is not None:
            rule["body"] = body["body"]
        if rule.get("lose_answer") and (rule.get("drop") or rule.get("status") is not None):
            # drop with status stays accepted (drop wins), as before lose_answer existed.
            raise errors.error(400, "lose_answer runs the real handler: it excludes status and drop")
        if rule.get("status") is None and not rule.get("drop") and not rule.get("lose_answer") \
                and not rule.get("latency_ms"):
            raise errors.error(400, "a fault needs status, drop, lose_answer or latency_ms")
        return rule

    def _backdate(self, kind: str, obj_id: int, body: dict) -> Response:
        table = "deploy_tokens" if kind == "deploy_tokens" else "keys"
        store = self.state.store
        with store.tx():
            row = store.get(table, obj_id)
            if not row or (table == "keys" and row["type"] != "DeployKey"):
                return Response(404, {"message": "404 Not found"})
            changes = {}
            for attr in ("created_at", "expires_at", "last_used_at"):
                if attr in body:
                    value = parse_time(body[attr]) if body[attr] is not None else None
                    if body[attr] is not None and value is None:
                        raise errors.error(400, f"{attr} is invalid")
                    changes[attr] = fmt_time(value)
            store.update(table, obj_id, **changes)
            row = store.get(table, obj_id)
        return Response(200, {"id": obj_id, "created_at": row["created_at"], "expires_at": row["expires_at"]})
