# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` in-process, the way Ansible would.

``exit_json`` and ``fail_json`` are patched to RAISE (community.general's
``tests/unit/plugins/modules/utils.py`` pattern), so a module that fails can
never look like one that passed, and the result dict is what the module
really returned, with ``warnings`` from ``module.warn()`` (each run starts
with none).

    result = run_module(protected_tag.main, {...})            # exit_json
    error = run_module(protected_tag.main, {...}, fail=True)  # fail_json
"""

from __future__ import annotations

from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings

from core_compat import isolated_warnings, patch_module_args


class AnsibleExitJson(Exception):
    """Raised by the patched ``exit_json``: ``.result`` is what the module returned."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """Raised by the patched ``fail_json``: ``.result`` holds ``msg`` and the other fields."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


def _with_warnings(kwargs):
    # What the real exit_json/fail_json add from module.warn().
    warnings = module_warnings.get_warning_messages()
    if warnings:
        kwargs["warnings"] = list(warnings)
    return kwargs


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(_with_warnings(kwargs))


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise AnsibleFailJson(_with_warnings(kwargs))


def run_module(main, args, check_mode=False, diff=False, fail=False):
    """Run ``main()`` with ``args``; return the exit result (or the failure with ``fail=True``).

    Raises ``AssertionError`` when the module ends the other way than expected.
    """
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json), \
            isolated_warnings():
        try:
            main()
        except AnsibleExitJson as done:
            if fail:
                raise AssertionError("module succeeded, a failure was expected: %r" % (done.result,))
            return done.result
        except AnsibleFailJson as failed:
            if not fail:
                raise AssertionError("module failed: %s\n%r" % (failed.result.get("msg"), failed.result))
            return failed.result
    raise AssertionError("module returned without calling exit_json or fail_json")
