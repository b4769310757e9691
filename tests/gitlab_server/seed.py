"""Load a YAML seed into an empty store.

Format (all keys optional)::

    settings: {rsa_key_restriction: 2048, dsa_key_restriction: -1}
    users:
      - {username: alice, name: Alice, email: alice@example.test, admin: false,
         tokens: [test-token-alice]}
    groups:                      # parents before children
      - {path: fleet, name: Fleet, visibility: private, members: {alice: maintainer}}
      - {path: fleet/apps}       # or {path: apps, parent: fleet}
    projects:
      - {path: fleet/apps/api, visibility: private, initialize_with_readme: true,
         default_branch: main, members: {dave: developer}, branches: [develop]}

Access levels are role names (guest .. owner) or integers.  Seeded objects
are created by ``root`` (the admin), who therefore owns the seeded groups,
as they would in a GitLab where the admin built them.
"""

from __future__ import annotations

import yaml

from . import auth, keys, services


class SeedError(Exception):
    pass


def load(path: str | None) -> dict:
    if not path:
        return {}
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise SeedError(f"{path}: the seed must be a mapping")
    return data


def apply(state, seed: dict, admin_token: str) -> None:
    store = state.store
    settings = dict(keys.DEFAULT_RESTRICTIONS)
    settings.update(seed.get("settings") or {})
    for name, value in settings.items():
        store.set_setting(name, value)

    users: dict[str, dict] = {}
    seed_users = list(seed.get("users") or [])
    if not any(u.get("username") == "root" for u in seed_users):
        seed_users.insert(0, {"username": "root", "name": "Administrator", "email": "admin@example.com",
                              "admin": True})
    for spec in seed_users:
        username = spec["username"]
        user = services.create_user(state, username, spec.get("name") or username,
                                    spec.get("email") or f"{username}@example.com",
                                    bool(spec.get("admin")) or username == "root")
        tokens = list(spec.get("tokens") or [])
        if username == "root":
            tokens.append(admin_token)
        for i, token in enumerate(tokens):
            services.create_pat(state, user["id"], f"seed-token-{i + 1}", ["api"], None, token=str(token))
        users[username] = user
    root = users["root"]

    for spec in seed.get("groups") or []:
        path = str(spec["path"]).strip("/")
        parent_path = spec.get("parent")
        if "/" in path:
            parent_path, path = path.rsplit("/", 1)
        parent = store.group_by_ref(parent_path) if parent_path else None
        if parent_path and not parent:
            raise SeedError(f"group {path}: parent {parent_path} not declared before it")
        group = services.create_group(state, spec.get("name") or path, path, parent,
                                      spec.get("visibility") or "private", root, spec.get("description", ""))
        _members(state, users, "Namespace", group["id"], spec.get("members"))

    for spec in seed.get("projects") or []:
        full = str(spec["path"]).strip("/")
        ns_path, path = full.rsplit("/", 1) if "/" in full else (root["username"], full)
        namespace = store.one("SELECT * FROM namespaces WHERE full_path = ?", (ns_path,))
        if not namespace:
            raise SeedError(f"project {full}: namespace {ns_path} not declared")
        project = services.create_project(
            state, root, namespace, spec.get("name") or path, path, spec.get("visibility") or "private",
            spec.get("default_branch") or "main", spec.get("initialize_with_readme", True),
            spec.get("description", ""), spec.get("branches") or [])
        _members(state, users, "Project", project["id"], spec.get("members"))


def _members(state, users: dict, source_type: str, source_id: int, members) -> None:
    for username, level in (members or {}).items():
        if username not in users:
            raise SeedError(f"member {username} is not a declared user")
        services.add_member(state, source_type, source_id, users[username]["id"], auth.role_level(level))
