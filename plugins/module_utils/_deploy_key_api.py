# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy keys: the read and apply steps around the pure plan in ``_deploy_key``.

Read costs one list request per project. Apply runs in three phases so that
the successor always exists before anything is removed:

1. ``recreate`` removals (only with ``recreate: true``);
2. the one ``create`` (a new key must exist before siblings can link it);
3. per project, concurrently: link (``enable``), ``update``, then deletes
   (``state: absent`` and ``purge_titles``). A project whose link fails keeps
   its old keys.
"""

from __future__ import annotations

import threading

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import failure_summary, Outcome
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key import (
    find_project_deploy_keys,
    iso_utc,
    key_record,
    match_deploy_key,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError


def read(client, projects, module_name="deploy_key"):
    """{project: [records]} in task order; fails before any write if one project cannot be read."""
    outcomes = client.map(projects, lambda project: find_project_deploy_keys(client, project),
                          action="list deploy keys")
    error = failure_summary(outcomes, "%s: reading deploy keys" % module_name)
    if error is not None:
        raise error
    return {outcome.target: outcome.value for outcome in outcomes}


def current_user(client):
    """``GET /user`` (one request): ``id``, ``username`` and, for admins, ``is_admin``."""
    return client.call("read the token's user", None, client.gl.http_get, "/user")


class Applier:
    """Applies one plan; remembers what changed so a failure can say so."""

    def __init__(self, client, desired):
        self.client = client
        self.desired = desired
        self.changed = []  # projects, in the order they changed
        self.notes = []
        self.key = None  # the declared key's record as GitLab answered it
        self._lock = threading.Lock()

    def _changed(self, project):
        with self._lock:
            if project not in self.changed:
                self.changed.append(project)

    def _note(self, text):
        with self._lock:
            self.notes.append(text)

    def run(self, actions):
        by_project = {}
        for action in actions:
            by_project.setdefault(action.target, []).append(action)

        removals = [a for a in actions if a.kind == "recreate"]
        if removals:
            self._phase(removals, lambda a: self._remove(a.target, a.data["remove_id"]), "remove the key to recreate it")

        first = next((a for a in actions if a.data.get("then") == "create"), None)
        if first is not None:
            outcome = self._outcome(first.target, lambda: self._create(first))
            if not outcome.ok:
                waiting = [Outcome(p, error=GitlabModuleError("not attempted: the key could not be added on %s"
                                                              % first.target))
                           for p in by_project if p != first.target]
                raise failure_summary([outcome] + waiting, "deploy_key", self.changed)

        rest = {project: [a for a in items if a is not first] for project, items in by_project.items()}
        rest = {project: items for project, items in rest.items() if items}
        outcomes = self.client.map(list(rest), lambda project: self._project(rest[project]),
                                   action="change deploy keys")
        error = failure_summary(outcomes, "deploy_key", self.changed)
        if error is not None:
            raise error

    def _outcome(self, target, work):
        return self.client.map([target], lambda _target: work(), action="change deploy keys")[0]

    def _phase(self, actions, work, action):
        outcomes = self.client.map(actions, work, action=action)
        named = [Outcome(o.target.target, o.value, o.error) for o in outcomes]
        error = failure_summary(named, "deploy_key", self.changed)
        if error is not None:
            raise error

    def _project(self, actions):
        # In order: link/update first, deletes last (successor-first); a failure stops this project.
        for action in actions:
            if action.kind == "delete":
                self._remove(action.target, action.data["key_id"])
            elif action.kind == "update":
                self._update(action)
            else:
                self._link(action)

    # --- single requests --------------------------------------------------

    def _keys(self, project):
        return self.client.project(project).keys

    def _remove(self, project, key_id):
        self.client.call("remove deploy key %s" % key_id, project, self._keys(project).delete, key_id)
        self._changed(project)

    def _create(self, action):
        project = action.target
        desired = self.desired
        payload = {"title": action.data["title"], "key": desired.key.text, "can_push": desired.can_push_on(project)}
        if desired.expires_at is not None:
            payload["expires_at"] = iso_utc(desired.expires_at)
        try:
            created = self.client.call("add the deploy key", project, self._keys(project).create, payload)
        except GitlabModuleError as exc:
            if exc.status == 400 and "has already been taken" in (exc.msg or ""):
                record = self._link_elsewhere(project)
            else:
                raise
        else:
            record = key_record(created.asdict())
        self._changed(project)
        self._check_linked(project, record)
        if record["title"] != action.data["title"]:
            action.after["title"] = record["title"]
            self._note("GitLab linked deploy key SHA256:%s that it already had under the title %r and kept that "
                       "title" % (self.desired.fingerprint, record["title"]))
        self.key = record
        action.after["id"] = record["id"]

    def _link(self, action):
        project = action.target
        key_text = action.data.get("key_text") or self.key["key"]
        payload = {"title": action.data["title"], "key": key_text, "can_push": self.desired.can_push_on(project)}
        created = self.client.call("enable the deploy key", project, self._keys(project).create, payload)
        record = key_record(created.asdict())
        self._changed(project)
        self._check_linked(project, record)
        action.after["id"] = record["id"]
        if self.key is None:
            with self._lock:
                self.key = self.key or record

    def _check_linked(self, project, record):
        desired = self.desired
        if record["fingerprint_sha256"] != desired.fingerprint:
            raise GitlabModuleError(
                "GitLab answered with key SHA256:%s instead of SHA256:%s; nothing else was done on %s"
                % (record["fingerprint_sha256"], desired.fingerprint, project), project=project)
        if desired.can_push_on(project) and not record["can_push"]:
            self._put(project, record["id"], {"can_push": True})
            record["can_push"] = True

    def _link_elsewhere(self, project):
        """The key exists but POST cannot see it by its text: find it by fingerprint and enable it by id."""
        desired = self.desired
        user = current_user(self.client)
        path = "/deploy_keys" if user.get("is_admin") else "/users/%s/project_deploy_keys" % user["id"]
        items = self.client.call("list the deploy keys this token can use", project,
                                 self.client.gl.http_list, path, get_all=True, per_page=100)
        found = match_deploy_key([key_record(item) for item in items], fingerprint=desired.fingerprint)
        if not found:
            raise GitlabModuleError(
                "cannot add deploy key SHA256:%s on %s: GitLab already has this key where the token cannot see it "
                "(another project's deploy key, or a user's personal SSH key), and GitLab keeps one key per "
                "fingerprint. Ask a Maintainer of a project that has it to run this task, or use another key"
                % (desired.fingerprint, project), project=project, status=400)
        enabled = self.client.call("enable deploy key %s" % found[0]["id"], project,
                                   self._keys(project).enable, found[0]["id"])
        record = key_record(enabled)
        record["can_push"] = False  # a new link is read-only (spec §2.7)
        return record

    def _update(self, action):
        project = action.target
        changes = action.data["changes"]
        answer = self._put(project, action.data["key_id"], changes)
        if "title" in changes and answer.get("title") != changes["title"]:
            action.after["title"] = answer.get("title")
            action.data["ignored"] = set(changes) == {"title"}
            self._note("GitLab kept title %r of deploy key SHA256:%s: the key is used in other projects and only "
                       "an admin can rename it" % (answer.get("title"), self.desired.fingerprint))
        if not action.data.get("ignored"):
            self._changed(project)

    def _put(self, project, key_id, changes):
        return self.client.call("update deploy key %s" % key_id, project, self._keys(project).update, key_id, changes)
