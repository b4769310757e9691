"""Protected-tag matching and the tag rules GitLab applies on creation.

Shared by the tags API now and by ``/internal/allowed`` (git push) later.
"""

from __future__ import annotations

import re

from . import auth


def rule_matches(rule: str, tag: str) -> bool:
    """ProtectedRefMatcher (app/models/protected_ref_matcher.rb): exact name, or ``*`` = any characters
    (including ``/`` and nothing); everything else literal."""
    if rule == tag:
        return True
    if "*" not in rule:
        return False
    regex = ".*?".join(re.escape(part) for part in rule.split("*"))
    return re.fullmatch(regex, tag, flags=re.DOTALL) is not None


def matching_rules(store, project_id: int, tag: str) -> list[dict]:
    rules = store.all("SELECT * FROM protected_tags WHERE project_id = ? ORDER BY id", (project_id,))
    return [r for r in rules if rule_matches(r["name"], tag)]


def is_protected(store, project_id: int, tag: str) -> bool:
    return bool(matching_rules(store, project_id, tag))


def _level_allows(store, level: dict, user: dict, project: dict, deploy_key: dict | None) -> bool:
    """ProtectedRefAccess#check_access for one create-access row."""
    if level["deploy_key_id"] is not None:
        # Only a deploy key acting for itself can use its row
        # (app/models/concerns/protected_ref_deploy_key_access.rb).
        if not deploy_key or deploy_key["id"] != level["deploy_key_id"]:
            return False
        row = store.one("SELECT can_push FROM deploy_keys_projects WHERE deploy_key_id = ? AND project_id = ?",
                        (deploy_key["id"], project["id"]))
        return bool(row and row["can_push"]) and auth.project_access(store, user, project) >= auth.GUEST
    if level["user_id"] is not None:
        return level["user_id"] == user["id"] and auth.project_level(store, user, project) >= auth.DEVELOPER
    if level["group_id"] is not None:
        group = store.get("namespaces", level["group_id"])
        return bool(group) and auth.group_access(store, user, group) > auth.NO_ACCESS \
            and auth.project_level(store, user, project) >= auth.DEVELOPER
    access = level["access_level"]
    if access == 0:
        return False                               # "No one"
    if access == auth.ADMIN:
        return bool(user["is_admin"])              # "Instance admins"
    # role_access_allowed?: push_code and team max access (no admin bypass).
    return auth.project_level(store, user, project) >= auth.DEVELOPER \
        and auth.project_access(store, user, project) >= access


def can_create_protected_tag(store, user: dict | None, project: dict, tag: str,
                             deploy_key: dict | None = None) -> bool:
    """Union over every matching rule: the most permissive wins
    (app/models/concerns/protected_ref.rb ``protected_ref_accessible_to?``)."""
    if user is None:
        return False
    for rule in matching_rules(store, project["id"], tag):
        levels = store.all("SELECT * FROM protected_tag_create_access_levels WHERE protected_tag_id = ?",
                           (rule["id"],))
        if any(_level_allows(store, lv, user, project, deploy_key) for lv in levels):
            return True
    return False


def tag_create_violation(store, user, project: dict, tag: str, deploy_key: dict | None = None) -> str | None:
    """Gitlab::Checks::TagCheck messages for creating a tag
    (lib/gitlab/checks/tag_check.rb)."""
    if project["default_branch"] and tag == project["default_branch"]:
        return "You cannot use default branch name to create a tag"
    if tag.startswith("refs/tags/"):
        return "You cannot create a tag with a prohibited pattern."
    if re.match(r"[0-9a-f]{40}(?:[0-9a-f]{24})?", tag):
        return "You cannot create a tag with a SHA-1 or SHA-256 tag name."
    if is_protected(store, project["id"], tag) and not can_create_protected_tag(store, user, project, tag, deploy_key):
        return "You are not allowed to create this tag as it is protected."
    return None
