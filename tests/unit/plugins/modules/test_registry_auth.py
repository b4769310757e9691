# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""registry_auth's and registry_auth_info's main(), in-process, on real files.

The ``Watcher`` proves "the new content is never readable by group or others,
at any instant": it wraps every function that creates, writes, moves or
changes the mode or owner of a file, and after each call inspects every file
of the directories involved.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import tempfile
from unittest import mock

import pytest

from module_runner import run_module

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _auth_file
from ansible_collections.runnercreds.gitlab.plugins.modules import registry_auth, registry_auth_info

REGISTRY = "registry.example.com:5000"
USER = "gitlab+deploy-token-42"
PASSWORD = "gldt-s3cret-Pa55w0rd"
AUTH = _auth_file.encode_auth(USER, PASSWORD)
OTHER = {"auths": {"other.example": {"auth": _auth_file.encode_auth("someone", "other-pw")}},
         "psFormat": "table {{.ID}}", "credHelpers": {"ecr.example": "ecr-login"}}


def args(path, **kwargs):
    result = dict(path=str(path), registry=REGISTRY, username=USER, password=PASSWORD)
    result.update(kwargs)
    return result


def mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def load(path):
    with open(str(path), encoding="utf-8") as fh:
        return json.load(fh)


def write(path, content, file_mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    path.chmod(file_mode)


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in (PASSWORD, AUTH) + secrets:
        assert secret not in text


def current_user():
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


class Watcher:
    """Checks, after every file operation of a module run, that no file holding
    new content (a file created during the run, or any file holding the new
    secret) has a group or other permission bit, and that it is owned by
    ``uid`` if given."""

    OPS = {
        os: ("rename", "replace", "chmod", "fchmod", "chown", "fchown", "lchown", "utime", "fsync", "close",
             "link", "symlink", "truncate", "ftruncate"),
        shutil: ("copystat", "copymode", "copy", "copy2", "copyfile", "move"),
    }

    def __init__(self, *dirs, secrets=(AUTH.encode(), PASSWORD.encode()), uid=None):
        self.dirs = [str(d) for d in dirs]
        self.secrets = secrets
        self.uid = uid
        self.checks = 0
        self.created = []
        self.violations = []
        self.before = set()

    def _files(self):
        for directory in self.dirs:
            if not os.path.isdir(directory):
                continue
            for entry in os.scandir(directory):
                if entry.is_file(follow_symlinks=False):
                    yield entry.path, entry.stat(follow_symlinks=False)

    def scan(self, where):
        self.checks += 1
        for path, st in self._files():
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            new = (st.st_dev, st.st_ino) not in self.before or any(s in data for s in self.secrets)
            if not new:
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                self.violations.append("after %s: %s has mode %o" % (
                    where, os.path.basename(path), stat.S_IMODE(st.st_mode)))
            if self.uid is not None and data and st.st_uid != self.uid:
                self.violations.append("after %s: %s holds content but is owned by uid %d" % (
                    where, os.path.basename(path), st.st_uid))

    def _wrap(self, name, func):
        def wrapper(*a, **kw):
            try:
                return func(*a, **kw)
            finally:
                self.scan(name)
        return wrapper

    def _mkstemp(self, func):
        def wrapper(*a, **kw):
            fd, path = func(*a, **kw)
            self.created.append(path)
            self.scan("mkstemp")
            return fd, path
        return wrapper

    def _fdopen(self, func):
        watcher = self

        class Proxy:
            def __init__(self, fh):
                self._fh = fh

            def __getattr__(self, name):
                return getattr(self._fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                try:
                    return self._fh.__exit__(*exc)
                finally:
                    watcher.scan("file close")

            def write(self, data):
                n = self._fh.write(data)
                self._fh.flush()
                watcher.scan("file write")
                return n

            def close(self):
                self._fh.close()
                watcher.scan("file close")

        def wrapper(*a, **kw):
            return Proxy(func(*a, **kw))
        return wrapper

    def run(self, main, module_args, **kwargs):
        self.before = {(st.st_dev, st.st_ino) for dummy, st in self._files()}
        patches = [mock.patch.object(mod, name, self._wrap(name, getattr(mod, name)))
                   for mod, names in self.OPS.items() for name in names if hasattr(mod, name)]
        patches.append(mock.patch.object(tempfile, "mkstemp", self._mkstemp(tempfile.mkstemp)))
        patches.append(mock.patch.object(os, "fdopen", self._fdopen(os.fdopen)))
        for p in patches:
            p.start()
        try:
            return run_module(main, module_args, **kwargs)
        finally:
            for p in reversed(patches):
                p.stop()
            self.scan("end")


# --- present ---------------------------------------------------------------------------------------------------------

def test_creates_file_0600_and_missing_parents_0700(tmp_path):
    path = tmp_path / "home" / "runner" / ".docker" / "config.json"
    (tmp_path / "home").mkdir()
    result = run_module(registry_auth.main, args(path))
    assert result["changed"] is True
    assert result["registry"] == REGISTRY and result["username"] == USER and result["previous_username"] is None
    assert load(path) == {"auths": {REGISTRY: {"auth": AUTH}}}
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert sorted(os.listdir(str(path.parent))) == ["config.json"]
    assert_no_secret(result)


def test_merge_keeps_other_entries_and_unknown_keys(tmp_path):
    path = tmp_path / "config.json"
    entry = {"auth": _auth_file.encode_auth("old", "x"), "email": "ci@example.com"}
    content = dict(OTHER, auths=dict(OTHER["auths"], **{REGISTRY: entry}),
                   proxies={"default": {"httpProxy": "http://proxy:3128"}})
    write(path, content, 0o600)
    result = run_module(registry_auth.main, args(path))
    assert result["changed"] is True and result["previous_username"] == "old" and result["username"] == USER
    after = load(path)
    assert after["auths"]["other.example"] == OTHER["auths"]["other.example"]
    assert after["auths"][REGISTRY] == {"auth": AUTH, "email": "ci@example.com"}
    assert {k: v for k, v in after.items() if k != "auths"} == {k: v for k, v in content.items() if k != "auths"}
    assert_no_secret(result, "other-pw")


def test_second_run_is_unchanged_and_does_not_rewrite(tmp_path):
    path = tmp_path / "config.json"
    write(path, OTHER, 0o600)
    assert run_module(registry_auth.main, args(path))["changed"] is True
    inode = os.stat(str(path)).st_ino
    result = run_module(registry_auth.main, args(path))
    assert result["changed"] is False and result["previous_username"] == USER and result["username"] == USER
    assert os.stat(str(path)).st_ino == inode


def test_password_change_is_a_change(tmp_path):
    path = tmp_path / "config.json"
    run_module(registry_auth.main, args(path))
    result = run_module(registry_auth.main, args(path, password="rotated-Pa55"))
    assert result["changed"] is True and result["previous_username"] == USER
    assert load(path)["auths"][REGISTRY]["auth"] == _auth_file.encode_auth(USER, "rotated-Pa55")
    assert_no_secret(result, "rotated-Pa55", _auth_file.encode_auth(USER, "rotated-Pa55"))


def test_password_is_required_outside_check_mode(tmp_path):
    path = tmp_path / "config.json"
    module_args = args(path)
    del module_args["password"]
    error = run_module(registry_auth.main, module_args, fail=True)
    assert "password is required" in error["msg"] and not path.exists()
    result = run_module(registry_auth.main, module_args, check_mode=True)
    assert result["changed"] is True and not path.exists()


# --- check and diff mode ---------------------------------------------------------------------------------------------

def test_check_mode_writes_nothing_and_tells_the_truth(tmp_path):
    path = tmp_path / ".docker" / "config.json"
    result = run_module(registry_auth.main, args(path), check_mode=True)
    assert result["changed"] is True and result["username"] == USER
    assert not path.parent.exists()

    write(path, OTHER, 0o600)
    before = (path.read_bytes(), os.stat(str(path)).st_ino, os.stat(str(path)).st_mtime_ns)
    assert run_module(registry_auth.main, args(path), check_mode=True)["changed"] is True
    assert (path.read_bytes(), os.stat(str(path)).st_ino, os.stat(str(path)).st_mtime_ns) == before

    run_module(registry_auth.main, args(path))
    assert run_module(registry_auth.main, args(path), check_mode=True)["changed"] is False
    assert run_module(registry_auth.main, args(path, password="other"), check_mode=True)["changed"] is True
    assert load(path)["auths"][REGISTRY]["auth"] == AUTH

    path.chmod(0o644)      # same content, wrong mode: a real run would fix the mode
    assert run_module(registry_auth.main, args(path), check_mode=True)["changed"] is True
    assert mode(path) == 0o644
    assert run_module(registry_auth.main, args(path))["changed"] is True
    assert mode(path) == 0o600


def test_diff_mode_shows_usernames_never_secrets(tmp_path):
    path = tmp_path / "config.json"
    old_auth = _auth_file.encode_auth("old-user", "old-pw")
    write(path, {"auths": {REGISTRY: {"auth": old_auth}}}, 0o600)
    for check_mode in (True, False):
        result = run_module(registry_auth.main, args(path), check_mode=check_mode, diff=True)
        assert result["changed"] is True
        assert result["diff"]["before"] == {"registry": REGISTRY, "username": "old-user"}
        assert result["diff"]["after"] == {"registry": REGISTRY, "username": USER}
        assert_no_secret(result, "old-pw", old_auth)
    result = run_module(registry_auth.main, args(path, state="absent"), diff=True)
    assert result["diff"]["before"] == {"registry": REGISTRY, "username": USER} and result["diff"]["after"] == {}
    assert_no_secret(result)


# --- absent ----------------------------------------------------------------------------------------------------------

def test_absent_removes_only_that_entry(tmp_path):
    path = tmp_path / "config.json"
    write(path, OTHER, 0o600)
    run_module(registry_auth.main, args(path))
    result = run_module(registry_auth.main, dict(path=str(path), registry=REGISTRY, state="absent"))
    assert result["changed"] is True and result["username"] is None and result["previous_username"] == USER
    assert load(path) == OTHER
    assert mode(path) == 0o600
    again = run_module(registry_auth.main, dict(path=str(path), registry=REGISTRY, state="absent"))
    assert again["changed"] is False


def test_absent_with_username_removes_only_a_matching_entry(tmp_path):
    path = tmp_path / "config.json"
    run_module(registry_auth.main, args(path))
    result = run_module(registry_auth.main, args(path, username="gitlab+deploy-token-17", password=None,
                                                 state="absent"))
    assert result["changed"] is False and result["username"] == USER
    assert load(path)["auths"][REGISTRY]["auth"] == AUTH
    result = run_module(registry_auth.main, args(path, password=None, state="absent"), check_mode=True)
    assert result["changed"] is True and load(path)["auths"][REGISTRY]["auth"] == AUTH
    result = run_module(registry_auth.main, args(path, password=None, state="absent"))
    assert result["changed"] is True and load(path) == {"auths": {}}


def test_absent_on_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / ".docker" / "config.json"
    result = run_module(registry_auth.main, dict(path=str(path), registry=REGISTRY, state="absent"))
    assert result["changed"] is False and result["username"] is None
    assert not path.parent.exists()


# --- owner and group -------------------------------------------------------------------------------------------------

def test_owner_and_group(tmp_path):
    user, group = current_user()
    path = tmp_path / ".docker" / "config.json"
    result = run_module(registry_auth.main, args(path, owner=user, group=group))
    assert result["changed"] is True
    st = os.stat(str(path))
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert run_module(registry_auth.main, args(path, owner=user, group=group))["changed"] is False


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_other_user_owns_the_secret_from_the_start(tmp_path):
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    path = tmp_path / ".docker" / "config.json"
    write(path, OTHER, 0o644)
    watcher = Watcher(path.parent, uid=nobody.pw_uid)
    result = watcher.run(registry_auth.main, args(path, owner="nobody"))
    assert result["changed"] is True
    assert watcher.violations == []
    st = os.stat(str(path))
    assert (st.st_uid, st.st_gid, mode(path)) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    assert run_module(registry_auth.main, args(path, owner="nobody"))["changed"] is False


@pytest.mark.parametrize("option", ["owner", "group"])
def test_unknown_owner_or_group_is_a_clear_error(tmp_path, option):
    path = tmp_path / ".docker" / "config.json"
    error = run_module(registry_auth.main, args(path, **{option: "no-such-rc-principal"}), fail=True)
    assert "no-such-rc-principal" in error["msg"] and option in error["msg"]
    assert "getpwnam" not in error["msg"] and "getgrnam" not in error["msg"]
    assert not path.parent.exists()
    assert_no_secret(error)


# --- files the module must not touch --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('{"auths": {"x": {"auth": "c2VjcmV0LXZhbHVl"}}', "not valid JSON"),
    ('{"auths": ["c2VjcmV0LXZhbHVl"]}', "'auths' is not a JSON object"),
    ('["c2VjcmV0LXZhbHVl"]', "does not hold a JSON object"),
])
def test_unusable_file_is_never_echoed_nor_touched(tmp_path, text, message):
    path = tmp_path / "config.json"
    write(path, text, 0o644)
    before = (path.read_bytes(), os.stat(str(path)).st_ino, mode(path))
    for check_mode in (False, True):
        error = run_module(registry_auth.main, args(path), check_mode=check_mode, fail=True)
        assert message in error["msg"] and str(path) in error["msg"]
        assert_no_secret(error, "c2VjcmV0LXZhbHVl", "secret-value")
    error = run_module(registry_auth_info.main, dict(path=str(path)), fail=True)
    assert message in error["msg"]
    assert_no_secret(error, "c2VjcmV0LXZhbHVl", "secret-value")
    assert (path.read_bytes(), os.stat(str(path)).st_ino, mode(path)) == before
    assert os.listdir(str(tmp_path)) == ["config.json"]


def test_a_directory_in_place_of_the_file_is_refused(tmp_path):
    path = tmp_path / "config.json"
    path.mkdir()
    error = run_module(registry_auth.main, args(path), fail=True)
    assert str(path) in error["msg"]
    assert path.is_dir() and os.listdir(str(path)) == []


# --- modes: never readable by others, at any instant ----------------------------------------------------------------

def test_existing_0644_file_becomes_0600_and_new_content_is_never_readable(tmp_path):
    path = tmp_path / "config.json"
    write(path, OTHER, 0o644)
    watcher = Watcher(tmp_path)
    result = watcher.run(registry_auth.main, args(path))
    assert result["changed"] is True
    assert watcher.checks > 3 and watcher.created
    assert watcher.violations == []
    assert mode(path) == 0o600
    assert load(path)["auths"]["other.example"] == OTHER["auths"]["other.example"]
    assert sorted(os.listdir(str(tmp_path))) == ["config.json"]


def test_new_file_is_never_readable_by_others(tmp_path):
    path = tmp_path / ".docker" / "config.json"
    (tmp_path / ".docker").mkdir(mode=0o755)
    watcher = Watcher(path.parent)
    result = watcher.run(registry_auth.main, args(path))
    assert result["changed"] is True and watcher.created
    assert watcher.violations == []
    assert mode(path) == 0o600


def test_password_change_on_a_0640_group_file_is_never_readable(tmp_path):
    path = tmp_path / "config.json"
    run_module(registry_auth.main, args(path, password="old-Pa55"))
    path.chmod(0o640)
    watcher = Watcher(tmp_path)
    assert watcher.run(registry_auth.main, args(path))["changed"] is True
    assert watcher.violations == []
    assert mode(path) == 0o600 and load(path)["auths"][REGISTRY]["auth"] == AUTH


def test_absent_on_a_0644_file_writes_the_rest_at_0600(tmp_path):
    path = tmp_path / "config.json"
    write(path, dict(OTHER, auths=dict(OTHER["auths"], **{REGISTRY: {"auth": AUTH}})), 0o644)
    watcher = Watcher(tmp_path, secrets=())     # the old file was 0644 already; only new files count
    result = watcher.run(registry_auth.main, dict(path=str(path), registry=REGISTRY, state="absent"))
    assert result["changed"] is True and watcher.created
    assert watcher.violations == []
    assert mode(path) == 0o600 and load(path) == OTHER


# --- symlinks -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("relative", [False, True])
def test_symlink_is_followed_target_updated_link_kept(tmp_path, relative):
    real_dir = tmp_path / "data" / "docker"
    target = real_dir / "config.json"
    write(target, OTHER, 0o644)
    link_dir = tmp_path / "home" / ".docker"
    link_dir.mkdir(parents=True)
    link = link_dir / "config.json"
    link_text = os.path.relpath(str(target), str(link_dir)) if relative else str(target)
    os.symlink(link_text, str(link))

    watcher = Watcher(real_dir, link_dir)
    result = watcher.run(registry_auth.main, args(link))
    assert result["changed"] is True
    assert watcher.violations == []
    assert os.path.islink(str(link)) and os.readlink(str(link)) == link_text
    assert load(target)["auths"][REGISTRY] == {"auth": AUTH}
    assert load(target)["auths"]["other.example"] == OTHER["auths"]["other.example"]
    assert mode(target) == 0o600
    assert sorted(os.listdir(str(real_dir))) == ["config.json"] and sorted(os.listdir(str(link_dir))) == ["config.json"]

    assert run_module(registry_auth.main, args(link))["changed"] is False
    result = run_module(registry_auth.main, dict(path=str(link), registry=REGISTRY, state="absent"))
    assert result["changed"] is True and os.path.islink(str(link)) and load(target) == OTHER


def test_chain_of_symlinks_is_followed(tmp_path):
    target = tmp_path / "real.json"
    write(target, OTHER, 0o600)
    os.symlink("real.json", str(tmp_path / "middle.json"))
    os.symlink(str(tmp_path / "middle.json"), str(tmp_path / "config.json"))
    assert run_module(registry_auth.main, args(tmp_path / "config.json"))["changed"] is True
    assert os.path.islink(str(tmp_path / "config.json")) and os.path.islink(str(tmp_path / "middle.json"))
    assert load(target)["auths"][REGISTRY] == {"auth": AUTH}


def test_dangling_symlink_creates_its_target(tmp_path):
    real_dir = tmp_path / "data"
    real_dir.mkdir()
    link = tmp_path / "config.json"
    os.symlink(str(real_dir / "auth.json"), str(link))
    result = run_module(registry_auth.main, args(link), check_mode=True)
    assert result["changed"] is True and not (real_dir / "auth.json").exists()
    result = run_module(registry_auth.main, args(link))
    assert result["changed"] is True
    assert os.path.islink(str(link)) and mode(real_dir / "auth.json") == 0o600
    assert load(real_dir / "auth.json") == {"auths": {REGISTRY: {"auth": AUTH}}}


def test_dangling_symlink_into_a_missing_directory_is_refused(tmp_path):
    link = tmp_path / "config.json"
    os.symlink(str(tmp_path / "missing" / "auth.json"), str(link))
    for check_mode in (False, True):
        error = run_module(registry_auth.main, args(link), check_mode=check_mode, fail=True)
        assert str(link) in error["msg"] and str(tmp_path / "missing") in error["msg"]
        assert "symlink" in error["msg"]
        assert_no_secret(error)
    assert os.path.islink(str(link)) and not (tmp_path / "missing").exists()
    # Nothing to remove: not an error.
    assert run_module(registry_auth.main, dict(path=str(link), registry=REGISTRY, state="absent"))["changed"] is False


def test_symlink_loop_is_refused(tmp_path):
    link = tmp_path / "config.json"
    os.symlink("loop.json", str(link))
    os.symlink("config.json", str(tmp_path / "loop.json"))
    error = run_module(registry_auth.main, args(link), fail=True)
    assert str(link) in error["msg"] and "symlink loop" in error["msg"]
    assert os.path.islink(str(link)) and sorted(os.listdir(str(tmp_path))) == ["config.json", "loop.json"]


def test_symlink_to_a_non_regular_file_is_refused(tmp_path):
    (tmp_path / "dir").mkdir()
    link = tmp_path / "config.json"
    os.symlink(str(tmp_path / "dir"), str(link))
    error = run_module(registry_auth.main, args(link), fail=True)
    assert str(link) in error["msg"]
    assert os.path.islink(str(link)) and os.listdir(str(tmp_path / "dir")) == []


# --- registry_auth_info ---------------------------------------------------------------------------------------------

def test_info_lists_usernames_never_passwords(tmp_path):
    path = tmp_path / "config.json"
    write(path, dict(OTHER, auths=dict(OTHER["auths"], **{
        REGISTRY: {"auth": AUTH},
        "plain.example": {"username": "plain-user", "password": "plain-pw"},
        "token.example": {"identitytoken": "idtoken-secret"},
    })), 0o600)
    before = path.read_bytes()
    result = run_module(registry_auth_info.main, dict(path=str(path)))
    assert result["changed"] is False and result["exists"] is True
    assert result["auths"] == {REGISTRY: {"username": USER}, "other.example": {"username": "someone"},
                               "plain.example": {"username": "plain-user"}, "token.example": {"username": None}}
    assert_no_secret(result, "other-pw", "plain-pw", "idtoken-secret", OTHER["auths"]["other.example"]["auth"])
    result = run_module(registry_auth_info.main, dict(path=str(path), registries=[REGISTRY, "absent.example"]))
    assert result["auths"] == {REGISTRY: {"username": USER}}
    assert path.read_bytes() == before


def test_info_missing_file_and_symlink(tmp_path):
    result = run_module(registry_auth_info.main, dict(path=str(tmp_path / "nope.json")))
    assert result == {"changed": False, "exists": False, "auths": {}}
    run_module(registry_auth.main, args(tmp_path / "real.json"))
    os.symlink("real.json", str(tmp_path / "config.json"))
    result = run_module(registry_auth_info.main, dict(path=str(tmp_path / "config.json")))
    assert result["exists"] is True and result["auths"] == {REGISTRY: {"username": USER}}
