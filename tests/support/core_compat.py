# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What in-process module runs need from ansible-core, on every version the collection supports (2.17 and later).

* ``patch_module_args(args)``: ansible-core 2.19 added the public helper
  ``ansible.module_utils.testing.patch_module_args`` (its module arguments
  carry data tags, so the serialized form is no longer plain JSON). Before
  2.19 there is no helper: ``AnsibleModule`` reads the JSON it would get on
  stdin from ``basic._ANSIBLE_ARGS``, which is what community.general's
  ``set_module_args`` patches too. That attribute is frozen in 2.17/2.18, so
  depending on it there cannot break later.
* ``with_invocation(args)``: up to 2.20 ``exit_json``/``fail_json`` always
  add ``invocation`` (the module's arguments, ``no_log`` values masked);
  from 2.21 only when the controller asks for it (``INJECT_INVOCATION``,
  sent as ``_ansible_inject_invocation``, off by default). Tests of what
  ``invocation`` may show ask for it the way the controller would.
* ``isolated_warnings()``: ``module.warn()`` collects into a process-wide
  ``_global_warnings`` (a list up to 2.18, a dict from 2.19); each in-process
  run starts with none and leaves the collection as it found it. There is no
  public way to reset it on any version.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.common.parameters import PASS_VARS

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:  # ansible-core 2.17, 2.18
    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose ``args`` to ``AnsibleModule`` instances created within this context."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        serialized = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", serialized):
            yield


def with_invocation(args):
    """``args`` as the controller sends them when the task result is to carry ``invocation``."""
    args = dict(args)
    if "inject_invocation" in PASS_VARS:  # ansible-core >= 2.21; older versions refuse unknown internal args
        args["_ansible_inject_invocation"] = True
    return args


@contextlib.contextmanager
def isolated_warnings():
    """Run with no collected warnings; put back what was collected before on the way out."""
    collected = module_warnings._global_warnings  # pylint: disable=protected-access
    saved = collected.copy()
    collected.clear()
    try:
        yield
    finally:
        collected.clear()
        if isinstance(collected, dict):
            collected.update(saved)
        else:
            collected.extend(saved)


__all__ = ["isolated_warnings", "patch_module_args", "with_invocation"]
