# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Registry auth files: merge keeps everything else, usernames without
secrets, atomic 0600 writes, refusal to touch files that are not JSON."""

from __future__ import annotations

import json
import os
import stat
import threading
from unittest import mock

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


def test_write_atomic_default_move_replaces_a_0644_file_with_a_0600_one(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)
    _auth_file.write_atomic(str(path), OTHER)
    assert json.loads(path.read_text()) == OTHER
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_write_atomic_sets_owner_and_mode_before_the_first_byte(tmp_path):
    calls = []
    real_fchown, real_fchmod = os.fchown, os.fchmod

    def fchown(fd, uid, gid):
        calls.append(("fchown", os.fstat(fd).st_size, uid, gid))
        real_fchown(fd, uid, gid)

    def fchmod(fd, mode):
        calls.append(("fchmod", os.fstat(fd).st_size, mode))
        real_fchmod(fd, mode)

    with mock.patch.object(os, "fchown", fchown), mock.patch.object(os, "fchmod", fchmod):
        _auth_file.write_atomic(str(tmp_path / "config.json"), OTHER, None, os.geteuid(), os.getegid())
    assert calls == [("fchown", 0, os.geteuid(), os.getegid()), ("fchmod", 0, 0o600)]
    st = (tmp_path / "config.json").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), os.getegid(), 0o600)


@pytest.mark.parametrize("relative", [False, True])
def test_write_atomic_follows_a_symlink_and_keeps_it(tmp_path, relative):
    (tmp_path / "real").mkdir()
    (tmp_path / "home").mkdir()
    target = tmp_path / "real" / "auth.json"
    target.write_text("{}")
    target.chmod(0o644)
    link = tmp_path / "home" / "config.json"
    link_text = "../real/auth.json" if relative else str(target)
    os.symlink(link_text, str(link))
    moves = []

    def move(src, dest):
        assert stat.S_IMODE(os.stat(src).st_mode) == 0o600
        moves.append((src, dest))
        os.replace(src, dest)

    _auth_file.write_atomic(str(link), OTHER, move)
    assert os.path.islink(str(link)) and os.readlink(str(link)) == link_text
    assert json.loads(target.read_text()) == OTHER and stat.S_IMODE(target.stat().st_mode) == 0o600
    (src, dest), = moves
    assert os.path.dirname(src) == os.path.dirname(dest) and os.path.samefile(os.path.dirname(src), str(tmp_path / "real"))
    assert sorted(os.listdir(str(tmp_path / "real"))) == ["auth.json"]
    assert sorted(os.listdir(str(tmp_path / "home"))) == ["config.json"]


def test_resolve(tmp_path):
    plain = str(tmp_path / "config.json")
    assert _auth_file.resolve(plain) == plain                       # missing, not a link: itself
    (tmp_path / "config.json").write_text("{}")
    assert _auth_file.resolve(plain) == plain
    os.symlink("config.json", str(tmp_path / "b.json"))
    os.symlink(str(tmp_path / "b.json"), str(tmp_path / "a.json"))
    assert os.path.samefile(_auth_file.resolve(str(tmp_path / "a.json")), plain)
    assert not os.path.islink(_auth_file.resolve(str(tmp_path / "a.json")))
    os.symlink("gone/auth.json", str(tmp_path / "dangling.json"))
    assert _auth_file.resolve(str(tmp_path / "dangling.json")) == str(tmp_path / "gone" / "auth.json")


def test_resolve_refuses_a_loop(tmp_path):
    os.symlink("two.json", str(tmp_path / "one.json"))
    os.symlink("one.json", str(tmp_path / "two.json"))
    with pytest.raises(_auth_file.AuthFileError) as err:
        _auth_file.resolve(str(tmp_path / "one.json"))
    assert "symlink loop" in str(err.value) and str(tmp_path / "one.json") in str(err.value)


def test_resolve_for_write_refuses_a_dangling_link_into_a_missing_directory(tmp_path):
    link = str(tmp_path / "config.json")
    os.symlink(str(tmp_path / "gone" / "auth.json"), link)
    with pytest.raises(_auth_file.AuthFileError) as err:
        _auth_file.resolve_for_write(link)
    assert link in str(err.value) and str(tmp_path / "gone") in str(err.value)
    with pytest.raises(_auth_file.AuthFileError):
        _auth_file.write_atomic(link, OTHER)
    assert os.path.islink(link) and not (tmp_path / "gone").exists()
    # Not a link: the caller creates missing parents itself.
    plain = str(tmp_path / "new" / "config.json")
    assert _auth_file.resolve_for_write(plain) == plain


def test_read_refuses_what_is_not_a_regular_file_without_blocking(tmp_path):
    fifo = str(tmp_path / "config.json")
    os.mkfifo(fifo)
    outcome = []

    def reader():
        try:
            outcome.append(_auth_file.read(fifo))
        except _auth_file.AuthFileError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():       # blocked in open(): release it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("read() blocked on a FIFO")
    assert isinstance(outcome[0], _auth_file.AuthFileError) and "not a regular file" in str(outcome[0])
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(_auth_file.AuthFileError):
        _auth_file.read(str(tmp_path / "dir.json"))


def test_write_atomic_relative_link_under_a_symlinked_directory(tmp_path):
    # home/.docker is a link to data/deep/.docker; its config.json -> ../auth.json
    # means data/deep/auth.json (the kernel resolves the link before ".."), not home/auth.json.
    (tmp_path / "data" / "deep" / ".docker").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    os.symlink(str(tmp_path / "data" / "deep" / ".docker"), str(tmp_path / "home" / ".docker"))
    target = tmp_path / "data" / "deep" / "auth.json"
    target.write_text("{}")
    link = tmp_path / "home" / ".docker" / "config.json"
    os.symlink("../auth.json", str(link))
    moves = []

    def move(src, dest):
        moves.append((src, dest))
        os.replace(src, dest)

    _auth_file.write_atomic(str(link), OTHER, move)
    (src, dest), = moves
    assert os.path.dirname(src) == os.path.dirname(dest) == str(tmp_path / "data" / "deep")
    assert json.loads(target.read_text()) == OTHER and os.path.islink(str(link))
    assert sorted(os.listdir(str(tmp_path / "home"))) == [".docker"]
    assert sorted(os.listdir(str(tmp_path / "data" / "deep"))) == [".docker", "auth.json"]
