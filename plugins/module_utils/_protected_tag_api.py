# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Protected tags: the ``protected_tag`` and ``protected_tag_info`` operations, read and apply.

The pure part (matcher, task, plan) is ``_protected_tag.py``. Endpoints:
lib/api/protected_tags.rb (list, protect, unprotect), lib/api/branches.rb,
lib/api/tags.rb, lib/api/users.rb (``GET /users?username=``) and
lib/api/groups.rb (``GET /groups/:id``).

Users and groups named in ``allowed_to_create`` are looked up once per run,
before any change. Per project, actions run in plan order: new protections
first, then updates, then removals, so protection is never lowered before
it is added.
"""

from __future__ import annotations

import threading

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import api_path
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key_api import project_deploy_keys
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._names import check_tag_pattern
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Plan, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._protected_tag import (
    Protection,
    TagTask,
    carrier_name,
    describe_levels,
    guard_specs,
    matching_tags,
    mismatch,
    PENDING_KEY,
    pending_key_note,
    plan as plan_tags,
    protect_params,
    resolve_deploy_keys,
    resolve_spec,
    view_entries,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import Operation

ALLOWED_SPEC = dict(
    access_level=dict(type="str"),
    deploy_key=dict(type="str", no_log=False),
    user=dict(type="str"),
    group=dict(type="str"),
)


def read_protected_tags(client, target) -> list:
    """Every protected tag of one project as plain dicts (one request, 100 a page)."""
    return client.list(target.path("protected_tags"), "list protected tags", target)


def read_names(client, target, what: str) -> list:
    """The names of a project's ``branches`` or ``tags``."""
    items = client.list(target.path("repository", what), f"list {what}", target)
    return [item["name"] for item in items]


def find_user_id(client, username: str) -> int:
    """The id of the user ``username`` (one request); a clear error if there is none."""
    for user in client.list("/users", f"look up user {username}", username=username):
        if user["username"].lower() == username.lower():
            return user["id"]
    raise GitlabModuleError(
        f"allowed_to_create names user {username!r}, and GitLab has no such user (or the token cannot see it); "
        "check the username (not the display name)")


def find_group(client, path: str) -> tuple:
    """``(id, full_path)`` of a group (one request); a clear error if it does not exist."""
    ref = int(path) if path.isdigit() else path
    try:
        group = client.get(api_path("groups", ref), f"look up group {path}")
    except GitlabModuleError as exc:
        if exc.status != 404:
            raise
        raise GitlabModuleError(
            f"allowed_to_create names group {path!r}, and GitLab has no such group (or the token cannot see it); "
            "give the group's full path, e.g. fleet/release-managers", status=404) from None
    return group["id"], group["full_path"]


class ProtectedTagOperation(Operation):
    module_name = "protected_tag"
    argument_spec = dict(
        projects=dict(type="list", elements="str", required=True, aliases=["project"]),
        name=dict(type="str"),
        create_access_level=dict(type="str"),
        allowed_to_create=dict(type="list", elements="dict", options=ALLOWED_SPEC),
        tags=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            create_access_level=dict(type="str"),
            allowed_to_create=dict(type="list", elements="dict", options=ALLOWED_SPEC),
        )),
        block_branch_names=dict(type="bool", default=False),
        branch_names=dict(type="list", elements="str"),
        purge=dict(type="bool", default=False, aliases=["exclusive"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module_rules = dict(mutually_exclusive=[
        ("name", "tags"), ("tags", "create_access_level"), ("tags", "allowed_to_create"),
    ])

    task = None

    def validate(self) -> None:
        self.task = TagTask(self.params)

    def read(self, client, targets):
        users, groups = self._resolve_names(client)
        return client.map_all("reading protected tags", targets,
                              lambda target: self._read_and_plan(client, target, users, groups))

    def _read_and_plan(self, client, target, users, groups) -> Plan:
        task = self.task
        current = read_protected_tags(client, target)
        keys = {}
        if task.key_refs:
            keys = resolve_deploy_keys(target, project_deploy_keys(client, target), task.key_refs,
                                       pending_ok=self.check_mode and task.state == "present")
        pending = [ref for ref in task.key_refs if any(str(ident).startswith(PENDING_KEY)
                                                       for ident, dummy in keys.get(ref.text, ()))]
        specs = list(task.specs)
        if task.guard:
            branches = task.branch_names if task.branch_names is not None else read_names(client, target, "branches")
            specs += guard_specs(branches, task.specs)
        if task.state == "absent":
            return plan_tags(target, current, [], absent=[spec.name for spec in specs])
        planned = plan_tags(target, current, [resolve_spec(s, users, groups, keys) for s in specs], purge=task.purge)
        planned.context["pending_keys"] = pending
        return planned

    def _resolve_names(self, client) -> tuple:
        """Users and groups named in allowed_to_create -> ids, each looked up once, before any change."""
        lookups = {f"user {name}": ("user", name) for name in self.task.usernames}
        lookups.update((f"group {path}", ("group", path)) for path in self.task.groups)

        def look_up(what):
            kind, name = lookups[what]
            return find_user_id(client, name) if kind == "user" else find_group(client, name)

        found = client.map_all("resolving allowed_to_create", list(lookups), look_up)
        users = {lookups[what][1]: value for what, value in found.items() if lookups[what][0] == "user"}
        groups = {lookups[what][1]: value for what, value in found.items() if lookups[what][0] == "group"}
        return users, groups

    def plan(self, current):
        pending = {target: each.context["pending_keys"] for target, each in current.items()
                   if each.context.get("pending_keys")}
        return Plan([action for each in current.values() for action in each.actions],
                    notes=[pending_key_note(pending)] if pending else [])

    def apply(self, client, the_plan, journal) -> None:
        per_target = the_plan.by_target()
        warnings: list = []
        lock = threading.Lock()

        def work(target):
            apply_project(client, target, per_target[target], journal, lambda text: _append(lock, warnings, text))

        client.map_all("changing protected tags", list(per_target), work)
        the_plan.notes.extend(warnings)


def _append(lock, items, text):
    with lock:
        items.append(text)


class ProtectedTagInfoOperation(Operation):
    module_name = "protected_tag_info"
    argument_spec = dict(
        projects=dict(type="list", elements="str", required=True, aliases=["project"]),
        name=dict(type="str"),
        match_tags=dict(type="bool", default=True),
        match_branches=dict(type="bool", default=False),
    )

    def validate(self) -> None:
        if not self.params["projects"]:
            raise OptionError("projects", "is empty; give at least one project id or full path")
        if self.params["name"] is not None:
            check_tag_pattern(self.params["name"], "name")

    def read(self, client, targets):
        return client.map_all("reading protected tags", targets, lambda target: self._read(client, target))

    def _read(self, client, target) -> list:
        name = self.params["name"]
        protected = [attrs for attrs in read_protected_tags(client, target) if name is None or attrs["name"] == name]
        tags = read_names(client, target, "tags") if self.params["match_tags"] and protected else []
        # The same branch listing block_branch_names uses: a tag named like a branch makes
        # `git checkout <name>` ambiguous, so audits ask which patterns cover one.
        branches = read_names(client, target, "branches") if self.params["match_branches"] and protected else []
        items = []
        for attrs in protected:
            protection = Protection.from_gitlab(attrs)
            item = {
                "project": label(target),
                "name": attrs["name"],
                "create_access_levels": describe_levels(attrs.get("create_access_levels")),
                "allowed_to_create": protection.view()["create_access_levels"],
                "deploy_key_ids": sorted(ident for kind, ident in protection.entries if kind == "deploy_key_id"),
            }
            if self.params["match_tags"]:
                item["matching_tags"] = matching_tags(attrs["name"], tags)
            if self.params["match_branches"]:
                item["matching_branches"] = matching_tags(attrs["name"], branches)
            items.append(item)
        return items

    def plan(self, current):
        return Plan(context={"protected_tags": [item for items in current.values() for item in items]})

    def result(self, the_plan) -> dict:
        return {"protected_tags": the_plan.context["protected_tags"]}


def apply_project(client, target, actions, journal, warn) -> None:
    """Apply one project's actions in order, recording each accepted write; raise on the first failure."""
    writer = TagWriter(client, target, journal, warn)
    for action in actions:
        name = action.data["diff_key"]
        if action.kind == "protect":
            writer.protect(name, action.data["params"], action.data["entries"], f"protect {name}", action)
        elif action.kind == "unprotect":
            writer.unprotect(name, f"unprotect {name}")
        else:
            writer.update(action)


class TagWriter:
    """The writes on one project's protected tags, each confirmed by reading back when its answer fails.

    GitLab has no update for a protected tag, so :meth:`update` never opens a
    window: it protects a temporary rule matching the same tags with the new
    settings (GitLab validates them there, before the old rule is touched; the
    most permissive matching rule wins, app/models/concerns/protected_ref.rb),
    re-creates the rule, then removes the temporary one. After any failure the
    state is read back and reported exactly.
    """

    def __init__(self, client, target, journal, warn) -> None:
        self.client = client
        self.target = target
        self.journal = journal
        self.warn = warn

    def read(self) -> dict:
        """``{name: entries}`` of the project's protected tags, as GitLab has them now."""
        return {attrs["name"]: Protection.from_gitlab(attrs).entries
                for attrs in read_protected_tags(self.client, self.target)}

    def protect(self, name, params, entries, what, action=None) -> bool:
        """POST the protection; ``True`` when this run's request made it, ``False`` when it was already there.

        When the answer was lost, GitLab having exactly this protection means
        the request did it. When GitLab refused it because the name is taken
        (another run protected it first), having exactly this protection means
        there is nothing to do, and nothing is recorded as this run's change.
        """
        try:
            answer = self.client.create(self.target.path("protected_tags"), f"protect tag {name}", self.target, params)
        except GitlabModuleError as exc:
            if exc.status not in (None, 400, 422) and not exc.answer_lost:
                raise
            if self.read().get(name) != entries:
                raise
            if not exc.answer_lost:
                return False
            answer = None
        self.journal.record(self.target, what)
        if action is not None and answer is not None:
            _check_answer(self.target, action, answer, self.warn)
        return True

    def unprotect(self, name, what) -> bool:
        """DELETE the protection; ``True`` when this run's request removed it.

        A 404 on the first attempt means another run removed it: nothing to do
        and nothing recorded. When every answer was lost, GitLab no longer
        having the rule means the request did it.
        """
        try:
            removed = self.client.delete(self.target.path("protected_tags", name), f"unprotect tag {name}",
                                         self.target, missing_ok=True)
        except GitlabModuleError as exc:
            if not exc.answer_lost or name in self.read():
                raise
            removed = True
        if removed:
            self.journal.record(self.target, what)
        return removed

    def update(self, action) -> None:
        name, entries = action.data["diff_key"], action.data["entries"]
        carrier = self._own_carrier(name, action.data["carrier"], entries)
        try:
            # Another run may have put the rule in place meanwhile: then it stays as it is.
            if self.read().get(name) != entries:
                self.unprotect(name, f"unprotect {name} to re-create it")
                self.protect(name, action.data["params"], entries, f"protect {name} with the new settings", action)
        except GitlabModuleError as exc:
            raise self._interrupted(exc, name, carrier) from None
        try:
            self.unprotect(carrier, f"unprotect temporary rule {carrier}")
        except GitlabModuleError as exc:
            raise self._interrupted(exc, name, carrier) from None

    def _own_carrier(self, name, carrier, entries) -> str:
        """Protect a temporary rule of this run's own (another run updating the same rule has its own).

        While the rule is re-created, the tags stay covered by this run's
        temporary rule, whatever another run does to the rule or to its own
        temporary rule at the same moment.
        """
        for dummy in range(5):
            try:
                if self.protect(carrier, protect_params(carrier, entries), entries,
                                f"protect temporary rule {carrier}"):
                    return carrier
            except GitlabModuleError as exc:
                # Refused because another run's temporary rule, with other settings, has the name.
                if exc.status not in (400, 422) or carrier not in self.read():
                    raise
            carrier = carrier_name(name, set(self.read()))
        raise GitlabModuleError(f"cannot find a free name for a temporary rule beside {name} on {self.target}; "
                                "other runs keep taking them: run the task again", project=self.target)

    def _interrupted(self, error, name, carrier) -> GitlabModuleError:
        """The error, followed by what GitLab has now for ``name`` and ``carrier`` (read back)."""
        try:
            now = self.read()
        except GitlabModuleError as read_error:
            state = f"reading the protected tags back failed too ({read_error.msg})"
        else:
            state = "; ".join(f"{pattern}: {view_entries(now[pattern]) if pattern in now else 'not protected'}"
                              for pattern in (name, carrier))
        return GitlabModuleError(
            f"{error.msg}. The tags {name} matches stay protected: the temporary rule {carrier} carries the new "
            f"settings until {name} is re-created. Now on GitLab: {state}. Run the task again to finish: it "
            f"re-creates {name} if needed, and the first run after {name} was re-created removes {carrier}",
            project=self.target, status=error.status, response=error.response)


def _check_answer(target, action, answer, warn) -> None:
    stored = mismatch(action.data["entries"], answer)
    if stored is None:
        return
    action.after = {"name": action.after["name"], "create_access_levels": stored}
    warn(f"GitLab protected tag {action.data['diff_key']!r} on {target} with {stored}, not the requested "
         f"{view_entries(action.data['entries'], {})}. GitLab Free ignores user and group entries (they need "
         "Premium or Ultimate) and then allows Maintainers; the next run will try again unless allowed_to_create "
         "is changed to what this GitLab supports")
