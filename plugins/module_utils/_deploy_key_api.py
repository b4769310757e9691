# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy keys: the ``deploy_key`` and ``deploy_key_info`` operations, read and apply.

The pure part (records, matching, plan) is ``_deploy_key.py``. Read costs one
list request per project (``GET /projects/:id/deploy_keys``). Apply runs in
three phases so that the successor always exists before anything is removed:

1. ``recreate`` removals (only with ``recreate: true``);
2. the one ``create`` (a new key must exist before siblings can link it);
3. per project, concurrently: link (``enable``), ``update``, then deletes
   (``state: absent`` and ``purge_titles``). A project whose link fails keeps
   its old keys.

Endpoints: lib/api/deploy_keys.rb (project keys, ``enable``, the admin
``GET /deploy_keys``) and lib/api/users.rb (``/users/:id/project_deploy_keys``).
"""

from __future__ import annotations

import threading

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import Outcome, raise_failures
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key import (
    desired_from_params,
    inventory,
    key_record,
    key_summary,
    match_deploy_key,
    plan as plan_keys,
    project_entries,
    title_check_needs_admin,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import (
    GitlabModuleError,
    OptionError,
    TargetFailures,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import check_fingerprint, parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Plan, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import Operation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import format_time, utcnow


def read_deploy_keys(client, targets, step: str = "reading deploy keys") -> dict:
    """``{target: [records]}`` in task order; fails naming every unreadable project, before any write."""
    return client.map_all(step, targets, lambda target: project_deploy_keys(client, target))


# Below this many projects the per-project reads cost little, and GET /user plus the instance list may cost more.
INSTANCE_LIST_MIN_TARGETS = 10
# The instance list is read only while it costs at most one page per this many projects of the task.
PROJECTS_PER_INSTANCE_PAGE = 10


def read_through_instance_list(client, targets):
    """``{target: [records]}`` from the administrators' ``GET /deploy_keys``, or ``None`` to read per project.

    GitLab lists every deploy key of the instance with the projects holding
    it read-only and with push (``projects_with_readonly_access`` and
    ``projects_with_write_access``, lib/api/deploy_keys.rb,
    lib/api/entities/deploy_key.rb), so one page of 100 keys may stand for
    hundreds of per-project reads: a no-change run of one key on 200
    projects costs ``GET /user`` and a page or two, not 200 requests.

    Used only for administrators, only for tasks of at least
    ``INSTANCE_LIST_MIN_TARGETS`` projects, and only while the instance
    holds at most one page of keys per ``PROJECTS_PER_INSTANCE_PAGE``
    projects of the task. A project the list does not name (no deploy key
    at all, or no such project) is still read on its own: that read proves
    it exists and is readable, so a typo fails before any write, as before.
    GitLab before 16.0 (no ``projects_with_readonly_access``) is read per project.
    """
    if len(targets) < INSTANCE_LIST_MIN_TARGETS or client.token_kind == "api_job_token":
        return None  # a CI job token may not read /user, and is never an administrator's
    try:
        if not client.current_user().get("is_admin"):
            return None
        items = client.list_within("/deploy_keys", "list the instance's deploy keys (administrators only)",
                                   max_pages=max(1, len(targets) // PROJECTS_PER_INSTANCE_PAGE))
    except GitlabModuleError:
        return None  # nothing learned, nothing changed: the per-project reads say what is wrong, project by project
    # Before GitLab 16.0 the list named only the projects with write access: read-only links would look absent.
    if items is None or any("projects_with_readonly_access" not in item for item in items):
        return None
    by_ref: dict = {}
    for item in items:
        for access, can_push in (("projects_with_write_access", True), ("projects_with_readonly_access", False)):
            for project in item.get(access) or []:
                record = key_record(dict(item, can_push=can_push))
                by_ref.setdefault(project["id"], []).append(record)
                by_ref.setdefault(str(project["path_with_namespace"]).casefold(), by_ref[project["id"]])
    current, unlisted = {}, []
    for target in targets:
        ref = target.ref if isinstance(target.ref, int) else str(target.ref).casefold()
        if ref in by_ref:
            current[target] = sorted(by_ref[ref], key=lambda record: record["id"])
        else:
            unlisted.append(target)
    if unlisted:
        current.update(read_deploy_keys(client, unlisted))
    return {target: current[target] for target in targets}


def project_deploy_keys(client, target) -> list:
    """Every deploy key enabled on one project, as :func:`key_record` dicts (one request, 100 a page)."""
    return [key_record(item) for item in client.list(target.path("deploy_keys"), "list deploy keys", target)]


class DeployKeyOperation(Operation):
    module_name = "deploy_key"
    argument_spec = dict(
        projects=dict(type="list", elements="raw", required=True, aliases=["project"]),
        key=dict(type="str", no_log=False),
        title=dict(type="str"),
        can_push=dict(type="bool", default=False),
        expires_at=dict(type="str"),
        lifetime_days=dict(type="int"),
        recreate=dict(type="bool", default=False),
        purge_titles=dict(type="list", elements="str", default=[], no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module_rules = dict(required_if=[("state", "present", ["key"])], mutually_exclusive=[("expires_at", "lifetime_days")])

    desired = None
    current = None

    def validate(self) -> None:
        self.desired = desired_from_params(self.params)

    def target_entries(self) -> list:
        return project_entries(self.params["projects"])

    def read(self, client, targets):
        self.desired.can_push_by_project = {target: target.settings["can_push"] for target in targets
                                            if target.settings.get("can_push") is not None}
        current = read_through_instance_list(client, targets) or read_deploy_keys(client, targets)
        is_admin = None
        if title_check_needs_admin(current, self.desired):
            is_admin = bool(client.current_user().get("is_admin"))
        return current, is_admin

    def plan(self, current):
        self.current, is_admin = current
        return plan_keys(self.current, self.desired, is_admin=is_admin)

    def apply(self, client, the_plan, journal) -> None:
        applier = KeyApplier(client, self.desired, journal, total=len(the_plan.by_target()))
        applier.run(the_plan.actions)
        the_plan.notes.extend(applier.notes)

    def result(self, the_plan) -> dict:
        result = {"notes": list(the_plan.notes)}
        if self.desired.state == "present":
            result["deploy_key"] = key_summary(self.current, the_plan.actions, self.desired)
        return result


class DeployKeyInfoOperation(Operation):
    module_name = "deploy_key_info"
    argument_spec = dict(
        projects=dict(type="list", elements="raw", aliases=["project"]),
        fingerprint=dict(type="str"),
        key=dict(type="str", no_log=False),
        title=dict(type="str"),
    )

    key = fingerprint = None

    def validate(self) -> None:
        params = self.params
        if params["projects"] is not None and not params["projects"]:
            raise OptionError("projects", "is empty; give at least one project id or full path, or leave projects "
                                          "out to list every deploy key of the instance (administrators only)")
        if params["key"] is not None:
            self.key = parse_public_key(params["key"])
        if params["fingerprint"] is not None:
            self.fingerprint = check_fingerprint(params["fingerprint"], "fingerprint")
        if params["title"] is not None and not params["title"].strip():
            raise OptionError("title", "is empty; give a title or a glob such as runner-*, or leave title out")

    def read(self, client, targets):
        if targets:
            return read_deploy_keys(client, targets)
        return instance_deploy_keys(client)

    def plan(self, current):
        params = self.params
        if self.key is not None or self.fingerprint or params["title"]:
            current = {target: match_deploy_key(keys, key=self.key, fingerprint=self.fingerprint,
                                                title=params["title"])
                       for target, keys in current.items()}
        labelled = {label(target): keys for target, keys in current.items()}
        return Plan(context={"deploy_keys": inventory(labelled, utcnow())})

    def result(self, the_plan) -> dict:
        return {"deploy_keys": the_plan.context["deploy_keys"]}


def instance_deploy_keys(client) -> dict:
    """Admin only: every deploy key with the projects it is enabled on (``GET /deploy_keys``).

    ``{project path: [records]}``; the key ``None`` holds keys enabled nowhere.
    """
    items = client.list("/deploy_keys", "list the instance's deploy keys (administrators only)")
    current: dict = {}
    for item in items:
        for access, can_push in (("projects_with_write_access", True), ("projects_with_readonly_access", False)):
            for project in item.get(access) or []:
                current.setdefault(project["path_with_namespace"], []).append(key_record(dict(item, can_push=can_push)))
        if not item.get("projects_with_write_access") and not item.get("projects_with_readonly_access"):
            current.setdefault(None, []).append(key_record(item))
    return current


class KeyApplier:
    """Applies one deploy-key plan, recording each accepted write in the journal.

    Every write whose answer was lost (no answer, or a 5xx) is confirmed by
    reading the project back: what GitLab has decides whether it happened.
    """

    def __init__(self, client, desired, journal, total: int) -> None:
        self.client = client
        self.desired = desired
        self.journal = journal
        self.total = total  # projects with actions: what a failure counts against
        self.notes: list = []
        self.key = None  # the declared key's record as GitLab answered it
        self._lock = threading.Lock()

    def run(self, actions) -> None:
        by_target: dict = {}
        for action in actions:
            by_target.setdefault(action.target, []).append(action)
        removals = [action for action in actions if action.kind == "recreate"]
        if removals:
            self._remove_for_recreate(removals)
        failures = self._first_add([a for a in actions if a.data.get("then") in ("create", "enable")])
        rest = {target: [a for a in items if a.data.get("done") is None] for target, items in by_target.items()
                if target not in failures}
        rest = {target: items for target, items in rest.items() if items}
        outcomes = self.client.map(list(rest), lambda target: self._project(rest[target]))
        failures.update({outcome.target: outcome.error for outcome in outcomes if not outcome.ok})
        if failures:
            raise TargetFailures("changing deploy keys", failures, total=self.total)

    def _remove_for_recreate(self, removals) -> None:
        """GitLab keeps one key per fingerprint, so a new expiry means remove, then add again.

        If a removal fails, the key is linked back wherever it was already
        removed, so no project is left without it.
        """
        outcomes = self.client.map(removals, lambda a: self._remove(a.target, a.data["remove_id"], "remove to add again"))
        failed = [outcome for outcome in outcomes if not outcome.ok]
        if not failed:
            return
        for outcome in outcomes:
            if outcome.ok:
                action = outcome.target
                self._confirmed(lambda a=action: self._post_key(a.target, a.data["title"], self.desired.key.text,
                                                                "link the deploy key back"),
                                action.target, self._has_key)
                self.journal.record(action.target, "link back after the failed removal elsewhere")
        raise_failures("removing the key to add it again",
                       [Outcome(o.target.target, o.value, o.error) for o in outcomes], total=self.total)

    def _first_add(self, adds) -> dict:
        """Add the key on the first project that takes it; a project that fails does not stop the others.

        A POST of the key text creates the key, or links it where GitLab
        already has it, so the next project can always try. Returns the
        failures, by project.
        """
        failures = {}
        if any(action.data["then"] == "create" for action in adds):
            for action in adds:
                outcome = self.client.map([action], self._create)[0]
                if outcome.ok:
                    action.data["done"] = True
                    break
                failures[action.target] = outcome.error
        return failures

    def _project(self, actions) -> None:
        # In order: link/update first, deletes last (successor-first); a failure stops this project.
        for action in actions:
            if action.kind == "delete":
                self._remove(action.target, action.data["key_id"], "delete")
            elif action.kind == "update":
                self._update(action)
            else:
                self._link(action)

    # --- single writes, confirmed by reading back when the answer was lost -------------------

    def _confirmed(self, write, target, check):
        """``write()``; if its answer was lost, read the project back: ``check(records)`` says whether it happened."""
        try:
            return write()
        except GitlabModuleError as exc:
            if not exc.answer_lost:
                raise
            found = check(project_deploy_keys(self.client, target))
            if found is None or found is False:
                raise
            return found

    def _has_key(self, records):
        found = match_deploy_key(records, fingerprint=self.desired.fingerprint)
        return found[0] if found else None

    def _remove(self, target, key_id, what):
        path = target.path("deploy_keys", key_id)
        # A 404 on the first attempt: another run removed it, nothing recorded as this run's change.
        if self._confirmed(lambda: self.client.delete(path, f"remove deploy key {key_id}", target, missing_ok=True),
                           target, lambda records: all(record["id"] != key_id for record in records)):
            self.journal.record(target, what)
        return target

    def _payload(self, target, title, key_text) -> dict:
        payload = {"title": title, "key": key_text, "can_push": self.desired.can_push_on(target)}
        expires_at = self.desired.expiry_for_new_key()
        if expires_at is not None:
            payload["expires_at"] = format_time(expires_at)
        return payload

    def _post_key(self, target, title, key_text, what) -> dict:
        answer = self.client.create(target.path("deploy_keys"), what, target, self._payload(target, title, key_text))
        return key_record(answer)

    def _create(self, action) -> None:
        target = action.target
        try:
            record = self._confirmed(lambda: self._post_key(target, action.data["title"], self.desired.key.text,
                                                            "add the deploy key"), target, self._has_key)
        except GitlabModuleError as exc:
            if exc.status != 400 or "has already been taken" not in (exc.msg or ""):
                raise
            record = self._link_elsewhere(target)
        self.journal.record(target, "create")
        self._check_linked(target, record)
        if record["title"] != action.data["title"]:
            action.after["title"] = record["title"]
            self._note(f"GitLab linked deploy key SHA256:{self.desired.fingerprint} that it already had under the "
                       f"title {record['title']!r} and kept that title")
        with self._lock:
            self.key = record
        action.after["id"] = record["id"]

    def _link(self, action) -> None:
        target = action.target
        key_text = action.data.get("key_text") or (self.key or {}).get("key") or self.desired.key.text
        record = self._confirmed(lambda: self._post_key(target, action.data["title"], key_text,
                                                        "enable the deploy key"), target, self._has_key)
        self.journal.record(target, action.kind)
        self._check_linked(target, record)
        action.after["id"] = record["id"]
        with self._lock:
            self.key = self.key or record

    def _check_linked(self, target, record) -> None:
        if record["fingerprint_sha256"] != self.desired.fingerprint:
            raise GitlabModuleError(
                f"GitLab answered with key SHA256:{record['fingerprint_sha256']} instead of "
                f"SHA256:{self.desired.fingerprint}; nothing else was done on {target}", project=target)
        wanted = self.desired.can_push_on(target)
        # Another run may have linked the key with other access meanwhile: what the task says wins.
        if bool(record["can_push"]) != wanted:
            self._put(target, record["id"], {"can_push": wanted})
            self.journal.record(target, "update")
            record["can_push"] = wanted

    def _link_elsewhere(self, target) -> dict:
        """The key exists but POST cannot see it by its text: find it by fingerprint and enable it by id."""
        user = self.client.current_user()
        path = "/deploy_keys" if user.get("is_admin") else f"/users/{user['id']}/project_deploy_keys"
        items = self.client.list(path, "list the deploy keys this token can use", target)
        found = match_deploy_key([key_record(item) for item in items], fingerprint=self.desired.fingerprint)
        if not found:
            raise GitlabModuleError(
                f"cannot add deploy key SHA256:{self.desired.fingerprint} on {target}: GitLab already has this key "
                "where the token cannot see it (another project's deploy key, or a user's personal SSH key), and "
                "GitLab keeps one key per fingerprint. Ask a Maintainer of a project that has it to run this task, "
                "or use another key", project=target, status=400)
        key_id = found[0]["id"]
        record = self._confirmed(
            lambda: key_record(self.client.create(target.path("deploy_keys", key_id, "enable"),
                                                  f"enable deploy key {key_id}", target)),
            target, self._has_key)
        # A new link is read-only: POST .../enable takes no can_push (lib/api/deploy_keys.rb).
        record["can_push"] = False
        return record

    def _update(self, action) -> None:
        target = action.target
        changes = action.data["changes"]
        answer = self._put(target, action.data["key_id"], changes)
        if "title" in changes and answer.get("title") != changes["title"]:
            action.after["title"] = answer.get("title")
            action.data["ignored"] = set(changes) == {"title"}
            self._note(f"GitLab kept title {answer.get('title')!r} of deploy key SHA256:{self.desired.fingerprint}: "
                       "the key is used in other projects and only an admin can rename it")
        if not action.data.get("ignored"):
            self.journal.record(target, "update")

    def _put(self, target, key_id, changes) -> dict:
        def applied(records):
            record = next((r for r in records if r["id"] == key_id), None)
            return record if record and all(record.get(k) == v for k, v in changes.items()) else None
        return self._confirmed(
            lambda: self.client.update(target.path("deploy_keys", key_id), changes, f"update deploy key {key_id}",
                                       target), target, applied)

    def _note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)
