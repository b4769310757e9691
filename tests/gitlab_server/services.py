"""Operations that change state in more than one place (rows plus git
repositories), shared by the API routes and the seed loader."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from . import auth
from .clock import fmt_time


def random_token(prefix: str, length: int = 20) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
    return prefix + "".join(secrets.choice(alphabet) for dummy in range(length))


def parameterize(name: str) -> str:
    """ActiveSupport ``parameterize`` (what GitLab derives a path from)."""
    slug = re.sub(r"[^a-z0-9\-_]+", "-", name.lower())
    slug = re.sub(r"-{2,}", "-", slug)
    return slug.strip("-")


def create_user(state, username: str, name: str, email: str | None, is_admin: bool = False) -> dict:
    store, now = state.store, fmt_time(state.clock.now())
    user_id = store.insert("users", username=username, name=name, email=email,
                           is_admin=int(bool(is_admin)), created_at=now)
    ns_id = store.insert("namespaces", kind="user", name=name, path=username, full_path=username,
                         owner_id=user_id, visibility="public", created_at=now)
    store.update("users", user_id, namespace_id=ns_id)
    return store.get("users", user_id)


def create_pat(state, user_id: int, name: str, scopes: list[str], expires_at: str | None,
               token: str | None = None) -> dict:
    store = state.store
    pat_id = store.insert("personal_access_tokens", user_id=user_id, name=name,
                          token=token or random_token("glpat-"), scopes=" ".join(scopes),
                          expires_at=expires_at, created_at=fmt_time(state.clock.now()))
    return store.get("personal_access_tokens", pat_id)


def create_group(state, name: str, path: str, parent: dict | None, visibility: str,
                 creator: dict | None, description: str = "") -> dict:
    store, now = state.store, fmt_time(state.clock.now())
    full_path = f"{parent['full_path']}/{path}" if parent else path
    group_id = store.insert("namespaces", kind="group", name=name, path=path, full_path=full_path,
                            parent_id=parent["id"] if parent else None, visibility=visibility,
                            description=description or "", created_at=now)
    if creator:
        # Groups::CreateService adds the creator as Owner.
        add_member(state, "Namespace", group_id, creator["id"], auth.OWNER, creator["id"])
    return store.get("namespaces", group_id)


def add_member(state, source_type: str, source_id: int, user_id: int, level: int,
               created_by: int | None = None, expires_at: str | None = None) -> dict:
    store, now = state.store, fmt_time(state.clock.now())
    existing = store.member_row(source_type, source_id, user_id)
    if existing:
        if existing["access_level"] != level:
            store.update("members", existing["id"], access_level=level, updated_at=now)
        return store.get("members", existing["id"])
    member_id = store.insert("members", source_type=source_type, source_id=source_id, user_id=user_id,
                             access_level=level, created_by_id=created_by, expires_at=expires_at,
                             created_at=now, updated_at=now)
    return store.get("members", member_id)


def create_project(state, creator: dict, namespace: dict, name: str, path: str, visibility: str,
                   default_branch: str, initialize_with_readme: bool, description: str = "",
                   branches: list[str] = ()) -> dict:
    store, now = state.store, state.clock.now()
    full_path = f"{namespace['full_path']}/{path}"
    project_id = store.insert("projects", name=name, path=path, namespace_id=namespace["id"],
                              full_path=full_path, visibility=visibility,
                              default_branch=default_branch if initialize_with_readme else None,
                              description=description or "", creator_id=creator["id"] if creator else None,
                              created_at=fmt_time(now), last_activity_at=fmt_time(now), updated_at=fmt_time(now))
    readme = f"# {name}\n\n{description}\n" if initialize_with_readme else None
    author = (creator["name"], creator["email"] or f"{creator['username']}@example.com") if creator else \
        ("Administrator", "admin@example.com")
    disk = state.repos.create(project_id, default_branch, readme, author, now, list(branches))
    store.update("projects", project_id, disk_path=disk)
    if namespace["kind"] == "user":
        # Projects::CreateService: the personal-namespace owner becomes Owner.
        # In a group nobody is added; the creator's group role applies (INFERRED
        # from newer CreateService#setup_authorizations).
        add_member(state, "Project", project_id, namespace["owner_id"], auth.OWNER, creator and creator["id"])
    return store.get("projects", project_id)


def destroy_deploy_keys_project(state, dkp: dict) -> None:
    """Remove a join row; an orphaned *private* key is destroyed with it
    (app/models/deploy_keys_project.rb ``destroy_orphaned_deploy_key``;
    app/models/deploy_key.rb ``destroyed_when_orphaned?`` is ``private?``)."""
    store = state.store
    store.run("DELETE FROM deploy_keys_projects WHERE id = ?", (dkp["id"],))
    key = store.get("keys", dkp["deploy_key_id"])
    if key and not key["public"]:
        left = store.one("SELECT 1 FROM deploy_keys_projects WHERE deploy_key_id = ? LIMIT 1", (key["id"],))
        if left is None:
            destroy_key(state, key["id"])


def destroy_key(state, key_id: int) -> None:
    """Delete a row of ``keys`` with what the database removes with it: the
    foreign key from ``protected_tag_create_access_levels.deploy_key_id`` to
    ``keys`` is ``ON DELETE CASCADE`` (db/structure.sql; added by the
    migration ``AddIndexForProtectedTagCreateAccessLevels``:
    ``add_concurrent_foreign_key :protected_tag_create_access_levels, :keys,
    column: :deploy_key_id, on_delete: :cascade``).  Any link rows left go
    too (callers destroy keys that have none).

    A protected tag whose only access level named the key keeps existing with
    no access levels at all: ProtectedRef has no length validation and nothing
    destroys the tag (app/models/concerns/protected_ref.rb), so the API shows
    ``"create_access_levels": []`` and nobody may create matching tags
    (``protected_ref_accessible_to?`` finds no level that grants access)."""
    store = state.store
    store.run("DELETE FROM protected_tag_create_access_levels WHERE deploy_key_id = ?", (key_id,))
    store.run("DELETE FROM deploy_keys_projects WHERE deploy_key_id = ?", (key_id,))
    store.run("DELETE FROM keys WHERE id = ?", (key_id,))


def touch_project(state, project_id: int) -> None:
    """``belongs_to :project, touch: true`` of protected refs
    (app/models/concerns/protected_ref.rb): creating or destroying a protected
    tag moves ``projects.updated_at``, which ``DELETE /projects/:id`` compares
    with ``If-Unmodified-Since``."""
    state.store.update("projects", project_id, updated_at=fmt_time(state.clock.now()))


def delete_project(state, project: dict) -> None:
    store = state.store
    for dkp in store.all("SELECT * FROM deploy_keys_projects WHERE project_id = ?", (project["id"],)):
        destroy_deploy_keys_project(state, dkp)
    store.run("DELETE FROM protected_tag_create_access_levels WHERE protected_tag_id IN "
              "(SELECT id FROM protected_tags WHERE project_id = ?)", (project["id"],))
    store.run("DELETE FROM protected_tags WHERE project_id = ?", (project["id"],))
    store.run("DELETE FROM deploy_tokens WHERE project_id = ?", (project["id"],))
    store.run("DELETE FROM members WHERE source_type = 'Project' AND source_id = ?", (project["id"],))
    store.run("DELETE FROM projects WHERE id = ?", (project["id"],))
    state.repos.remove(project["disk_path"])


def default_pat_expiry(state) -> str:
    # Since 16.0 a token without expiry gets the maximum lifetime (365 days).
    return fmt_time(state.clock.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=365))
