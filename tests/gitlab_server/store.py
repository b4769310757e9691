"""SQLite state: schema and the queries more than one route needs.

One connection shared by all threads, guarded by a re-entrant lock.  Every
API request runs inside ``Store.tx()`` (see app.py), so a request is atomic
and an error half-way rolls back, as a Rails transaction would.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name TEXT NOT NULL,
  email TEXT UNIQUE COLLATE NOCASE,
  is_admin INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'active',
  namespace_id INTEGER,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS personal_access_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  token TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  expires_at TEXT,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  last_used_at TEXT
);
-- Groups and users' personal namespaces share one id space, as in GitLab.
CREATE TABLE IF NOT EXISTS namespaces (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,            -- 'group' | 'user'
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  full_path TEXT NOT NULL UNIQUE COLLATE NOCASE,
  parent_id INTEGER,
  owner_id INTEGER,
  visibility TEXT NOT NULL DEFAULT 'private',
  description TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  namespace_id INTEGER NOT NULL,
  full_path TEXT NOT NULL UNIQUE COLLATE NOCASE,
  visibility TEXT NOT NULL DEFAULT 'private',
  default_branch TEXT,
  description TEXT,
  creator_id INTEGER,
  disk_path TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  last_activity_at TEXT NOT NULL,
  updated_at TEXT
);
CREATE TABLE IF NOT EXISTS members (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source_type TEXT NOT NULL,     -- 'Project' | 'Namespace'
  source_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  access_level INTEGER NOT NULL,
  expires_at TEXT,
  created_by_id INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  UNIQUE (source_type, source_id, user_id)
);
-- Users' SSH keys and deploy keys share the keys table (fingerprint
-- uniqueness spans both: app/models/key.rb validates :fingerprint_sha256,
-- uniqueness: true).
CREATE TABLE IF NOT EXISTS keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT,                     -- NULL (user key) | 'DeployKey'
  user_id INTEGER,
  title TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT,
  fingerprint_sha256 TEXT UNIQUE,
  public INTEGER NOT NULL DEFAULT 0,
  usage_type TEXT NOT NULL DEFAULT 'auth_and_signing',
  expires_at TEXT,
  last_used_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deploy_keys_projects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  deploy_key_id INTEGER NOT NULL,
  project_id INTEGER NOT NULL,
  can_push INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (deploy_key_id, project_id)
);
CREATE TABLE IF NOT EXISTS deploy_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  username TEXT,
  token TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  expires_at TEXT,
  revoked INTEGER NOT NULL DEFAULT 0,
  project_id INTEGER,
  group_id INTEGER,
  creator_id INTEGER,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS protected_tags (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (project_id, name)
);
CREATE TABLE IF NOT EXISTS protected_tag_create_access_levels (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  protected_tag_id INTEGER NOT NULL,
  access_level INTEGER NOT NULL DEFAULT 40,  -- column default (db/structure.sql)
  user_id INTEGER,
  group_id INTEGER,
  deploy_key_id INTEGER,
  created_at TEXT NOT NULL
);
-- Package registry (routes/packages.py): one row per package version, its files' bytes inline.
CREATE TABLE IF NOT EXISTS packages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL,
  package_type TEXT NOT NULL,    -- 'pypi' | 'npm' | 'generic'
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  metadata TEXT,                 -- npm: the version's package.json; pypi: requires_python
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS package_files (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  package_id INTEGER NOT NULL,
  file_name TEXT NOT NULL,
  file_sha256 TEXT NOT NULL,
  file_sha1 TEXT NOT NULL,
  file_md5 TEXT NOT NULL,
  content BLOB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
"""

# The indexes GitLab has for the lookups the routes make on every request
# (db/structure.sql; db/schema.rb before 13.x): a request then costs the same
# however many rows the instance holds.  The UNIQUE constraints above already
# give SQLite indexes for users.username, projects/namespaces.full_path,
# keys.fingerprint_sha256, tokens, members (source_type, source_id, user_id),
# deploy_keys_projects (deploy_key_id, project_id) and protected_tags
# (project_id, name).
INDEXES = """
CREATE INDEX IF NOT EXISTS index_deploy_keys_projects_on_deploy_key_id ON deploy_keys_projects (deploy_key_id);
CREATE INDEX IF NOT EXISTS index_deploy_keys_projects_on_project_id ON deploy_keys_projects (project_id);
CREATE INDEX IF NOT EXISTS index_keys_on_user_id ON keys (user_id);
CREATE INDEX IF NOT EXISTS index_keys_on_fingerprint ON keys (fingerprint);
CREATE INDEX IF NOT EXISTS index_members_on_user_id ON members (user_id);
CREATE INDEX IF NOT EXISTS index_personal_access_tokens_on_user_id ON personal_access_tokens (user_id);
CREATE INDEX IF NOT EXISTS index_namespaces_on_parent_id ON namespaces (parent_id);
CREATE INDEX IF NOT EXISTS index_namespaces_on_owner_id ON namespaces (owner_id);
CREATE INDEX IF NOT EXISTS index_projects_on_namespace_id ON projects (namespace_id);
CREATE INDEX IF NOT EXISTS index_deploy_tokens_on_project_id ON deploy_tokens (project_id);
CREATE INDEX IF NOT EXISTS index_deploy_tokens_on_group_id ON deploy_tokens (group_id);
CREATE INDEX IF NOT EXISTS index_packages_on_project_id_and_type ON packages (project_id, package_type);
CREATE INDEX IF NOT EXISTS index_package_files_on_package_id ON package_files (package_id);
CREATE INDEX IF NOT EXISTS index_protected_tags_on_project_id ON protected_tags (project_id);
CREATE INDEX IF NOT EXISTS index_protected_tag_create_access ON protected_tag_create_access_levels (protected_tag_id);
CREATE INDEX IF NOT EXISTS index_protected_tag_create_access_levels_on_deploy_key_id
  ON protected_tag_create_access_levels (deploy_key_id);
CREATE INDEX IF NOT EXISTS index_protected_tag_create_access_levels_on_user_id
  ON protected_tag_create_access_levels (user_id);
CREATE INDEX IF NOT EXISTS index_protected_tag_create_access_levels_on_group_id
  ON protected_tag_create_access_levels (group_id);
"""

# Columns added after the first release: an existing ``--db`` file gets them
# on start (``CREATE TABLE IF NOT EXISTS`` leaves old tables as they are).
ADDED_COLUMNS = (("members", "updated_at", "TEXT"), ("projects", "updated_at", "TEXT"))

TABLES = ("users", "personal_access_tokens", "namespaces", "projects", "members", "keys",
          "deploy_keys_projects", "deploy_tokens", "protected_tags",
          "protected_tag_create_access_levels", "packages", "package_files", "settings")


def _dict_factory(cursor, row):
    return {col[0]: row[i] for i, col in enumerate(cursor.description)}


class Store:
    def __init__(self, path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self.conn.row_factory = _dict_factory
        self.conn.execute("PRAGMA foreign_keys = OFF")
        if path:
            self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(SCHEMA)
        for table, column, decl in ADDED_COLUMNS:
            have = {r["name"] for r in self.conn.execute(f"PRAGMA table_info({table})").fetchall()}
            if column not in have:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        self.conn.executescript(INDEXES)
        self._depth = 0

    # --- transactions -------------------------------------------------------
    @contextlib.contextmanager
    def tx(self):
        with self.lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self.conn.execute("COMMIT")

    def wipe(self) -> None:
        """Drop all rows and restart the id sequences (used by reset)."""
        with self.lock:
            for table in TABLES:
                self.conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            self.conn.execute("DELETE FROM sqlite_sequence")

    # --- generic helpers ----------------------------------------------------
    def all(self, sql: str, args=()) -> list[dict]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def one(self, sql: str, args=()) -> dict | None:
        with self.lock:
            return self.conn.execute(sql, args).fetchone()

    def run(self, sql: str, args=()) -> int:
        with self.lock:
            return self.conn.execute(sql, args).lastrowid

    def insert(self, table: str, **values) -> int:
        cols = ", ".join(values)
        marks = ", ".join("?" for dummy in values)
        return self.run(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(values.values()))  # noqa: S608

    def update(self, table: str, row_id: int, **values) -> None:
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        self.run(f"UPDATE {table} SET {sets} WHERE id = ?", (*values.values(), row_id))  # noqa: S608

    def get(self, table: str, row_id) -> dict | None:
        return self.one(f"SELECT * FROM {table} WHERE id = ?", (row_id,))  # noqa: S608

    # --- settings -----------------------------------------------------------
    def settings(self) -> dict:
        return {r["name"]: json.loads(r["value"]) for r in self.all("SELECT * FROM settings")}

    def set_setting(self, name: str, value) -> None:
        self.run("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    # --- lookups shared by several routes -------------------------------------
    def user_by_token(self, token: str) -> tuple[dict, dict] | None:
        pat = self.one("SELECT * FROM personal_access_tokens WHERE token = ?", (token,))
        if not pat:
            return None
        return self.get("users", pat["user_id"]), pat

    def user_by_username(self, username: str) -> dict | None:
        return self.one("SELECT * FROM users WHERE username = ?", (username,))

    def project_by_ref(self, ref: str) -> dict | None:
        """``find_project`` (lib/api/helpers.rb): ``/^-?\\d+$/`` -> id, a value
        with ``/`` -> full path, anything else finds nothing."""
        ref = str(ref)
        if ref.lstrip("-").isdigit():
            return self.get("projects", int(ref))
        if "/" in ref:
            return self.one("SELECT * FROM projects WHERE full_path = ?", (ref,))
        return None

    def group_by_ref(self, ref: str) -> dict | None:
        ref = str(ref)
        if ref.isdigit():
            return self.one("SELECT * FROM namespaces WHERE id = ? AND kind = 'group'", (int(ref),))
        return self.one("SELECT * FROM namespaces WHERE full_path = ? AND kind = 'group'", (ref,))

    def namespace_chain(self, namespace_id: int | None) -> list[dict]:
        """The namespace and its ancestors, nearest first."""
        chain = []
        while namespace_id:
            ns = self.get("namespaces", namespace_id)
            if not ns:
                break
            chain.append(ns)
            namespace_id = ns["parent_id"]
        return chain

    def member_row(self, source_type: str, source_id: int, user_id: int) -> dict | None:
        return self.one("SELECT * FROM members WHERE source_type = ? AND source_id = ? AND user_id = ?",
                        (source_type, source_id, user_id))

    def project_deploy_key(self, project_id: int, key_id: int) -> dict | None:
        return self.one(
            "SELECT k.*, dkp.can_push, dkp.id AS dkp_id FROM deploy_keys_projects dkp "
            "JOIN keys k ON k.id = dkp.deploy_key_id WHERE dkp.project_id = ? AND k.id = ?",
            (project_id, key_id))
