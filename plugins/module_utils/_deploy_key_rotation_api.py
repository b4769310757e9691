# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The ``deploy_key_rotation`` operation: the GitLab side of replacing a deploy key, successor first.

A rotation is two steps with the host's own work between them (the runner
role switches the host to the successor and verifies it from the host):

``add_successor``
    the successor is linked on every project of the task with the
    predecessor's ``can_push`` there (or the entry's own), and added to every
    protected tag that allows the predecessor, so at no moment is the host's
    key missing from a project or a release pattern;
``retire_predecessor``
    refused unless the successor is on every project that still has the
    predecessor; then every protected tag names the successor instead of the
    predecessor, and only then is the predecessor removed from the projects.
    Nothing points at a deleted key (GitLab would drop such rule rows by a
    cascading foreign key, db/structure.sql, protected_tag_create_access_levels).

Both steps are idempotent, so a run that stopped anywhere resumes. Protected
tag changes go through ``TagWriter``: never an unprotected moment.
"""

from __future__ import annotations

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import raise_failures
from ansible_collections.runnercreds.gitlab.plugins.module_utils._controller_lock import target_lock
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key import (
    Desired,
    match_deploy_key,
    plan as plan_keys,
    project_entries,
    view,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_key_api import KeyApplier, read_deploy_keys
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import parse_public_key
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Plan, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._protected_tag import (
    carry_deploy_key,
    plan as plan_tags,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._protected_tag_api import (
    apply_project,
    read_protected_tags,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import Operation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import format_time, parse_option_time, utcnow

# Shown for the successor in check mode before GitLab has given it an id.
NEW_KEY_ID = 0
# How often one project's protected tags are written when a run elsewhere keeps writing over them.
TAG_WRITE_ATTEMPTS = 3


class DeployKeyRotationOperation(Operation):
    module_name = "deploy_key_rotation"
    argument_spec = dict(
        projects=dict(type="list", elements="raw", required=True, aliases=["project"]),
        key=dict(type="str", required=True, no_log=False),
        successor=dict(type="str", required=True, no_log=False),
        title=dict(type="str"),
        expires_at=dict(type="str"),
        lifetime_days=dict(type="int"),
        protected_tags=dict(type="bool", default=True),
        step=dict(type="str", required=True, choices=["add_successor", "retire_predecessor"]),
    )
    module_rules = dict(mutually_exclusive=[("expires_at", "lifetime_days")])

    def __init__(self, params, check_mode, no_log=False) -> None:
        super().__init__(params, check_mode, no_log)
        self.predecessor = self.successor = None
        self.now = utcnow()
        self.keys = self.tags = None
        self.successor_id = None

    def validate(self) -> None:
        params = self.params
        if not params["projects"]:
            raise OptionError("projects", "is empty; give at least one project id or full path")
        project_entries(params["projects"])
        self.predecessor = parse_public_key(params["key"], "key")
        self.successor = parse_public_key(params["successor"], "successor")
        if self.predecessor.fingerprint_sha256 == self.successor.fingerprint_sha256:
            raise OptionError("successor", "is the same key as key; give the new public key")
        if params["lifetime_days"] is not None and params["lifetime_days"] < 1:
            raise OptionError("lifetime_days", f"must be 1 or more, got {params['lifetime_days']}")
        if params["title"] is not None and not params["title"].strip():
            raise OptionError("title", "is empty; leave it out to keep the predecessor's title")
        expires_at = parse_option_time(params["expires_at"], "expires_at")
        if expires_at is not None and expires_at <= self.now:
            raise OptionError("expires_at", f"is {format_time(expires_at)}, which is in the past; GitLab would refuse "
                                            "the successor")

    def target_entries(self) -> list:
        return project_entries(self.params["projects"])

    def read(self, client, targets):
        keys = read_deploy_keys(client, targets)
        tags = {}
        if self.params["protected_tags"]:
            tags = client.map_all("reading protected tags", targets, lambda target: read_protected_tags(client, target))
        return keys, tags

    # --- plan -----------------------------------------------------------------------------------

    def _holders(self, key) -> dict:
        """``{target: record}`` of the task's projects that have ``key``."""
        held = {}
        for target, records in self.keys.items():
            found = match_deploy_key(records, fingerprint=key.fingerprint_sha256)
            if found:
                held[target] = found[0]
        return held

    def plan(self, current):
        self.keys, self.tags = current
        predecessors, successors = self._holders(self.predecessor), self._holders(self.successor)
        if successors:
            self.successor_id = next(iter(successors.values()))["id"]
        retire = self.params["step"] == "retire_predecessor"
        if retire:
            missing = [str(target) for target in predecessors if target not in successors]
            if missing:
                raise GitlabModuleError(
                    f"the successor SHA256:{self.successor.fingerprint_sha256} is not on {', '.join(missing)} yet, "
                    "where the predecessor still is; run step add_successor first (and switch the host to the "
                    "successor), so retiring cannot leave a project without the host's key")
            desired = Desired(state="absent", key=self.predecessor)
        else:
            desired = self._successor_desired(predecessors)
        key_plan = plan_keys(self.keys, desired)
        tag_plan = self._tag_plan(predecessors, retire)
        # Successor first: on adding, keys before tags; on retiring, tags before the keys go.
        actions = tag_plan.actions + key_plan.actions if retire else key_plan.actions + tag_plan.actions
        return Plan(actions, key_plan.notes,
                    context={"predecessors": predecessors, "retire": retire, "desired": desired})

    def _successor_desired(self, predecessors) -> Desired:
        title = self.params["title"] or next((record["title"] for record in predecessors.values()), None)
        can_push = {}
        for target in self.keys:
            wanted = target.settings.get("can_push")
            can_push[target] = bool(predecessors[target]["can_push"]) if wanted is None and target in predecessors \
                else bool(wanted)
        return Desired(key=self.successor, title=title, can_push_by_project=can_push,
                       expires_at=parse_option_time(self.params["expires_at"], "expires_at"),
                       lifetime_days=self.params["lifetime_days"], now=self.now)

    def _tag_plan(self, predecessors, retire) -> Plan:
        """Protected-tag updates on every project where the predecessor is (pure, from what was read)."""
        if not predecessors or not self.tags:
            return Plan()
        return Plan([action for target in predecessors
                     for action in self._tag_actions(target, self.tags[target], predecessors, retire)])

    def _tag_actions(self, target, current, predecessors, retire) -> list:
        """The protected-tag actions on one project, from ``current``, GitLab's protected tags there (pure)."""
        successor_id = self.successor_id if self.successor_id is not None else NEW_KEY_ID
        title = self.params["title"] or next(iter(predecessors.values()))["title"]
        predecessor_id = next(iter(predecessors.values()))["id"]
        wanted = carry_deploy_key(current, predecessor_id, successor_id, title, retire)
        actions = plan_tags(target, current, wanted).actions
        for action in actions:
            action.data["tag"] = True
        return actions

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, client, the_plan, journal) -> None:
        context = the_plan.context
        predecessors, retire = context["predecessors"], context["retire"]
        key_actions = [action for action in the_plan.actions if not action.data.get("tag")]
        # Only the projects whose rules name the predecessor: no other run adds this host's key to a rule.
        tag_targets = list(dict.fromkeys(action.target for action in the_plan.actions if action.data.get("tag")))
        total = len(the_plan.by_target())
        if retire:
            outcomes = self._apply_tags(client, tag_targets, predecessors, retire, journal)
            self._report_tags(the_plan, key_actions, outcomes)
            kept = {outcome.target for outcome in outcomes if not outcome.ok}
            self._apply_keys(client, [a for a in key_actions if a.target not in kept], context["desired"], journal,
                             total)
            if kept:
                raise GitlabModuleError(
                    f"the protected tags of {', '.join(map(str, kept))} could not be changed, so the predecessor was "
                    "kept there; run the task again")
            return
        self._apply_keys(client, key_actions, context["desired"], journal, total)
        outcomes = self._apply_tags(client, tag_targets, predecessors, retire, journal)
        self._report_tags(the_plan, key_actions, outcomes)
        raise_failures("changing protected tags", outcomes, total=total)

    def _apply_keys(self, client, actions, desired, journal, total) -> None:
        if not actions:
            return
        applier = KeyApplier(client, desired, journal, total=total)
        applier.run(actions)
        if applier.key is not None and desired.state == "present":
            self.successor_id = applier.key["id"]

    def _apply_tags(self, client, targets, predecessors, retire, journal) -> list:
        """Carry the key on each project's protected tags; one :class:`Outcome` per project.

        The change is planned again from a fresh read while this controller's
        lock for the project is held (another host of the play may have just
        changed the same rule), written, then read back: a run from another
        controller may have written over it, and then it is written again.
        """
        def work(target):
            done = []
            # The lock is by id: other hosts' tasks may name the project by id or path, in any case.
            target_id = target.ref if isinstance(target.ref, int) else \
                client.get(target.path(), f"look up {target.kind} {target}", target)["id"]
            with target_lock(client.url, target, target_id, "changing protected tags"):
                for dummy in range(TAG_WRITE_ATTEMPTS):
                    actions = self._tag_actions(target, read_protected_tags(client, target), predecessors, retire)
                    if not actions:
                        return done
                    apply_project(client, target, actions, journal, lambda text: None)
                    done.extend(actions)
                if self._tag_actions(target, read_protected_tags(client, target), predecessors, retire):
                    raise GitlabModuleError(
                        f"the protected tags of {target} were changed by another run after each of "
                        f"{TAG_WRITE_ATTEMPTS} updates; run the task again", project=target)
            return done

        return client.map(targets, work)

    @staticmethod
    def _report_tags(the_plan, key_actions, outcomes) -> None:
        """The plan's tag actions become what was written (planned again under the lock), per project."""
        written = {outcome.target: outcome.value for outcome in outcomes if outcome.ok}
        planned = [action for action in the_plan.actions if action.data.get("tag") and action.target not in written]
        the_plan.actions = key_actions + planned + [action for actions in written.values() for action in actions]

    # --- result ---------------------------------------------------------------------------------

    def result(self, the_plan) -> dict:
        context = the_plan.context
        added = {action.target for action in the_plan.actions if action.kind in ("create", "enable")}
        successors = set(self._holders(self.successor)) | added
        remaining = [] if context["retire"] else list(context["predecessors"])
        return {
            "successor": {
                "id": self.successor_id,
                "fingerprint_sha256": f"SHA256:{self.successor.fingerprint_sha256}",
                "projects": [label(target) for target in self.keys if target in successors],
            },
            "predecessor": {
                "fingerprint_sha256": f"SHA256:{self.predecessor.fingerprint_sha256}",
                "projects": [label(target) for target in remaining],
                "before": [dict(view(record), project=label(target))
                           for target, record in context["predecessors"].items()],
            },
        }
