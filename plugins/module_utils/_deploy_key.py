# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy keys: records, matching and the pure plan.

Everything here is pure (no client, no ``module``, no I/O) except
:func:`find_project_deploy_keys`, one list request through the client layer.
Other modules (``protected_tag``) reuse :func:`find_project_deploy_keys` and
:func:`match_deploy_key` to find a key on a project.

Identity is the SHA256 fingerprint of the key blob, never the title or the
raw key text: GitLab keeps only the first comment word, so text comparison
churns (spec §2.2). ``title`` and ``can_push`` are attributes; ``expires_at``
belongs to the key and cannot be updated (spec §2.5).
"""

from __future__ import annotations

import datetime
import fnmatch

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import (
    normalize_fingerprint,
    sha256_fingerprint,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Action


RECORD_FIELDS = ("id", "title", "key", "fingerprint_sha256", "can_push", "created_at", "expires_at", "usage_type")


# --- records and matching ---------------------------------------------------

def key_record(attrs):
    """A deploy key as a plain dict of GitLab's fields (from a list item or a write's answer).

    ``fingerprint_sha256`` is always set, in GitLab's unpadded form, computed
    from the key text when GitLab left it out.
    """
    record = {field: attrs.get(field) for field in RECORD_FIELDS}
    if record["fingerprint_sha256"]:
        record["fingerprint_sha256"] = normalize_fingerprint(record["fingerprint_sha256"])
    else:
        record["fingerprint_sha256"] = _text_fingerprint(record["key"])
    record["can_push"] = bool(record["can_push"])
    return record


def _text_fingerprint(text):
    parts = (text or "").split()
    if len(parts) < 2:
        return None
    try:
        return sha256_fingerprint(parts[1])
    except ValueError:  # binascii.Error: not a key blob
        return None


def find_project_deploy_keys(client, project_ref):
    """Every deploy key enabled on one project, as :func:`key_record` dicts.

    One request (100 keys a page). Raises :class:`GitlabModuleError` naming the
    project on 404/403 and other API errors.
    """
    project = client.project(project_ref)
    items = client.call("list deploy keys", project_ref, client.list_all, project.keys)
    return [key_record(item.asdict()) for item in items]


def match_deploy_key(keys, key=None, fingerprint=None, title=None):
    """The records of ``keys`` that match, in their order (pure).

    ``key`` is an OpenSSH public key line or a parsed ``PublicKey``;
    ``fingerprint`` takes ``SHA256:abc``, ``abc`` or ``abc=``; ``title`` is an
    exact title or a glob (``runner-*``). Criteria given together must all
    match. A key or fingerprint matches at most one record per project (GitLab
    keeps one key per fingerprint); a title may match several.
    """
    if key is None and fingerprint is None and title is None:
        raise ValueError("match_deploy_key needs key, fingerprint or title")
    wanted = set()
    if key is not None:
        wanted.add(key.fingerprint_sha256 if hasattr(key, "fingerprint_sha256") else _text_fingerprint(str(key)))
    if fingerprint is not None:
        wanted.add(normalize_fingerprint(fingerprint))
    if len(wanted) > 1:
        return []
    found = []
    for record in keys:
        if wanted and record["fingerprint_sha256"] not in wanted:
            continue
        if title is not None and not fnmatch.fnmatchcase(record["title"] or "", title):
            continue
        found.append(record)
    return found


# --- desired state ------------------------------------------------------------

def parse_expires_at(value, option="expires_at"):
    """``YYYY-MM-DD`` or an ISO 8601 date-time -> an aware UTC ``datetime`` (or ``None``)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            parsed = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time())
        else:
            parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise GitlabModuleError("%s must be a date (2030-01-31) or an ISO 8601 date-time, got %r" % (option, value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def iso_utc(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


class Desired:
    """What the task asks for, validated before any request."""

    def __init__(self, state="present", key=None, title=None, can_push=False, expires_at=None,
                 purge_titles=(), recreate=False, can_push_by_project=None):
        self.state = state
        self.key = key  # a PublicKey, or None (state=absent by title)
        self.title = title
        self.can_push = bool(can_push)
        # Per-project overrides ({project: bool}), so one run can give a host
        # push on some projects and read-only on others.
        self.can_push_by_project = dict(can_push_by_project or {})
        self.expires_at = expires_at  # aware datetime or None: "do not care"
        self.purge_titles = list(purge_titles or ())
        self.recreate = recreate

    @property
    def fingerprint(self):
        return self.key.fingerprint_sha256 if self.key is not None else None

    def can_push_on(self, project):
        """Whether the key may push to ``project``: its own setting, else O(can_push)."""
        return bool(self.can_push_by_project.get(project, self.can_push))

    def create_title(self):
        """The title for a new key: ``title``, else the key's comment."""
        title = self.title or (self.key.comment.split()[0] if self.key.comment.split() else None)
        if not title:
            raise GitlabModuleError(
                "title is required to add a new deploy key (the key has no comment to use instead); "
                "set title, e.g. title: runner-fleet"
            )
        return title


def view(record, **changes):
    """The non-secret attributes shown in actions and the diff."""
    shown = {
        "id": record.get("id"),
        "title": record.get("title"),
        "fingerprint_sha256": "SHA256:%s" % record["fingerprint_sha256"] if record.get("fingerprint_sha256") else None,
        "can_push": bool(record.get("can_push")),
        "expires_at": record.get("expires_at"),
    }
    shown.update(changes)
    return shown


def same_expiry(current, wanted):
    """Whether GitLab's ``expires_at`` (text or None) is the wanted moment (datetime or None)."""
    if wanted is None:
        return current is None
    if current is None:
        return False
    return parse_expires_at(current) == wanted


# --- the plan ---------------------------------------------------------------

class Plan:
    """The actions to apply, plus notes on what GitLab will not do."""

    def __init__(self, actions, notes, key_id=None):
        self.actions = actions
        self.notes = notes
        self.key_id = key_id


def title_check_needs_admin(current, desired):
    """Whether planning must know if the caller is an admin (costs ``GET /user``).

    Only when the key's title differs and the key is on more than one of the
    task's projects: in exactly one, a maintainer may rename it anyway.
    """
    if desired.state != "present" or desired.title is None or desired.key is None:
        return False
    holders = [rec for keys in current.values() for rec in keys if rec["fingerprint_sha256"] == desired.fingerprint]
    return len(holders) > 1 and any(rec["title"] != desired.title for rec in holders)


def plan(current, desired, is_admin=None):
    """Pure plan from ``current`` ({project: [records]}, in task order) and ``desired``.

    Action kinds and the ``data`` apply() needs:

    * ``create``: POST the key on this project (the first one that lacks it
      when the key is on none of the task's projects);
    * ``enable``: link the key already known on a sibling project (``key_id``,
      ``key_text`` as GitLab stores it) or created by this run's ``create``;
    * ``update``: PUT ``changes`` (``can_push``, ``title``) on ``key_id``;
    * ``recreate``: remove the key (``key_id``) to add it again with the new
      expiry (``recreate: true``); ``then`` is ``create`` or ``enable``;
    * ``delete``: remove ``key_id`` from the project (state=absent, purge_titles).
    """
    if desired.state == "absent":
        return _plan_absent(current, desired)
    fingerprint = desired.fingerprint
    holders = []
    for project, keys in current.items():
        for record in keys:
            if record["fingerprint_sha256"] == fingerprint:
                holders.append((project, record))
                break
    known = holders[0][1] if holders else None
    notes = []
    actions = []

    recreate = False
    if known is not None and desired.expires_at is not None and not same_expiry(known["expires_at"], desired.expires_at):
        if desired.recreate:
            recreate = True
        else:
            notes.append(
                "deploy key SHA256:%s expires at %s, not %s, and GitLab cannot change a key's expiry; "
                "set recreate: true to remove and add it again with the new expiry"
                % (fingerprint, known["expires_at"] or "never", iso_utc(desired.expires_at))
            )

    title_on = None  # the one project whose PUT renames the key (the title belongs to the key)
    if known is not None and not recreate and desired.title is not None and known["title"] != desired.title:
        if is_admin or len(holders) == 1:
            title_on = holders[0][0]
        else:
            notes.append(
                "GitLab kept title %r of deploy key SHA256:%s: the key is used in %d projects and only an "
                "admin can rename it" % (known["title"], fingerprint, len(holders))
            )

    diff_key = "SHA256:%s" % fingerprint
    if known is None or recreate:
        new_title = desired.title or (known["title"] if known is not None else None) or desired.create_title()
    else:
        new_title = desired.title if title_on is not None else known["title"]
    wanted = {
        "id": known["id"] if known is not None and not recreate else None,
        "title": new_title,
        "fingerprint_sha256": diff_key,
        "can_push": desired.can_push,
        "expires_at": iso_utc(desired.expires_at) if desired.expires_at else (known["expires_at"] if known else None),
    }
    held = dict(holders)
    exists = known is not None and not recreate  # does the key exist when this project's turn comes?
    for project in current:
        record = held.get(project)
        if record is None or recreate:
            then = "enable" if exists else "create"
            exists = True
            data = {"diff_key": diff_key, "then": then, "title": new_title}
            if known is not None and not recreate:
                data.update(key_id=known["id"], key_text=known["key"])
            if record is not None:
                data["remove_id"] = record["id"]
                actions.append(Action("recreate", project, view(record),
                                      dict(wanted, can_push=desired.can_push_on(project)), data=data,
                                      note="GitLab cannot change expires_at: the key is removed and added again"))
            else:
                actions.append(Action(then, project, None, dict(wanted, can_push=desired.can_push_on(project)),
                                      data=data))
        else:
            changes = {}
            if record["can_push"] != desired.can_push_on(project):
                changes["can_push"] = desired.can_push_on(project)
            if project == title_on:
                changes["title"] = desired.title
            if changes:
                actions.append(Action("update", project, view(record), view(record, **changes),
                                      data={"diff_key": diff_key, "key_id": record["id"], "changes": changes}))
        actions.extend(_purge(project, current[project], desired))
    return Plan(actions, notes, key_id=known["id"] if known is not None and not recreate else None)


def _plan_absent(current, desired):
    actions = []
    notes = []
    for project, keys in current.items():
        if desired.key is not None:
            doomed = match_deploy_key(keys, fingerprint=desired.fingerprint)
        elif desired.title is not None:
            doomed = [record for record in keys if record["title"] == desired.title]
            if len(doomed) > 1:
                notes.append("%d deploy keys on %s are titled %r; all of them are removed"
                             % (len(doomed), project, desired.title))
        else:
            doomed = []
        for record in doomed:
            actions.append(_delete(project, record))
        actions.extend(_purge(project, [k for k in keys if k not in doomed], desired))
    return Plan(actions, notes)


def _purge(project, keys, desired):
    """Deletes for the other keys whose title matches ``purge_titles`` (never the declared key)."""
    doomed = []
    for record in keys:
        if desired.fingerprint is not None and record["fingerprint_sha256"] == desired.fingerprint:
            continue
        pattern = next((p for p in desired.purge_titles if fnmatch.fnmatchcase(record["title"] or "", p)), None)
        if pattern is not None:
            doomed.append(_delete(project, record, note="title matches purge_titles %r" % pattern))
    return doomed


def _delete(project, record, note=None):
    return Action("delete", project, view(record), None, note=note,
                  data={"diff_key": "SHA256:%s" % record["fingerprint_sha256"], "key_id": record["id"]})


def key_summary(current, actions, desired):
    """The declared key after the plan (``state: present``): id, title, fingerprint, expiry, projects."""
    if desired.state != "present":
        return None
    diff_key = "SHA256:%s" % desired.fingerprint
    state = {}
    for keys in current.values():
        found = match_deploy_key(keys, fingerprint=desired.fingerprint)
        if found:
            state = view(found[0])
            state["key"] = found[0]["key"]
            break
    for action in actions:
        if action.data.get("diff_key") == diff_key and action.after is not None:
            state.update({k: v for k, v in action.after.items() if v is not None or k == "expires_at"})
    state.pop("can_push", None)
    state.setdefault("id", None)
    state.setdefault("key", desired.key.text)
    state["projects"] = [{"project": project, "can_push": desired.can_push_on(project)} for project in current]
    return state


def inventory(current, now):
    """One entry per key (by fingerprint) with its age and the projects it is on (pure).

    ``current`` is {project: [records]}; the project ``None`` holds keys enabled nowhere.
    """
    entries = {}
    for project, keys in current.items():
        for record in keys:
            entry = entries.get(record["fingerprint_sha256"])
            if entry is None:
                created = parse_expires_at(record["created_at"], option="created_at") if record["created_at"] else None
                expires = parse_expires_at(record["expires_at"]) if record["expires_at"] else None
                entry = entries[record["fingerprint_sha256"]] = {
                    "id": record["id"],
                    "title": record["title"],
                    "key": record["key"],
                    "fingerprint_sha256": "SHA256:%s" % record["fingerprint_sha256"],
                    "created_at": record["created_at"],
                    "expires_at": record["expires_at"],
                    "expired": expires is not None and expires <= now,
                    "age_days": (now - created).days if created else None,
                    "projects": [],
                }
            if project is not None:
                entry["projects"].append({"project": project, "can_push": record["can_push"]})
    return list(entries.values())
