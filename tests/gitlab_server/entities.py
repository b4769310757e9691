"""JSON renderings of GitLab's API entities (lib/api/entities/*.rb)."""

from __future__ import annotations

import json

from . import auth
from .clock import stored_date

ACCESS_LEVEL_DESCRIPTIONS = {  # ProtectedRefAccess.human_access_levels (app/models/concerns/protected_ref_access.rb)
    0: "No one", 30: "Developers + Maintainers", 40: "Maintainers", 60: "Instance admins",
}
# DeployToken::AVAILABLE_SCOPES (app/models/deploy_token.rb); DeployToken#scopes
# lists the enabled ones in this order.
DEPLOY_TOKEN_SCOPES = ("read_repository", "read_registry", "write_registry", "read_package_registry",
                       "write_package_registry", "read_virtual_registry", "write_virtual_registry")


def user_basic(req, user: dict) -> dict:
    return {
        "id": user["id"], "username": user["username"], "public_email": None, "name": user["name"],
        "state": user["state"], "locked": False, "avatar_url": None,
        "web_url": f"{req.base_url}/{user['username']}",
    }


def user(req, row: dict) -> dict:
    """``Entities::User``; ``UserWithAdmin`` fields when an admin asks."""
    out = user_basic(req, row)
    out.update({"created_at": row["created_at"], "bio": "", "location": "", "linkedin": "",
                "twitter": "", "discord": "", "website_url": "", "organization": "", "job_title": "",
                "pronouns": None, "bot": False, "work_information": None, "followers": 0,
                "following": 0, "is_followed": False, "local_time": None})
    viewer = req.user
    if viewer and (viewer["is_admin"] or viewer["id"] == row["id"]):
        out.update({"last_sign_in_at": None, "confirmed_at": row["created_at"], "last_activity_on": None,
                    "email": row["email"], "theme_id": 1, "color_scheme_id": 1, "projects_limit": 100000,
                    "current_sign_in_at": None, "identities": [], "can_create_group": True,
                    "can_create_project": True, "two_factor_enabled": False, "external": False,
                    "private_profile": False, "commit_email": row["email"], "shared_runners_minutes_limit": None,
                    "extra_shared_runners_minutes_limit": None, "scim_identities": []})
    if viewer and viewer["is_admin"]:
        out.update({"is_admin": bool(row["is_admin"]), "note": None, "namespace_id": row["namespace_id"],
                    "created_by": None, "email_reset_offered_at": None, "using_license_seat": False,
                    "is_auditor": False, "provisioned_by_group_id": None})
    return out


def namespace(req, ns: dict) -> dict:
    return {
        "id": ns["id"], "name": ns["name"], "path": ns["path"], "kind": ns["kind"],
        "full_path": ns["full_path"], "parent_id": ns["parent_id"], "avatar_url": None,
        "web_url": f"{req.base_url}/{'groups/' if ns['kind'] == 'group' else ''}{ns['full_path']}",
    }


def _full_name(store, ns_id: int) -> str:
    return " / ".join(ns["name"] for ns in reversed(store.namespace_chain(ns_id)))


def project_identity(req, store, p: dict) -> dict:
    """``Entities::ProjectIdentity`` (lib/api/entities/project_identity.rb)."""
    return {"id": p["id"], "description": p["description"], "name": p["name"],
            "name_with_namespace": f"{_full_name(store, p['namespace_id'])} / {p['name']}",
            "path": p["path"], "path_with_namespace": p["full_path"], "created_at": p["created_at"]}


def project(req, store, p: dict) -> dict:
    ns = store.get("namespaces", p["namespace_id"])
    host = req.host.split(":")[0]
    out = project_identity(req, store, p)
    empty = p["default_branch"] is None
    out.update({
        "default_branch": p["default_branch"], "tag_list": [], "topics": [],
        "ssh_url_to_repo": f"git@{host}:{p['full_path']}.git",
        "http_url_to_repo": f"{req.base_url}/{p['full_path']}.git",
        "web_url": f"{req.base_url}/{p['full_path']}",
        "readme_url": None if empty else f"{req.base_url}/{p['full_path']}/-/blob/{p['default_branch']}/README.md",
        "forks_count": 0, "avatar_url": None, "star_count": 0, "last_activity_at": p["last_activity_at"],
        "namespace": namespace(req, ns),
        "container_registry_image_prefix": f"{host}/{p['full_path']}",
        "_links": {"self": f"{req.base_url}/api/v4/projects/{p['id']}"},
        "empty_repo": empty, "archived": False, "visibility": p["visibility"],
        "creator_id": p["creator_id"], "open_issues_count": 0, "repository_access_level": "enabled",
        "container_registry_enabled": True, "container_registry_access_level": "enabled",
        "shared_with_groups": [], "only_allow_merge_if_pipeline_succeeds": False,
    })
    if req.user:
        direct = store.member_row("Project", p["id"], req.user["id"])
        group_level = auth.group_access(store, req.user, ns) if ns["kind"] == "group" else 0
        out["permissions"] = {
            "project_access": {"access_level": direct["access_level"], "notification_level": 3} if direct else None,
            "group_access": {"access_level": group_level, "notification_level": 3} if group_level else None,
        }
    return out


def group(req, store, g: dict) -> dict:
    return {
        "id": g["id"], "web_url": f"{req.base_url}/groups/{g['full_path']}", "name": g["name"],
        "path": g["path"], "description": g["description"], "visibility": g["visibility"],
        "share_with_group_lock": False, "require_two_factor_authentication": False,
        "two_factor_grace_period": 48, "project_creation_level": "developer",
        "auto_devops_enabled": None, "subgroup_creation_level": "maintainer", "emails_disabled": False,
        "emails_enabled": True, "mentions_disabled": None, "lfs_enabled": True,
        "default_branch_protection": 2, "avatar_url": None, "request_access_enabled": True,
        "full_name": _full_name(store, g["id"]), "full_path": g["full_path"],
        "created_at": g["created_at"], "parent_id": g["parent_id"], "organization_id": 1,
        "shared_runners_setting": "enabled", "ldap_cn": None, "ldap_access": None, "marked_for_deletion_on": None,
    }


def member(req, store, m: dict) -> dict:
    u = store.get("users", m["user_id"])
    out = user_basic(req, u)
    creator = store.get("users", m["created_by_id"]) if m["created_by_id"] else None
    out.update({"access_level": m["access_level"], "created_at": m["created_at"],
                "created_by": user_basic(req, creator) if creator else None,
                "expires_at": m["expires_at"][:10] if m["expires_at"] else None,
                "membership_state": "active"})
    return out


def ssh_key(key: dict) -> dict:
    """``Entities::SSHKey``."""
    return {"id": key["id"], "title": key["title"], "created_at": key["created_at"],
            "expires_at": key["expires_at"], "key": key["key"], "usage_type": key["usage_type"]}


def deploy_key(key: dict) -> dict:
    """``Entities::DeployKey`` (lib/api/entities/deploy_key.rb): the stored key
    plus both fingerprints."""
    out = ssh_key(key)
    out["fingerprint"] = key["fingerprint"]
    out["fingerprint_sha256"] = key["fingerprint_sha256"]
    return out


def deploy_keys_project(key: dict, can_push) -> dict:
    """``Entities::DeployKeysProject``: DeployKey fields flat plus ``can_push``."""
    out = deploy_key(key)
    out["can_push"] = bool(can_push)
    return out


def deploy_token(token: dict, today, with_token: bool = False) -> dict:
    """``Entities::DeployToken`` / ``DeployTokenWithToken``
    (lib/api/entities/deploy_token.rb, deploy_token_with_token.rb)."""
    expires = stored_date(token["expires_at"])
    out = {"id": token["id"], "name": token["name"], "username": token["username"],
           "expires_at": token["expires_at"]}
    if with_token:
        out["token"] = token["token"]
    out.update({"revoked": bool(token["revoked"]),
                "expired": bool(expires is not None and expires < today),
                "scopes": [s for s in DEPLOY_TOKEN_SCOPES if s in json.loads(token["scopes"])]})
    return out


def pat(token: dict, today, with_token: bool = False) -> dict:
    expires = stored_date(token["expires_at"])
    active = not token["revoked"] and (expires is None or expires > today)
    out = {"id": token["id"], "name": token["name"], "revoked": bool(token["revoked"]),
           "created_at": token["created_at"], "description": None, "scopes": token["scopes"].split(),
           "user_id": token["user_id"], "last_used_at": token["last_used_at"], "active": active,
           "expires_at": token["expires_at"][:10] if token["expires_at"] else None}
    if with_token:
        out["token"] = token["token"]
    return out
