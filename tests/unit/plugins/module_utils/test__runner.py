# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runner's input guard: an option holding private-key material is made no_log before AnsibleModule sees it."""

from __future__ import annotations

import copy

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _runner

# A real private key, made for this test run (none is committed).
PRIVATE = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
SPEC = dict(
    key=dict(type="str", no_log=False),
    title=dict(type="str"),
    projects=dict(type="list", elements="raw", aliases=["project"]),
    allowed_to_create=dict(type="list", elements="dict", options=dict(
        deploy_key=dict(type="str", no_log=False), user=dict(type="str"))),
)


def marked(values):
    spec = copy.deepcopy(SPEC)
    _runner._mark(spec, values, "", [])
    return {name for name, option in spec.items() if option.get("no_log")} | {
        f"allowed_to_create.{name}" for name, option in spec["allowed_to_create"].get("options", {}).items()
        if option.get("no_log")}


def test_nothing_is_marked_for_ordinary_input():
    assert marked({"key": "ssh-ed25519 AAAA x", "title": "t", "projects": ["g/p"]}) == set()


def test_every_place_a_private_key_can_hide_is_marked():
    assert marked({"key": PRIVATE}) == {"key"}
    assert marked({"title": "see " + PRIVATE}) == {"title"}
    assert marked({"project": [{"project": "g/p", "note": PRIVATE}]}) == {"projects"}  # by alias, nested
    assert marked({"allowed_to_create": [{"user": "a"}, {"deploy_key": PRIVATE}]}) == {"allowed_to_create.deploy_key"}
    assert marked({"key": "PuTTY-User-Key-File-3: ssh-ed25519"}) == {"key"}
    # A key the suboptions do not declare (AnsibleModule refuses it, and would echo it): the whole option.
    assert marked({"allowed_to_create": [{"deplyo_key": PRIVATE}]}) == {"allowed_to_create"}
    assert marked({"allowed_to_create": PRIVATE}) == {"allowed_to_create"}  # malformed, and hidden


def test_the_spec_given_is_not_changed(monkeypatch):
    monkeypatch.setattr(_runner.basic, "_load_params", lambda: {"key": PRIVATE})
    original = copy.deepcopy(SPEC)
    masked, malformed = _runner._prepare_spec(SPEC)
    assert masked["key"]["no_log"] is True and SPEC == original and malformed == []


def test_an_option_with_suboptions_given_a_string_is_named_with_its_form(monkeypatch):
    monkeypatch.setattr(_runner.basic, "_load_params", lambda: {"allowed_to_create": "maintainer"})
    prepared, malformed = _runner._prepare_spec(SPEC)
    assert prepared["allowed_to_create"]["type"] == "raw"
    (problem,) = malformed
    assert problem.msg.startswith("allowed_to_create must be a list of dictionaries, each with the keys deploy_key, user")
