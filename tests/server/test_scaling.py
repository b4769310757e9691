"""The cost of one request does not grow with the instance (performance
issue: linking an existing deploy key used to read every deploy-key link).

Measured in-process on the server's SQLite connection, not with a clock:
the number of SQL statements and of SQLite virtual-machine instructions a
request executes.  An indexed lookup is a fixed number of instructions
whatever the table size; a scan is not.  GitLab answers the same request with
indexed queries (``User#accessible_deploy_keys`` in app/models/user.rb over
``index_deploy_keys_projects_on_deploy_key_id`` / ``..._on_project_id``).
"""

from __future__ import annotations

import email.message
import json
import secrets

import pytest

from gitlab_server import keys as keys_mod
from gitlab_server import services
from gitlab_server.app import ApiApp, Request
from gitlab_server.clock import fmt_time
from gitlab_server.control import Control
from gitlab_server.routes import build_router
from gitlab_server.state import State
from support import sshkeys

ADMIN_TOKEN = "scaling-admin-token"


class Meter:
    """Counts statements (trace callback) and VM instructions (progress
    handler called after every instruction) on one sqlite3 connection."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.statements: list[str] = []
        self.steps = 0

    def _step(self) -> int:
        self.steps += 1
        return 0

    def __enter__(self):
        self.conn.set_trace_callback(self.statements.append)
        self.conn.set_progress_handler(self._step, 1)
        return self

    def __exit__(self, *exc) -> None:
        self.conn.set_trace_callback(None)
        self.conn.set_progress_handler(None, 0)


def _instance(tmp_path, unrelated_links: int):
    """A server with one maintainer, the key to link (enabled in project A),
    project B to link it to, and ``unrelated_links`` other deploy-key links
    in projects the maintainer cannot see."""
    state = State(None, str(tmp_path / f"repos-{unrelated_links}"), {}, ADMIN_TOKEN)
    state.bootstrap()
    app = ApiApp(state, build_router(), Control(state))
    store, now = state.store, fmt_time(state.clock.now())
    with store.tx():
        root = store.user_by_username("root")
        maint = services.create_user(state, "maint", "Maint", "maint@example.test")
        services.create_pat(state, maint["id"], "t", ["api"], None, token="maint-token")
        group = services.create_group(state, "g", "g", None, "private", root)
        services.add_member(state, "Namespace", group["id"], maint["id"], 40)
        other = services.create_group(state, "other", "other", None, "private", root)

        def project(name, ns):
            return store.insert("projects", name=name, path=name, namespace_id=ns["id"],
                                full_path=f"{ns['full_path']}/{name}", visibility="private",
                                created_at=now, last_activity_at=now, updated_at=now)

        def key(text, owner):
            pk = keys_mod.parse(text)
            return store.insert("keys", type="DeployKey", user_id=owner["id"], title="k", key=text,
                                fingerprint=pk.fingerprint_md5 if pk else None,
                                fingerprint_sha256=pk.fingerprint_sha256 if pk else secrets.token_hex(16),
                                created_at=now, updated_at=now)

        def link(key_id, project_id):
            store.insert("deploy_keys_projects", deploy_key_id=key_id, project_id=project_id, can_push=0,
                         created_at=now, updated_at=now)

        key_text = sshkeys.public_key()
        project_a, project_b = project("a", group), project("b", group)
        link(key(key_text, maint), project_a)
        for i in range(unrelated_links):
            link(key(f"ssh-ed25519 not-a-real-key-{i}", root), project(f"p{i}", other))
    return app, project_b, key_text


def _link_request(app, project_id: int, key_text: str) -> Request:
    headers = email.message.Message()
    headers["PRIVATE-TOKEN"] = "maint-token"
    headers["Content-Type"] = "application/json"
    body = json.dumps({"title": "ignored", "key": key_text, "can_push": True}).encode()
    return Request("POST", f"/api/v4/projects/{project_id}/deploy_keys", "", headers, body, app=app)


def _measure(tmp_path, unrelated_links: int):
    app, project_b, key_text = _instance(tmp_path, unrelated_links)
    with Meter(app.state.store.conn) as meter:
        resp = app.handle(_link_request(app, project_b, key_text))
    assert resp.status == 201, resp.body
    assert resp.body["can_push"] is True and resp.body["title"] == "k"      # linked, not created
    links = app.state.store.all("SELECT * FROM deploy_keys_projects WHERE deploy_key_id = ?", (resp.body["id"],))
    assert sorted(r["project_id"] for r in links) == [project_b - 1, project_b]
    return meter


def test_linking_an_existing_key_costs_the_same_on_a_bigger_instance(tmp_path):
    # Both instances have rows after the candidate's in every index, so even
    # the instruction that finds "no further match" is the same.
    small = _measure(tmp_path, 20)
    big = _measure(tmp_path, 400)
    assert len(big.statements) == len(small.statements), big.statements
    assert big.steps == small.steps, (small.steps, big.steps)


def test_the_link_lookup_reads_only_the_candidate_keys_links(tmp_path):
    meter = _measure(tmp_path, 50)
    reads = [s for s in meter.statements if "deploy_keys_projects" in s and s.lstrip().upper().startswith("SELECT")]
    assert reads, meter.statements
    for sql in reads:
        assert "WHERE" in sql.upper() and ("deploy_key_id = " in sql or "project_id = " in sql), sql


@pytest.mark.parametrize("table, column", [
    ("deploy_keys_projects", "deploy_key_id"), ("deploy_keys_projects", "project_id"),
    ("protected_tag_create_access_levels", "deploy_key_id"),
    ("protected_tag_create_access_levels", "protected_tag_id"), ("members", "user_id"),
])
def test_hot_lookups_use_an_index(tmp_path, table, column):
    state = State(None, str(tmp_path / "repos"), {}, ADMIN_TOKEN)
    plan = state.store.all(f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE {column} = ?", (1,))  # noqa: S608
    detail = " ".join(row["detail"] for row in plan)
    assert "USING INDEX" in detail or "USING COVERING INDEX" in detail, detail
