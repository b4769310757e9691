# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The one runner every API module's ``main()`` calls.

A module describes what it does as an :class:`Operation` (its options, how
it validates them, reads, plans, applies and reports); :func:`run_operation`
does the rest the same way for every module, as community.crypto's
``OpensshModule.execute()`` and kubernetes.core's ``k8s/runner.py`` do:

1. build ``AnsibleModule`` from the connection options and the module's own;
   an option value holding private-key material is made ``no_log`` first, so
   not even the ``invocation`` echo shows it;
2. validate the connection options and the module's options, before any
   request (:class:`~._errors.OptionError`, nothing sent);
3. resolve the targets once (``_targets``), read, plan (pure), and apply
   unless in check mode, while a :class:`~._plan.Journal` records every write;
4. return one result shape: ``changed``, ``actions``, ``msg``, ``diff`` in
   diff mode, plus the module's own fields; or fail with the module, the step,
   the target, the HTTP status once, GitLab's message, a hint and what had
   changed before the failure, with ``changed`` true when anything was written.
"""

from __future__ import annotations

import copy
import os
import traceback

from ansible.module_utils import basic

from ansible_collections.runnercreds.gitlab.plugins.module_utils._client import GitlabClient
from ansible_collections.runnercreds.gitlab.plugins.module_utils._connection import (
    TOKEN_ENV,
    TOKEN_OPTIONS,
    URL_ENV,
    connection_spec,
    url_may_hold_secret,
    validate_connection,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import (
    GitlabModuleError,
    OptionError,
    TargetFailures,
    failure_message,
)
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import PRIVATE_KEY_MARKER
from ansible_collections.runnercreds.gitlab.plugins.module_utils._plan import Journal, diff_for, label
from ansible_collections.runnercreds.gitlab.plugins.module_utils._targets import resolve_targets, simple_entries


class Operation:
    """What one module does. Subclasses set the class attributes and override the steps.

    ``targets_option`` names the list option holding projects or groups (the
    runner resolves them); ``None`` for modules without targets. The steps
    ``validate`` and ``plan`` must be pure; ``read`` and ``apply`` talk to
    GitLab only through the client.
    """

    module_name = ""
    argument_spec: dict = {}
    # Further AnsibleModule keyword arguments: mutually_exclusive, required_if, ...
    module_rules: dict = {}
    targets_option: str | None = "projects"
    target_kind = "project"
    diff_header = "{}"

    def __init__(self, params: dict, check_mode: bool, no_log: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        # Whether the task runs with no_log: modules that create secrets may refuse to run without it.
        self.no_log = no_log

    def validate(self) -> None:
        """Check the module's own options (pure); raise ``OptionError`` naming option and fix."""

    def target_entries(self) -> list:
        return simple_entries(self.targets_option, self.params.get(self.targets_option))

    def read(self, client, targets):
        raise NotImplementedError

    def plan(self, current):
        raise NotImplementedError

    def apply(self, client, the_plan, journal) -> None:
        raise NotImplementedError

    def result(self, the_plan) -> dict:
        """The module's own result fields, besides ``changed``, ``actions``, ``msg`` and ``diff``."""
        return {}

    def failure_result(self) -> dict:
        """Fields a failed run still returns (for example a secret GitLab already handed over)."""
        return {}


def run_operation(operation_class) -> None:
    """Everything an API module's ``main()`` does."""
    spec, malformed = _prepare_spec(dict(connection_spec(), **operation_class.argument_spec))
    module = basic.AnsibleModule(argument_spec=spec, supports_check_mode=True, **operation_class.module_rules)
    if malformed:
        module.fail_json(msg=f"{operation_class.module_name}: {malformed[0].msg}", changed=False)
    operation = operation_class(module.params, module.check_mode, no_log=bool(module.no_log))
    journal = Journal()
    try:
        plan = _drive(module, operation, journal)
    except GitlabModuleError as error:
        module.fail_json(**_failure(operation, error, journal))
    except Exception as error:  # pylint: disable=broad-except
        # A bug, or an error no layer translated: fail_json masks every no_log value in the message and the
        # traceback (an uncaught exception would print them raw), and still says what was written.
        module.fail_json(msg=f"{operation.module_name}: unexpected {type(error).__name__}: {error}. This is a bug; "
                             "please report it with the traceback.", exception=traceback.format_exc(),
                         changed=journal.changed, changes=[{"project": label(target), "action": what}
                                                           for target, what in journal.changes])
    for note in plan.notes:
        module.warn(note)
    changed = bool(plan.actions) if module.check_mode else journal.changed
    verb = "would apply" if module.check_mode and plan.actions else "applied"
    result = dict(
        changed=changed,
        actions=[action.as_dict() for action in plan.actions],
        msg=f"{operation.module_name}: {plan.summary()}" if not plan.actions
        else f"{operation.module_name}: {verb} {plan.summary()}",
    )
    result.update(operation.result(plan))
    if module._diff:
        result["diff"] = diff_for(plan.actions, operation.diff_header)
    module.exit_json(**result)


def _drive(module, operation, journal):
    _hide_secret_urls(module)
    connection = validate_connection(module.params)
    # A token from GITLAB_TOKEN is not a module parameter: register it so no output can show it.
    module.no_log_values.add(connection.token)
    operation.validate()
    client = GitlabClient(connection)
    targets = []
    if operation.targets_option is not None:
        targets = resolve_targets(client, operation.target_kind, operation.target_entries())
    current = operation.read(client, targets)
    plan = operation.plan(current)
    if plan.actions and not module.check_mode:
        operation.apply(client, plan, journal)
    return plan


def _hide_secret_urls(module) -> None:
    """A URL with user info or a query (``?private_token=...``) may carry a secret: never show it, nor the raw tokens."""
    for value in (module.params.get("api_url"), os.environ.get(URL_ENV)):
        if value and url_may_hold_secret(value):
            module.no_log_values.add(str(value))
    for name in TOKEN_OPTIONS:
        if module.params.get(name):
            module.no_log_values.add(str(module.params[name]))
    if os.environ.get(TOKEN_ENV):
        module.no_log_values.update({os.environ[TOKEN_ENV], os.environ[TOKEN_ENV].strip()})


def _failure(operation, error: GitlabModuleError, journal: Journal) -> dict:
    result = dict(operation.failure_result())
    result.update(
        msg=failure_message(operation.module_name, error, journal.changes),
        changed=journal.changed,
        # The targets GitLab changed, in order; ``changes`` says what was done on each.
        actions_done=list(dict.fromkeys(label(target) for target, dummy in journal.changes)),
        changes=[{"project": label(target), "action": what} for target, what in journal.changes],
    )
    if error.project is not None:
        result["project"] = label(error.project)
    if error.status is not None:
        result["status"] = error.status
    if error.response is not None:
        result["response"] = error.response
    if isinstance(error, TargetFailures):
        result["failed_targets"] = [label(target) for target in error.failures]
    return result


def _prepare_spec(spec: dict) -> tuple:
    """The spec ``AnsibleModule`` gets, and the options whose given value has the wrong shape.

    ``no_log`` is set on every option whose given value holds private-key
    material, so ``AnsibleModule`` hides it everywhere, ``invocation``
    included, also when the validation of another option fails first. An
    option with suboptions given something other than dictionaries becomes
    ``raw``, so the task fails with a message naming the option and the form
    (``AnsibleModule`` would fail first with one that names neither).
    """
    try:
        raw = basic._load_params()
    except Exception:  # pylint: disable=broad-except
        return spec, []  # AnsibleModule reports unreadable arguments itself
    prepared = copy.deepcopy(spec)
    malformed: list = []
    _mark(prepared, raw, "", malformed)
    return prepared, malformed


def _mark(spec: dict, values, prefix: str, malformed: list) -> None:
    if not isinstance(values, dict):
        return
    for name, option in spec.items():
        given = [values.get(name)] + [values.get(alias) for alias in option.get("aliases", ())]
        for value in given:
            if value is None:
                continue
            suboptions = option.get("options")
            items = value if isinstance(value, list) else [value]
            if suboptions and not all(isinstance(item, dict) for item in items):
                malformed.append(OptionError(f"{prefix}{name}", _shape_problem(option)))
                for key in ("options", "elements"):
                    option.pop(key, None)
                option["type"] = "raw"
            elif suboptions:
                # Mark the suboption that holds it, so the rest of the entry stays readable;
                # a key no suboption declares hides the whole option.
                for index, item in enumerate(items):
                    _mark(suboptions, item, f"{prefix}{name}[{index}].", malformed)
                    if any(_holds_private_key(v) for k, v in item.items() if k not in suboptions):
                        option["no_log"] = True
            if _holds_private_key(value) and not suboptions:
                option["no_log"] = True
            if _holds_private_key(value) and option.get("type") == "raw":
                option["no_log"] = True


def _shape_problem(option: dict) -> str:
    keys = ", ".join(option["options"])
    shape = "a list of dictionaries" if option.get("type") == "list" else "a dictionary"
    return f"must be {shape}, each with the keys {keys} (for example [{{{next(iter(option['options']))}: ...}}])"


def _holds_private_key(value) -> bool:
    if isinstance(value, str):
        return bool(PRIVATE_KEY_MARKER.search(value))
    if isinstance(value, dict):
        return any(_holds_private_key(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_private_key(item) for item in value)
    return False
