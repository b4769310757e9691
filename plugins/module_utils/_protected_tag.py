# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Protected tags: GitLab's wildcard matcher, the task's input, the pure plan.

Nothing here talks to GitLab (``_protected_tag_api.py`` reads and applies).
A protection is identified by its name pattern (``v*``, ``release-1.0``).
Its settings are a *set* of access entries, each a ``(kind, id)`` pair with
GitLab's own field names as kinds: ``access_level`` (a role: 0, 30, 40, 60),
``deploy_key_id``, ``user_id`` and ``group_id``. Sets make comparison
order-insensitive; :func:`desired_entries` applies GitLab's defaulting
(role 40 unless something else is allowed) so a re-run does not churn.

GitLab has no update for protected tags (lib/api/protected_tags.rb has no
PUT or PATCH route): a change is an unprotect followed by a protect.
"""

from __future__ import annotations

import re

from ansible_collections.runnercreds.gitlab.plugins.module_utils._access_levels import (
    DEFAULT_CREATE_LEVEL,
    NO_ONE,
    access_level_name,
    parse_access_level,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key import match_deploy_key
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import check_fingerprint, parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.module_utils._names import check_tag_pattern, check_username
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Action, Plan
from ansible_collections.runnercreds.gitlab.plugins.module_utils._targets import parse_ref

KINDS = ("access_level", "deploy_key_id", "user_id", "group_id")
_LABEL_FIELD = {"deploy_key_id": "deploy_key", "user_id": "user", "group_id": "group"}


# --- GitLab's wildcard matcher (lib/gitlab/ref_matcher.rb) ----------------------------

def pattern_regex(pattern):
    """``*`` matches any characters (``/`` and nothing included); everything else is literal."""
    return re.compile(r"\A" + ".*?".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


def tag_matches(pattern, tag):
    """Whether the protection ``pattern`` covers ``tag``, exactly as GitLab decides it."""
    if pattern == tag:
        return True
    return "*" in pattern and pattern_regex(pattern).match(tag) is not None


def matching_tags(pattern, tags):
    return [tag for tag in tags if tag_matches(pattern, tag)]


# --- access entries ---------------------------------------------------------------

def entries_from_gitlab(create_access_levels):
    """GitLab's ``create_access_levels`` rows -> (frozenset of entries, labels).

    A deploy-key row also carries an ``access_level`` (the column default);
    it is the key that counts, not that level. Labels come from GitLab's
    ``access_level_description`` (the key's title, the user's or group's name).
    """
    entries = set()
    labels = {}
    for row in create_access_levels or ():
        for kind in ("deploy_key_id", "user_id", "group_id"):
            if row.get(kind) is not None:
                entry = (kind, int(row[kind]))
                labels[entry] = row.get("access_level_description")
                break
        else:
            entry = ("access_level", int(row["access_level"]))
        entries.add(entry)
    return frozenset(entries), labels


def describe_levels(create_access_levels):
    """GitLab's rows with ``access_level_name`` added, for the info module."""
    described = []
    for row in create_access_levels or ():
        kind = next((k for k in ("deploy_key_id", "user_id", "group_id") if row.get(k) is not None), None)
        item = {field: row.get(field) for field in
                ("access_level", "access_level_description", "deploy_key_id", "user_id", "group_id")}
        item["access_level_name"] = _LABEL_FIELD[kind] if kind else access_level_name(row.get("access_level"))
        described.append(item)
    return described


def desired_entries(create_access_level=None, allowed=()):
    """The entries GitLab stores for a protect request, applying its defaulting.

    ``allowed`` holds resolved ``(kind, id)`` pairs. With no role at all and
    nothing else allowed, GitLab adds role 40 (Maintainer); a deploy key
    (or, on Premium, a user or group) alone stands without a role row.
    [app/services/protected_refs/access_level_params.rb]
    """
    entries = set(allowed)
    if create_access_level is not None:
        entries.add(("access_level", create_access_level))
    if not entries:
        entries.add(("access_level", DEFAULT_CREATE_LEVEL))
    return frozenset(entries)


def protect_params(name, entries):
    """The POST body that makes GitLab store exactly ``entries`` (Free and Premium alike).

    The lowest role goes in ``create_access_level`` (the only role GitLab
    Free reads); further roles, keys, users and groups in ``allowed_to_create``.
    Without a role, ``create_access_level`` is left out, so a deploy key
    alone gets no default Maintainer row.
    """
    roles = sorted(ident for kind, ident in entries if kind == "access_level")
    params = {"name": name}
    allowed = [{"access_level": level} for level in roles[1:]]
    if roles:
        params["create_access_level"] = roles[0]
    for kind in KINDS[1:]:
        allowed.extend({kind: ident} for k, ident in sorted(entries, key=_sort_key) if k == kind)
    if allowed:
        params["allowed_to_create"] = allowed
    return params


def _sort_key(entry):
    # Ids are numbers; a check-mode stand-in for a key not added yet is text, shown after them.
    return (KINDS.index(entry[0]), isinstance(entry[1], str), entry[1] if isinstance(entry[1], int) else 0, str(entry[1]))


def view_entries(entries, labels=None):
    """Readable entries for actions, diffs and info: roles by name, others by id and label."""
    labels = labels or {}
    shown = []
    for entry in sorted(entries, key=_sort_key):
        kind, ident = entry
        if kind == "access_level":
            shown.append({"access_level": access_level_name(ident)})
        else:
            item = {kind: ident}
            if labels.get(entry):
                item[_LABEL_FIELD[kind]] = labels[entry]
            shown.append(item)
    return shown


class Protection:
    """One protected tag pattern: its name, its entry set and labels for display."""

    __slots__ = ("name", "entries", "labels")

    def __init__(self, name, entries, labels=None):
        self.name = name
        self.entries = frozenset(entries)
        self.labels = dict(labels or {})

    @classmethod
    def from_gitlab(cls, attrs):
        entries, labels = entries_from_gitlab(attrs.get("create_access_levels"))
        return cls(attrs["name"], entries, labels)

    def view(self):
        return {"name": self.name, "create_access_levels": view_entries(self.entries, self.labels)}

    def __repr__(self):
        return f"Protection({self.name!r}, {sorted(self.entries, key=_sort_key)!r})"


def carry_deploy_key(current, predecessor_id, successor_id, successor_title, retire):
    """The protections to have so a key rotation never leaves a pattern without the host's key (pure).

    ``current`` are GitLab's protected tags of one project. Every pattern that
    allows the predecessor gets the successor too; with ``retire`` the
    predecessor's entry is then dropped, so the pattern names only live keys.
    Patterns that do not name the predecessor are left alone.
    """
    wanted = []
    old, new = ("deploy_key_id", predecessor_id), ("deploy_key_id", successor_id)
    for attrs in current:
        protection = Protection.from_gitlab(attrs)
        if old not in protection.entries:
            continue
        entries = set(protection.entries) | {new}
        if retire:
            entries.discard(old)
        labels = dict(protection.labels)
        labels[new] = successor_title
        wanted.append(Protection(protection.name, entries, labels))
    return wanted


# --- the task's input, validated before any request ---------------------------------

class TagTask:
    """The protected_tag task's input, validated before any request."""

    def __init__(self, params: dict) -> None:
        self.specs = self._specs(params)
        names = [spec.name for spec in self.specs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise OptionError("tags", f"declares {', '.join(duplicates)} more than once; give each pattern once")
        self.branch_names = None
        if params["branch_names"] is not None:
            self.branch_names = [check_tag_pattern(branch, f"branch_names[{index}]")
                                 for index, branch in enumerate(params["branch_names"])]
        self.guard = params["block_branch_names"] or self.branch_names is not None
        self.state = params["state"]
        self.purge = params["purge"]
        if self.purge and self.state == "absent":
            raise OptionError("purge", "works with state=present only: it keeps what the task declares and removes "
                                       "the rest")
        if not self.specs and not self.guard and not self.purge:
            raise OptionError("name", "is not set, nor tags, block_branch_names or branch_names: nothing to do")
        if not params["projects"]:
            raise OptionError("projects", "is empty; give at least one project id or full path")
        allowed = [entry for spec in self.specs for entry in spec.allowed] if self.state == "present" else []
        self.usernames = sorted({value for kind, value in allowed if kind == "user"})
        self.groups = sorted({value for kind, value in allowed if kind == "group"})
        self.key_refs = list({value.text: value for kind, value in allowed if kind == "deploy_key"}.values())

    @staticmethod
    def _specs(params: dict) -> list:
        if params["tags"] is not None:
            return [parse_tag_spec(item, f"tags[{i}]") for i, item in enumerate(params["tags"])]
        if params["name"] is not None:
            return [parse_tag_spec(params)]
        if params["create_access_level"] is not None or params["allowed_to_create"]:
            raise OptionError("create_access_level and allowed_to_create", "need name: the tag pattern they apply to")
        return []


class DeployKeyRef:
    """How the task names a deploy key: a public key line, a SHA256 fingerprint or a title."""

    __slots__ = ("text", "key", "fingerprint", "title")

    def __init__(self, text, option):
        self.text = str(text).strip()
        self.key = self.fingerprint = self.title = None
        if not self.text:
            raise OptionError(option, "is empty; give the deploy key's title, public key or SHA256 fingerprint")
        if self.text.upper().startswith("SHA256:"):
            self.fingerprint = check_fingerprint(self.text, option)
        elif self._looks_like_key():
            # parse_public_key refuses a private key pasted by mistake without echoing it.
            self.key = parse_public_key(self.text, option=option)
        else:
            self.title = self.text

    def _looks_like_key(self):
        words = self.text.split()
        return ("\n" in self.text or "-----BEGIN" in self.text
                or (len(words) >= 2 and words[0].startswith(("ssh-", "ecdsa-", "sk-"))))

    def describe(self):
        if self.key is not None:
            return f"SHA256:{self.key.fingerprint_sha256}"
        return self.fingerprint or self.title


class TagSpec:
    """One declared pattern: the role level and the not-yet-resolved ``allowed_to_create`` refs.

    ``allowed`` holds ``(kind, ref)`` with kind ``access_level`` (int),
    ``deploy_key`` (:class:`DeployKeyRef`), ``user`` (username) or ``group`` (full path).
    """

    __slots__ = ("name", "create_access_level", "allowed", "guard")

    def __init__(self, name, create_access_level=None, allowed=(), guard=False):
        self.name = name
        self.create_access_level = create_access_level
        self.allowed = list(allowed)
        self.guard = guard


def parse_tag_spec(item, option=None):
    """Validate one ``{name, create_access_level, allowed_to_create}`` from the task (pure).

    ``option`` names where it came from (``tags[2]``); ``None`` for the top-level options.
    """
    prefix = f"{option}." if option else ""
    name = check_tag_pattern(item.get("name"), f"{prefix}name")
    level = None
    if item.get("create_access_level") is not None:
        level = parse_access_level(item["create_access_level"], f"{prefix}create_access_level")
    allowed = []
    for index, entry in enumerate(item.get("allowed_to_create") or ()):
        where = f"{prefix}allowed_to_create[{index}]"
        given = [kind for kind in ("access_level", "deploy_key", "user", "group") if entry.get(kind) not in (None, "")]
        if len(given) != 1:
            raise OptionError(where, "must name exactly one of access_level, deploy_key, user or group, got "
                              + (", ".join(given) or "none"))
        kind = given[0]
        value = entry[kind]
        if kind == "access_level":
            value = parse_access_level(value, f"{where}.access_level")
        elif kind == "deploy_key":
            value = DeployKeyRef(value, f"{where}.deploy_key")
        elif kind == "user":
            value = check_username(value, f"{where}.user")
        else:
            value = str(parse_ref(value, f"{where}.group", "group"))
        allowed.append((kind, value))
    return TagSpec(name, level, allowed)


def guard_specs(branch_names, declared):
    """Protections with no one allowed for tags named like ``branch_names``.

    Names the task declares itself keep the task's settings.
    """
    taken = {spec.name for spec in declared}
    seen = set()
    specs = []
    for branch in branch_names:
        if branch in taken or branch in seen:
            continue
        seen.add(branch)
        specs.append(TagSpec(branch, NO_ONE, guard=True))
    return specs


PENDING_KEY = "not on the project yet: "


def pending_key_note(pending) -> str:
    """One note for every project where check mode planned a key not added yet (``{project: [refs]}``)."""
    names = sorted({ref.describe() for refs in pending.values() for ref in refs})
    projects = [str(project) for project in pending]
    where = ", ".join(projects[:5]) + (f" and {len(projects) - 5} more" if len(projects) > 5 else "")
    return (f"check mode: deploy key {', '.join(repr(name) for name in names)} is not enabled with write access on "
            f"{where} yet; the rules are planned as if an earlier task of this run added it "
            "(runnercreds.gitlab.deploy_key with can_push: true). A real run fails if it is still missing then")


def resolve_deploy_keys(project, keys, refs, pending_ok=False):
    """``{ref.text: [(id, title), ...]}`` for each deploy key ref, from the project's keys (pure).

    With ``pending_ok`` (check mode), a key that is not enabled with write
    access yet resolves to a stand-in id ``PENDING_KEY + ref`` instead of
    failing: check mode cannot see what an earlier task of the same run would
    add, and a playbook that adds the key, then allows it, must plan in check
    mode too. The caller notes it (:func:`pending_key_note`).

    A key or fingerprint names one key; a title names every key with that
    title, so a host's key stays allowed through a rotation (the successor
    takes the predecessor's title, and both are allowed until the predecessor
    is retired). A key must be enabled on the project with write access:
    GitLab refuses a protected tag rule for a key without it
    (app/models/concerns/protected_ref_deploy_key_access.rb).
    """
    found = {}
    for ref in refs:
        matches = match_deploy_key(keys, key=ref.key, fingerprint=ref.fingerprint,
                                   title=_glob_literal(ref.title) if ref.title else None)
        if pending_ok and not any(record["can_push"] for record in matches):
            found[ref.text] = [(PENDING_KEY + ref.describe(), ref.title or ref.describe())]
            continue
        if not matches:
            raise GitlabModuleError(
                f"deploy key {ref.describe()!r} is not enabled on {project}; add it there first "
                "(runnercreds.gitlab.deploy_key with can_push: true), then allow it to create tags", project=project)
        writable = [record for record in matches if record["can_push"]]
        if not writable:
            ids = ", ".join(str(record["id"]) for record in matches)
            raise GitlabModuleError(
                f"deploy key {ref.describe()!r} (id {ids}) is enabled on {project} without write access, "
                "and GitLab allows only keys with write access to create protected tags; set can_push: true on it "
                "(runnercreds.gitlab.deploy_key)", project=project)
        found[ref.text] = [(record["id"], record["title"]) for record in writable]
    return found


def _glob_literal(text):
    # match_deploy_key takes title globs; a title given here is matched exactly.
    return "".join(f"[{char}]" if char in "[]*?" else char for char in text)


def resolve_spec(spec, users, groups, deploy_keys):
    """A :class:`TagSpec` with every ref resolved -> :class:`Protection` (pure).

    ``users`` maps username -> id, ``groups`` full path -> (id, full_path),
    ``deploy_keys`` ref text -> [(id, title), ...].
    """
    allowed = set()
    labels = {}
    for kind, value in spec.allowed:
        if kind == "access_level":
            entry = ("access_level", value)
        elif kind == "deploy_key":
            for ident, title in deploy_keys[value.text]:
                labels[("deploy_key_id", ident)] = title
                allowed.add(("deploy_key_id", ident))
            continue
        elif kind == "user":
            entry = ("user_id", users[value])
            labels[entry] = value
        else:
            ident, path = groups[value]
            entry = ("group_id", ident)
            labels[entry] = path
        allowed.add(entry)
    return Protection(spec.name, desired_entries(spec.create_access_level, allowed), labels)


# --- the plan ---------------------------------------------------------------------

UPDATE_NOTE = ("GitLab cannot update a protected tag: a temporary rule that matches the same tags is protected with "
               "the new settings first, then the rule is re-created and the temporary rule removed, so the tags "
               "are never unprotected")


def carrier_name(name, taken):
    """A temporary pattern that matches every tag ``name`` matches (no fewer), free on the project.

    GitLab turns each ``*`` into a lazy ``.*?`` (lib/gitlab/ref_matcher.rb, used
    by app/models/protected_ref_matcher.rb), so ``v**`` matches exactly what
    ``v*`` does. An exact name becomes ``name*``, which also covers the tags
    that begin with it: more protection for the moment of the update, never less.
    """
    carrier = name + "*"
    while carrier in taken:
        carrier += "*"
    return carrier


def plan(project, current, desired, absent=(), purge=False):
    """Pure plan for one project.

    ``current``: GitLab's protected tags (dicts with ``name`` and
    ``create_access_levels``); ``desired``: :class:`Protection` objects to
    have; ``absent``: names to unprotect; ``purge``: also unprotect every
    other name. Actions come in the order apply runs them: new protections
    first, then updates, then removals, so protection is never lowered
    before it is added.

    Action kinds: ``protect`` (data ``params``), ``unprotect``, and
    ``update`` (data ``params``; ``carrier`` and ``carrier_params``: the
    temporary rule that matches the same tags and carries the new settings
    while the rule is re-created, see :func:`carrier_name`). Creating it first
    also has GitLab validate the new settings before the old rule is touched.
    A rule left by an interrupted update (the pattern followed only by ``*``,
    with exactly the declared settings: it grants nothing the rule does not)
    is removed once the rule has been re-created after it (see
    :func:`_left_carrier`); until then it may be another run's temporary rule,
    in use, and stays. An update interrupted before the rule was re-created
    therefore takes two runs to finish: one re-creates the rule, the next
    removes the temporary rule.
    """
    have = {}
    level_ids = {}
    for attrs in current:
        protection = Protection.from_gitlab(attrs)
        have[protection.name] = protection
        level_ids[protection.name] = access_level_ids(attrs)
    protects, updates, unprotects = [], [], []
    wanted = set()
    for protection in desired:
        wanted.add(protection.name)
        old = have.get(protection.name)
        data = {"diff_key": protection.name, "params": protect_params(protection.name, protection.entries),
                "entries": protection.entries}
        if old is None:
            protects.append(Action("protect", project, None, protection.view(), data=data))
        elif old.entries != protection.entries:
            carrier = carrier_name(protection.name, set(have))
            data.update(carrier=carrier, carrier_params=protect_params(carrier, protection.entries))
            updates.append(Action("update", project, old.view(), protection.view(), note=UPDATE_NOTE, data=data))
    removed = set()
    for protection in desired:
        for name in sorted(have):
            if _left_carrier(name, protection, have[name], level_ids) and name not in removed:
                removed.add(name)
                unprotects.append(_unprotect(project, have[name], note=f"temporary rule left by an interrupted "
                                                                       f"update of {protection.name}"))
    for name in absent:
        if name in have and name not in removed:
            removed.add(name)
            unprotects.append(_unprotect(project, have[name]))
    if purge:
        for name in sorted(have):
            if name not in wanted and name not in removed:
                removed.add(name)
                unprotects.append(_unprotect(project, have[name], note="not declared in the task (purge: true)"))
    return Plan(protects + updates + unprotects)


def access_level_ids(attrs):
    """The ids of a protected tag's ``create_access_levels`` rows, or ``None`` when GitLab did not give them all.

    GitLab exposes each row's ``id`` (``expose :id`` in
    lib/api/entities/protected_ref_access.rb, ``create_access_levels[].id`` in
    doc/api/protected_tags.md; older releases exposed only ``access_level`` and
    ``access_level_description`` there). The rows are database records with
    ids from a sequence, so a rule protected later has greater ids: the
    protected tag entity itself has only ``name`` and ``create_access_levels``
    (lib/api/entities/protected_tag.rb), no id and no creation time.
    """
    rows = (attrs or {}).get("create_access_levels") or ()
    ids = [row.get("id") for row in rows]
    if not ids or not all(isinstance(ident, int) and not isinstance(ident, bool) for ident in ids):
        return None
    return ids


def _left_carrier(name, protection, existing, level_ids):
    """Whether ``name`` is a temporary rule an interrupted update of ``protection`` left behind.

    Its name is the rule's followed only by ``*`` and it has exactly the
    declared settings. That alone does not tell it from the temporary rule of
    another run that is updating the same rule right now and has yet to
    unprotect the old rule: removing that one lets the other run's pending
    unprotect leave the tags without any rule. So it counts as left over only
    when the rule exists and was re-created after it: every access-level id of
    the rule greater than every one of the temporary rule (ids only grow). A
    rule that is absent or older may still be in the middle of another run's
    update; a later run removes the temporary rule once the rule is re-created.
    Without ids (a GitLab that does not expose them) nothing tells the two
    apart, and the temporary rule stays: it grants nothing the rule does not,
    whereas removing another run's live one can unprotect the tags.
    """
    suffix = name[len(protection.name):]
    if not (name.startswith(protection.name) and suffix and set(suffix) == {"*"}
            and existing.entries == protection.entries):
        return False
    rule_ids, carrier_ids = level_ids.get(protection.name), level_ids.get(name)
    return bool(rule_ids and carrier_ids) and min(rule_ids) > max(carrier_ids)


def _unprotect(project, protection, note=None):
    return Action("unprotect", project, protection.view(), None, note=note, data={"diff_key": protection.name})


def mismatch(protection_entries, answer):
    """What GitLab stored differently from what was asked (``None`` when identical).

    GitLab Free ignores user and group entries (a Premium feature) and adds
    the default Maintainer role instead; this is reported, never retried.
    """
    stored, labels = entries_from_gitlab(answer.get("create_access_levels"))
    if stored == protection_entries:
        return None
    return view_entries(stored, labels)
