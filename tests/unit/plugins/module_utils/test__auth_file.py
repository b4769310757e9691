# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Registry auth files: merge keeps everything else, usernames without
secrets, atomic 0600 writes, refusal to touch files that are not JSON."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _auth_file

OTHER = {"auths": {"other.example": {"auth": _auth_file.encode_auth("other", "pw")}},
         "psFormat": "table {{.ID}}", "credHelpers": {"ecr.example": "ecr-login"}}


def test_merge_keeps_other_entries_and_keys():
    out = _auth_file.merged(OTHER, "reg.example:5000", "gitlab+deploy-token-7", "s3cret")
    assert out["auths"]["other.example"] == OTHER["auths"]["other.example"]
    assert out["psFormat"] == OTHER["psFormat"] and out["credHelpers"] == OTHER["credHelpers"]
    assert _auth_file.entry_username(out["auths"]["reg.example:5000"]) == "gitlab+deploy-token-7"
    assert "other.example" in OTHER["auths"] and "reg.example:5000" not in OTHER["auths"]   # input untouched


def test_merge_drops_stale_token_fields():
    content = {"auths": {"r": {"identitytoken": "x", "username": "u", "password": "p", "email": "e"}}}
    entry = _auth_file.merged(content, "r", "u2", "p2")["auths"]["r"]
    assert set(entry) == {"auth", "email"}


@pytest.mark.parametrize("entry, user", [
    ({"auth": _auth_file.encode_auth("a", "b:c")}, "a"),
    ({"username": "plain", "password": "x"}, "plain"),
    ({"auth": "not base64!"}, None),
    ({}, None),
    ("junk", None),
])
def test_entry_username(entry, user):
    assert _auth_file.entry_username(entry) == user


def test_without():
    out = _auth_file.without(OTHER, "other.example")
    assert out["auths"] == {} and out["psFormat"] == OTHER["psFormat"]


def test_read_missing_empty_and_invalid(tmp_path):
    assert _auth_file.read(str(tmp_path / "nope.json")) is None
    (tmp_path / "empty.json").write_text("")
    assert _auth_file.read(str(tmp_path / "empty.json")) == {}
    (tmp_path / "bad.json").write_text('{"auths": {"r": {"auth": "c2VjcmV0"}}')
    with pytest.raises(_auth_file.AuthFileError) as err:
        _auth_file.read(str(tmp_path / "bad.json"))
    assert "c2VjcmV0" not in str(err.value)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(_auth_file.AuthFileError):
        _auth_file.read(str(tmp_path / "list.json"))


def test_write_atomic_is_0600_and_replaces(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)
    moves = []

    def atomic_move(src, dest):
        assert stat.S_IMODE(os.stat(src).st_mode) == 0o600     # secret never in a wider-mode file
        moves.append((src, dest))
        os.replace(src, dest)

    _auth_file.write_atomic(str(path), OTHER, atomic_move)
    assert json.loads(path.read_text()) == OTHER
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(moves) == 1 and os.path.dirname(moves[0][0]) == str(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_write_atomic_cleans_up_on_failure(tmp_path):
    def boom(src, dest):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        _auth_file.write_atomic(str(tmp_path / "config.json"), OTHER, boom)
    assert list(tmp_path.iterdir()) == []
