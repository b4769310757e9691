# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""The one exception type the collection's module_utils raise.

Shared code never calls ``fail_json``; it raises :class:`GitlabModuleError`
and only a module's ``main()`` turns it into a failure (community.crypto's
``ModuleFailException`` shape). Keeping this file free of third-party imports
lets the pure planning code use it in plain pytest.
"""

from __future__ import annotations


class GitlabModuleError(Exception):
    """A failure with everything a user needs to act on it.

    ``msg`` says what failed and what to do; ``project`` names the project or
    group it happened on; ``status`` is GitLab's HTTP status (``None`` when
    GitLab was not reached); ``response`` is GitLab's error body (never a
    secret: GitLab does not echo tokens in errors); ``actions_done`` lists
    what was already applied before the failure, so a half-applied run is
    never reported as success.
    """

    def __init__(self, msg, project=None, status=None, response=None, actions_done=None):
        super().__init__(msg)
        self.msg = msg
        self.project = project
        self.status = status
        self.response = response
        self.actions_done = list(actions_done or [])

    def fail_kwargs(self):
        """Keyword arguments for ``module.fail_json``."""
        result = {"msg": self.msg}
        if self.project is not None:
            result["project"] = self.project
        if self.status is not None:
            result["status"] = self.status
        if self.response is not None:
            result["response"] = self.response
        result["actions_done"] = self.actions_done
        return result
