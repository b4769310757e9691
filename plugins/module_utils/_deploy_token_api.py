# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""Deploy tokens: the ``deploy_token`` and ``deploy_token_info`` operations, read and apply.

The pure part (validation, the plan) is ``_deploy_token.py``. Endpoints:
lib/api/deploy_tokens.rb (project and group lists, create, delete, and the
administrators' ``GET /deploy_tokens``).

Apply works per target, each on its own: the successor is created, its secret
kept for the result, and only then are that target's predecessors revoked.
A failure on one target never touches another target's tokens, and the
secret of every token created in the run is returned, also when another
target failed. A create is never re-sent blindly (see :func:`create_token`),
and nothing is deleted that this run cannot prove it created.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import raise_failures
from ansible_collections.runnercreds.gitlab.plugins.module_utils._deploy_token import (
    DEFAULT_REVOKE_GRACE_MINUTES,
    SCOPES,
    desired_from_params,
    days_until_expiry,
    is_live,
    plan_targets,
    target_result,
    token_view,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Plan, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._runner import Operation
from ansible_collections.runnercreds.gitlab.plugins.module_utils._time import utcnow


def read_tokens(client, target) -> list:
    """Every deploy token of one project or group: one list request (100 a page)."""
    items = client.list(target.path("deploy_tokens"), f"list the deploy tokens of {target.kind} {target}", target)
    return [token_view(item) for item in items]


def create_token(client, target, params: dict, known_ids, sleep=time.sleep) -> dict:
    """Create one token and return GitLab's answer, with its ``token`` secret.

    A create is not idempotent, so it is sent with ``create_once``: never
    re-sent blindly after a 5xx, a timeout or a dropped connection, because
    GitLab may have created the token before the answer was lost, and a second
    POST would then leave a live token whose secret nobody holds. After such a
    failure the tokens are listed again:

    * no token of this name appeared (not in ``known_ids``, the ids read
      before planning): GitLab did not create it, and the POST is sent again,
      at most ``max_retries`` times;
    * one appeared: it may be this POST's, or another run's created at the
      same moment. This run cannot prove which, so it deletes nothing, and
      fails naming the possible orphan (id, name, username, expiry; GitLab
      reports no creation time) for ``deploy_token_info`` and a later
      ``revoke_predecessors`` to deal with.
    """
    action = f"create deploy token {params['name']}"
    attempt = 0
    while True:
        try:
            return client.create_once(target.path("deploy_tokens"), action, target, params)
        except GitlabModuleError as exc:
            if not exc.answer_lost or attempt >= client.max_retries:
                raise
            appeared = [token for token in read_tokens(client, target)
                        if token["name"] == params["name"] and token["id"] not in known_ids]
            if appeared:
                raise PossibleOrphans(exc, target, appeared) from None
        attempt += 1
        sleep(0.1 * 2 ** attempt)


def revoke_token(client, target, token_id) -> bool:
    """DELETE one token; ``True`` when this run's request revoked it, ``False`` when it was already gone.

    A 404 on the first attempt means another run revoked it. When every
    answer was lost, the tokens are listed again to find out.
    """
    try:
        return client.delete(target.path("deploy_tokens", token_id), f"revoke deploy token #{token_id}", target,
                             missing_ok=True)
    except GitlabModuleError as exc:
        if not exc.answer_lost or any(token["id"] == token_id for token in read_tokens(client, target)):
            raise
    return True


class PossibleOrphans(GitlabModuleError):
    """A create whose answer was lost, after which tokens of that name appeared."""

    def __init__(self, cause: GitlabModuleError, target, tokens) -> None:
        self.tokens = tokens
        named = ", ".join(f"#{t['id']} ({t['username']}, expires {t['expires_at'] or 'never'})" for t in tokens)
        super().__init__(
            f"{cause.msg}. Then token {named} named {tokens[0]['name']} appeared on {target}: GitLab may have "
            "created it for this request, or another run created it at the same time. This run cannot prove it "
            "created it, so nothing was deleted; it is reported in possible_orphans. To get a token whose secret "
            "you hold, run the task again with rotate: true (it matches the task, so a plain re-run keeps it), "
            "then revoke the others with revoke_predecessors: true once the new one is installed",
            project=target, status=cause.status, response=cause.response)


class DeployTokenOperation(Operation):
    module_name = "deploy_token"
    argument_spec = dict(
        projects=dict(type="list", elements="str", aliases=["project"]),
        groups=dict(type="list", elements="str", aliases=["group"]),
        name=dict(type="str", required=True),
        username=dict(type="str"),
        scopes=dict(type="list", elements="str", choices=list(SCOPES)),
        expires_at=dict(type="str"),
        lifetime_days=dict(type="int"),
        rotate_before_expiry_days=dict(type="int"),
        rotate_after_days=dict(type="int"),
        rotate=dict(type="bool", default=False),
        revoke_predecessors=dict(type="bool", default=False),
        revoke_grace_minutes=dict(type="int", default=DEFAULT_REVOKE_GRACE_MINUTES),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module_rules = dict(
        mutually_exclusive=[("projects", "groups"), ("expires_at", "lifetime_days")],
        required_one_of=[("projects", "groups")],
        required_if=[("state", "present", ("scopes",))],
        required_by={"rotate_before_expiry_days": "lifetime_days", "rotate_after_days": "lifetime_days"},
    )
    diff_header = "{} deploy tokens"

    def __init__(self, params, check_mode, no_log=False) -> None:
        super().__init__(params, check_mode, no_log)
        self.now = utcnow()
        self.desired = None
        self.created: dict = {}  # target -> GitLab's answer to the create, with the secret
        self.deleted: dict = {}  # target -> ids deleted
        self.gone: dict = {}  # target -> ids another run revoked first
        self.orphans: list = []
        self.plan_ = None
        self._lock = threading.Lock()
        if params.get("groups") is not None:
            self.targets_option, self.target_kind = "groups", "group"

    def validate(self) -> None:
        self.desired = desired_from_params(self.params, self.now)

    def read(self, client, targets):
        return client.map_all("reading deploy tokens", targets, lambda target: read_tokens(client, target))

    def plan(self, current):
        self.plan_ = plan_targets(current, self.desired, self.now)
        if self.check_mode:
            self.created = {a.target: a.after for a in self.plan_.actions if a.kind == "create"}
            for action in self.plan_.actions:
                if action.kind == "delete":
                    self.deleted.setdefault(action.target, []).append(action.data["token_id"])
        return self.plan_

    def apply(self, client, the_plan, journal) -> None:
        creates = [action.target for action in the_plan.actions if action.kind == "create"]
        if creates and not self.no_log:
            # The secret is in this module's result; without no_log Ansible prints it (at -v, in the
            # json callback, in ANSIBLE_LOG_PATH). Refusing here, before any write, makes a leak impossible.
            raise GitlabModuleError(
                f"this run would create a deploy token on {', '.join(map(str, creates))}, and its secret is "
                "returned in the result, which Ansible prints for a task without no_log. Set no_log: true on the "
                "task and register the result (deploy_token.token); check mode and runs that create nothing "
                "work without it")
        by_target = the_plan.by_target()
        outcomes = client.map(list(by_target), lambda target: self._apply_target(client, by_target[target], journal))
        raise_failures("changing deploy tokens", outcomes)

    def _apply_target(self, client, actions, journal) -> None:
        # Successor first, on this target only: its predecessors go only once it exists.
        for action in actions:
            target = action.target
            if action.kind == "create":
                try:
                    token = create_token(client, target, action.data["params"], action.data["known_ids"])
                except PossibleOrphans as exc:
                    # GitLab probably did create a token for this request: the run changed something.
                    journal.record(target, "create (answer lost)")
                    with self._lock:
                        self.orphans.extend(dict(token, **{target.kind: label(target)}) for token in exc.tokens)
                    raise
                with self._lock:
                    self.created[target] = token
                journal.record(target, "create")
                action.after.update(id=token["id"], username=token["username"])
            else:
                token_id = action.data["token_id"]
                revoked = revoke_token(client, target, token_id)
                if revoked:
                    journal.record(target, "revoke")
                with self._lock:
                    (self.deleted if revoked else self.gone).setdefault(target, []).append(token_id)

    def _entries(self) -> list:
        return [
            target_result(target.kind, target, context["keep"],
                          [t for t in context["predecessors"] if t["id"] not in self.gone.get(target, ())],
                          self.created.get(target), self.deleted.get(target, ()), self.now)
            for target, context in self.plan_.context.items()
        ]

    def result(self, the_plan) -> dict:
        entries = self._entries()
        result = {"deploy_tokens": entries}
        if len(entries) == 1:
            result["deploy_token"] = entries[0]
        return result

    def failure_result(self) -> dict:
        # Tokens created before the failure still work: their secrets are handed back.
        if self.plan_ is None:
            return {}
        result = {"deploy_tokens": [entry for entry in self._entries() if entry["created"] or entry["deleted_ids"]]}
        if self.orphans:
            result["possible_orphans"] = self.orphans
        return result


class DeployTokenInfoOperation(Operation):
    module_name = "deploy_token_info"
    argument_spec = dict(
        projects=dict(type="list", elements="str", aliases=["project"]),
        groups=dict(type="list", elements="str", aliases=["group"]),
        name=dict(type="str"),
        active=dict(type="bool"),
    )
    module_rules = dict(mutually_exclusive=[("projects", "groups")])

    def __init__(self, params, check_mode, no_log=False) -> None:
        super().__init__(params, check_mode, no_log)
        if params.get("groups") is not None:
            self.targets_option, self.target_kind = "groups", "group"

    def validate(self) -> None:
        option = self.targets_option
        if self.params.get(option) is not None and not self.params[option]:
            raise OptionError(option, f"is empty; give at least one id or full path, or leave {option} out to "
                                      "list every deploy token of the instance (administrators only)")
        if self.params["name"] is not None and not self.params["name"].strip():
            raise OptionError("name", "is empty; give a token name such as registry-pull, or leave name out to "
                                      "list every token")

    def read(self, client, targets):
        if targets:
            return client.map_all("reading deploy tokens", targets, lambda target: read_tokens(client, target))
        items = client.list("/deploy_tokens", "list the instance's deploy tokens (administrators only)")
        return {None: [token_view(item) for item in items]}

    def plan(self, current):
        now = utcnow()
        entries = []
        for target, tokens in current.items():
            for token in tokens:
                live = is_live(token, now)
                if self.params["name"] is not None and token["name"] != self.params["name"]:
                    continue
                if self.params["active"] is not None and live != self.params["active"]:
                    continue
                entry = {getattr(target, "kind", "project"): label(target)}
                entry.update(token, active=live, days_until_expiry=days_until_expiry(token, now))
                entries.append(entry)
        return Plan(context={"deploy_tokens": entries})

    def result(self, the_plan) -> dict:
        return {"deploy_tokens": the_plan.context["deploy_tokens"]}
