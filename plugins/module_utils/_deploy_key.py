# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy keys: records, matching, the task's input and the pure plan.

Nothing here talks to GitLab (``_deploy_key_api.py`` reads and applies).
``protected_tag`` reuses :func:`match_deploy_key` to find a key on a project.

Identity is the SHA256 fingerprint of the key blob, never the title or the
raw key text: GitLab keeps only the type, the base64 blob and the first word
of the comment (``Key#key=`` strips the rest, app/models/key.rb), so text
comparison churns. ``title`` and ``can_push`` are attributes; ``expires_at``
belongs to the key and the update endpoint takes only ``title`` and
``can_push`` (``PUT /projects/:id/deploy_keys/:key_id``, lib/api/deploy_keys.rb).
"""

from __future__ import annotations

import fnmatch
from datetime import timedelta

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import (
    normalize_fingerprint,
    parse_public_key,
    sha256_fingerprint,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._names import check_length
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Action, Plan, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._targets import TargetEntry
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import (
    age_days,
    days_until,
    format_time,
    has_expired,
    parse_option_time,
    same_moment,
    utcnow,
)


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

def project_entries(projects) -> list:
    """The ``projects`` option as :class:`TargetEntry` objects, each with its own ``can_push`` (or ``None``)."""
    entries = []
    for index, entry in enumerate(projects or ()):
        option = f"projects[{index}]"
        can_push = None
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"project", "can_push"})
            if unknown or "project" not in entry:
                raise OptionError(option, "must be a project id or path, or a dictionary with 'project' and "
                                          "optionally 'can_push'; got keys " + (", ".join(sorted(entry)) or "none"))
            if entry.get("can_push") is not None:
                try:
                    can_push = boolean(entry["can_push"], strict=True)
                except TypeError:
                    raise OptionError(f"{option}.can_push", f"must be true or false, got {entry['can_push']!r}") from None
            entry = entry["project"]
        entries.append(TargetEntry(option, entry, {"can_push": can_push}))
    return entries


def desired_from_params(params: dict) -> Desired:
    """Validate the module's own options before the first request."""
    if not params["projects"]:
        raise OptionError("projects", "is empty; give at least one project id or full path")
    project_entries(params["projects"])
    key = parse_public_key(params["key"]) if params["key"] is not None else None
    if params["state"] == "absent" and key is None and not params["title"]:
        raise OptionError("state=absent", "needs key or title to select the deploy key to remove")
    if params["title"] is not None:
        if not params["title"].strip():
            raise OptionError("title", "is empty; give a title such as runner-fleet, or leave it out")
        check_length(params["title"], "title", "deploy key titles")
    for index, pattern in enumerate(params["purge_titles"] or ()):
        if not str(pattern).strip():
            raise OptionError(f"purge_titles[{index}]", "is empty; give a title or a glob such as runner-*")
    now = utcnow()
    expires_at = parse_option_time(params["expires_at"], "expires_at")
    lifetime_days = params.get("lifetime_days")
    if lifetime_days is not None and lifetime_days < 1:
        raise OptionError("lifetime_days", f"must be 1 or more, got {lifetime_days}")
    if expires_at is not None and params["state"] == "present" and expires_at <= now:
        raise OptionError("expires_at", f"is {format_time(expires_at)}, which is in the past; GitLab would add a "
                                        "key that no longer works")
    return Desired(
        state=params["state"],
        key=key,
        title=params["title"],
        can_push=params["can_push"],
        expires_at=expires_at,
        lifetime_days=lifetime_days,
        now=now,
        purge_titles=params["purge_titles"],
        recreate=params["recreate"],
    )


class Desired:
    """What the task asks for, validated before any request."""

    def __init__(self, state="present", key=None, title=None, can_push=False, expires_at=None,
                 purge_titles=(), recreate=False, can_push_by_project=None, lifetime_days=None, now=None):
        self.state = state
        self.key = key  # a PublicKey, or None (state=absent by title)
        self.title = title
        self.can_push = bool(can_push)
        # Per-project overrides ({project: bool}), so one run can give a host
        # push on some projects and read-only on others.
        self.can_push_by_project = dict(can_push_by_project or {})
        self.expires_at = expires_at  # aware datetime or None: "do not care"
        # A rolling lifetime: a key this run adds expires lifetime_days from now; an existing key keeps its expiry.
        self.lifetime_days = lifetime_days
        self.now = now or utcnow()
        self.purge_titles = list(purge_titles or ())
        self.recreate = recreate

    def expiry_for_new_key(self):
        """When a key added now expires: ``expires_at``, or ``lifetime_days`` from now, or never (``None``)."""
        if self.lifetime_days is not None:
            return self.now + timedelta(days=self.lifetime_days)
        return self.expires_at

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
        "fingerprint_sha256": f"SHA256:{record['fingerprint_sha256']}" if record.get("fingerprint_sha256") else None,
        "can_push": bool(record.get("can_push")),
        "expires_at": record.get("expires_at"),
    }
    shown.update(changes)
    return shown


# --- the plan ---------------------------------------------------------------

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
    holders = _holders(current, desired.fingerprint)
    known = holders[0][1] if holders else None
    notes = []
    recreate = _expiry_differs(known, desired, notes)
    title_on = None if recreate else _rename_on(known, holders, desired, is_admin, notes)
    wanted = _wanted_view(known, desired, recreate, title_on)
    held = dict(holders)
    actions = []
    exists = known is not None and not recreate  # does the key exist when this project's turn comes?
    for project in current:
        record = held.get(project)
        if record is None or recreate:
            actions.append(_add(project, record, known, desired, wanted, "enable" if exists else "create", recreate))
            exists = True
        else:
            actions.extend(_update(project, record, desired, wanted["fingerprint_sha256"], title_on))
        actions.extend(_purge(project, current[project], desired))
    return Plan(actions, notes, context={"key_id": known["id"] if known is not None and not recreate else None})


def _holders(current, fingerprint):
    """``[(project, record)]`` of the task's projects that have the key, in task order."""
    holders = []
    for project, keys in current.items():
        found = next((record for record in keys if record["fingerprint_sha256"] == fingerprint), None)
        if found is not None:
            holders.append((project, found))
    return holders


def _expiry_differs(known, desired, notes):
    """Whether the key must be removed and added again for a new expiry (else a note says why not).

    An expired key no longer authenticates (``Key#expired?``, app/models/key.rb): it is never
    reported as fine. With ``recreate`` it is added again with a new expiry; without, the task
    fails before any write, saying so.
    """
    if known is not None and has_expired(known["expires_at"], desired.now):
        if desired.recreate and desired.expiry_for_new_key() is not None:
            return True
        raise GitlabModuleError(
            f"deploy key SHA256:{desired.fingerprint} expired at {known['expires_at']} and no longer authenticates; "
            "rotate it (a new key: runnercreds.gitlab.deploy_key_rotation, or runner_ssh_key_rotate in the "
            "runner_ssh_key role), or set recreate: true with a new expires_at or lifetime_days")
    if known is None or desired.expires_at is None or same_moment(known["expires_at"], desired.expires_at):
        return False
    if desired.recreate:
        return True
    notes.append(f"deploy key SHA256:{desired.fingerprint} expires at {known['expires_at'] or 'never'}, not "
                 f"{format_time(desired.expires_at)}, and GitLab cannot change a key's expiry; set recreate: true "
                 "to remove and add it again with the new expiry")
    return False


def _rename_on(known, holders, desired, is_admin, notes):
    """The one project whose PUT renames the key (the title belongs to the key), or ``None``."""
    if known is None or desired.title is None or known["title"] == desired.title:
        return None
    if is_admin or len(holders) == 1:
        return holders[0][0]
    notes.append(f"GitLab kept title {known['title']!r} of deploy key SHA256:{desired.fingerprint}: the key is used "
                 f"in {len(holders)} projects and only an admin can rename it")
    return None


def _wanted_view(known, desired, recreate, title_on):
    if known is None or recreate:
        title = desired.title or (known["title"] if known is not None else None) or desired.create_title()
    else:
        title = desired.title if title_on is not None else known["title"]
    new_expiry = desired.expiry_for_new_key()
    if known is None or recreate:
        expires_at = format_time(new_expiry)
    else:
        expires_at = format_time(desired.expires_at) if desired.expires_at else known["expires_at"]
    return {"id": known["id"] if known is not None and not recreate else None, "title": title,
            "fingerprint_sha256": f"SHA256:{desired.fingerprint}", "can_push": desired.can_push,
            "expires_at": expires_at}


def _add(project, record, known, desired, wanted, then, recreate):
    """A ``create``/``enable`` of the key on ``project``, or a ``recreate`` where it is (``record``)."""
    after = dict(wanted, can_push=desired.can_push_on(project))
    data = {"diff_key": wanted["fingerprint_sha256"], "then": then, "title": wanted["title"]}
    if known is not None and not recreate:
        data.update(key_id=known["id"], key_text=known["key"])
    if record is None:
        return Action(then, project, None, after, data=data)
    data["remove_id"] = record["id"]
    return Action("recreate", project, view(record), after, data=data,
                  note="GitLab cannot change expires_at: the key is removed and added again")


def _update(project, record, desired, diff_key, title_on):
    changes = {}
    if record["can_push"] != desired.can_push_on(project):
        changes["can_push"] = desired.can_push_on(project)
    if project == title_on:
        changes["title"] = desired.title
    if not changes:
        return []
    return [Action("update", project, view(record), view(record, **changes),
                   data={"diff_key": diff_key, "key_id": record["id"], "changes": changes})]


def _plan_absent(current, desired):
    actions = []
    notes = []
    for project, keys in current.items():
        if desired.key is not None:
            doomed = match_deploy_key(keys, fingerprint=desired.fingerprint)
        elif desired.title is not None:
            doomed = [record for record in keys if record["title"] == desired.title]
            if len(doomed) > 1:
                notes.append(f"{len(doomed)} deploy keys on {label(project)} are titled {desired.title!r}; all of "
                             "them are removed")
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
            doomed.append(_delete(project, record, note=f"title matches purge_titles {pattern!r}"))
    return doomed


def _delete(project, record, note=None):
    return Action("delete", project, view(record), None, note=note,
                  data={"diff_key": f"SHA256:{record['fingerprint_sha256']}", "key_id": record["id"]})


def key_summary(current, actions, desired):
    """The declared key after the plan (``state: present``): id, title, fingerprint, expiry, projects."""
    if desired.state != "present":
        return None
    diff_key = f"SHA256:{desired.fingerprint}"
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
    state["projects"] = [{"project": label(project), "can_push": desired.can_push_on(project)} for project in current]
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
                entry = entries[record["fingerprint_sha256"]] = {
                    "id": record["id"],
                    "title": record["title"],
                    "key": record["key"],
                    "fingerprint_sha256": f"SHA256:{record['fingerprint_sha256']}",
                    "created_at": record["created_at"],
                    "expires_at": record["expires_at"],
                    "expired": has_expired(record["expires_at"], now),
                    "days_until_expiry": days_until(record["expires_at"], now),
                    "age_days": age_days(record["created_at"], now),
                    "projects": [],
                }
            if project is not None:
                entry["projects"].append({"project": project, "can_push": record["can_push"]})
    return list(entries.values())
