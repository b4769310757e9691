# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every sentence a failure prints: HTTP errors, summaries over many targets, what changed before."""

from __future__ import annotations

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import (
    GitlabModuleError,
    OptionError,
    TargetFailures,
    failure_message,
    http_error_text,
)


class Target:
    kind = "project"

    def __init__(self, label):
        self.label = label

    def __str__(self):
        return self.label


def test_http_error_text_prints_the_status_once_with_a_hint():
    assert http_error_text("list keys on g/p", 404, "404 Project Not Found") == (
        "cannot list keys on g/p: HTTP 404 Project Not Found (it does not exist, or the token's user cannot see it)")
    assert http_error_text("x", 418, "I'm a teapot") == "cannot x: HTTP 418 I'm a teapot"
    assert http_error_text("x", None, "no answer") == "cannot x: no answer"


def test_option_errors_say_nothing_was_sent_once():
    assert OptionError("key", "is empty; give a key").msg == "key is empty; give a key. Nothing was sent to GitLab."
    text = OptionError("key", "holds a PRIVATE key; nothing was sent to GitLab. Pass the public key").msg
    assert text.lower().count("nothing was sent") == 1


def test_a_failure_on_some_targets_counts_against_all_of_them():
    a, b, c = Target("g/a"), Target("g/b"), Target("g/c")
    error = TargetFailures("changing deploy keys", {b: GitlabModuleError("HTTP 500 boom", status=500)}, total=20,
                           not_attempted=[c])
    assert error.msg.splitlines() == ["changing deploy keys failed on 1 of 20 projects:", "- g/b: HTTP 500 boom",
                                      "Not attempted because of that failure: g/c."]
    text = failure_message("deploy_key", error, [(a, "create"), (a, "update"), (c, "enable")])
    assert text.startswith("deploy_key: changing deploy keys failed on 1 of 20 projects:")
    assert text.endswith("Changed before the failure: 2 projects: g/a (create, update), g/c (enable).")


def test_nothing_changed_is_said_when_true():
    error = GitlabModuleError("cannot read the token's user: HTTP 401 Unauthorized")
    assert failure_message("deploy_key", error, []) == (
        "deploy_key: cannot read the token's user: HTTP 401 Unauthorized\nNothing was changed.")


def test_option_errors_are_not_padded():
    error = OptionError("projects[0]", "is empty; give a project")
    assert failure_message("deploy_key", error, []) == "deploy_key: " + error.msg


@pytest.mark.parametrize("total, noun", [(1, "1 project"), (2, "2 projects")])
def test_counts_are_pluralised(total, noun):
    error = TargetFailures("reading", {Target("g/a"): GitlabModuleError("x")}, total=total)
    assert f"failed on 1 of {noun}:" in error.msg
