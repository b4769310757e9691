# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the collection: it may change at any time.

"""Container registry auth files (``~/.docker/config.json``, containers'
``auth.json``): read, merge one ``auths`` entry, write atomically at 0600.

Pure helpers (no ``module``): they take and return values and raise
``AuthFileError``; only the modules turn that into ``fail_json``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
import tempfile

# Linux's limit (MAXSYMLINKS) on the links followed to resolve one name.
MAX_SYMLINKS = 40


class AuthFileError(Exception):
    pass


# host[:port] as container clients key their logins: a DNS name, an IPv4 address or a [bracketed] IPv6 one.
_REGISTRY = re.compile(r"\A(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                       r"|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?\Z")
REGISTRY_FORM = "host[:port] as clients name it, e.g. registry.gitlab.example.com or 127.0.0.1:5000"


def check_registry(value, option: str) -> str:
    """A registry host as the ``auths`` key. The value is never echoed: it may hold credentials by mistake."""
    match = _REGISTRY.match(value or "")
    if not match or (match.group(1) and not 0 < int(match.group(1)) < 65536):
        raise AuthFileError(f"{option} is not a registry host; give {REGISTRY_FORM} (no scheme, path, spaces or "
                            "credentials: the user name and password go in username and password)")
    return value


def check_login(params: dict) -> None:
    """The options of registry_auth that GitLab's registry or Docker would reject, refused before any write."""
    if not (params.get("path") or "").strip():
        raise AuthFileError("path is empty; give the auth file, e.g. /home/gitlab-runner/.docker/config.json or "
                            "/home/gitlab-runner/.config/containers/auth.json")
    check_registry(params.get("registry"), "registry")
    for option in ("owner", "group"):
        if params.get(option) is not None and not params[option].strip():
            raise AuthFileError(f"{option} is empty (an undefined variable?); give a {option.replace('owner', 'user')} "
                                f"name, or leave {option} out")
    username = params.get("username")
    if username is not None and (not username or ":" in username or any(c.isspace() for c in username)):
        raise AuthFileError("username is not valid: it must not be empty or hold ':' or spaces (registries split "
                            "user:password at the first ':'); for a deploy token give its username, e.g. "
                            "gitlab+deploy-token-42")
    if params.get("state") == "present" and params.get("password") == "":
        raise AuthFileError("password is empty; give the deploy token's secret (the token of the run that created "
                            "it)")


def encode_auth(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")


def entry_username(entry) -> str | None:
    """The username of an ``auths`` entry (from ``auth`` or ``username``);
    never the password."""
    if not isinstance(entry, dict):
        return None
    raw = entry.get("auth")
    if isinstance(raw, str) and raw:
        try:
            decoded = base64.b64decode(raw, validate=True).decode("utf-8")
        except (ValueError, binascii.Error):
            return None
        user, sep, dummy = decoded.partition(":")
        return user if sep else None
    user = entry.get("username")
    return user if isinstance(user, str) else None


def read(path: str) -> dict | None:
    """The file's JSON object, or None if the file does not exist."""
    try:
        # Never open a FIFO or a device: it could block or be something else entirely.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise AuthFileError(f"{path} is not a regular file; not touching it")
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuthFileError(f"cannot read {path}: {exc.strerror}") from None
    if not data.strip():
        return {}
    try:
        loaded = json.loads(data.decode("utf-8"))
    except ValueError:
        # Never echo the content: it holds credentials.
        raise AuthFileError(f"{path} is not valid JSON; not touching it (fix or remove it first)") from None
    if not isinstance(loaded, dict):
        raise AuthFileError(f"{path} does not hold a JSON object; not touching it")
    if "auths" in loaded and not isinstance(loaded["auths"], dict):
        raise AuthFileError(f"{path}: 'auths' is not a JSON object; not touching it")
    return loaded


def merged(content: dict | None, registry: str, username: str, password: str) -> dict:
    """A copy of ``content`` whose ``auths[registry]`` holds these
    credentials; every other entry and key is kept."""
    out = dict(content or {})
    auths = dict(out.get("auths") or {})
    entry = dict(auths.get(registry) or {})
    for stale in ("identitytoken", "username", "password", "registrytoken"):
        entry.pop(stale, None)
    entry["auth"] = encode_auth(username, password)
    auths[registry] = entry
    out["auths"] = auths
    return out


def without(content: dict | None, registry: str) -> dict:
    out = dict(content or {})
    auths = dict(out.get("auths") or {})
    auths.pop(registry, None)
    out["auths"] = auths
    return out


def resolve(path: str) -> str:
    """The file that holds ``path``'s content: ``path`` itself, or, if it is a
    symlink, the end of its chain of links (which may not exist yet).

    Writing must replace that file, not the link: renaming over the link would
    turn it into a regular file and leave the old credentials in its target.
    """
    current = path
    for hops in range(MAX_SYMLINKS + 1):
        if not os.path.islink(current):
            if not hops:
                return path
            # The real directory: ``a/link-dir/../x`` is not ``a/x`` when
            # ``link-dir`` is itself a link, and the temporary file must be
            # created in the very directory the file is renamed into.
            return os.path.join(os.path.realpath(os.path.dirname(current) or "."), os.path.basename(current))
        if hops == MAX_SYMLINKS:
            break
        # An absolute link replaces the directory part; a relative one is
        # relative to the link's own directory.
        current = os.path.join(os.path.dirname(current), os.readlink(current))
    raise AuthFileError(f"{path} is a symlink loop (or a chain of more than {MAX_SYMLINKS} links); "
                        "point it at a regular file or replace it with one")


def resolve_for_write(path: str) -> str:
    """``resolve(path)``, refusing a symlink whose target cannot be created
    safely: a dangling link into a directory that does not exist."""
    real = resolve(path)
    if real != path:
        directory = os.path.dirname(real) or "."
        if not os.path.isdir(directory):
            raise AuthFileError(f"{path} is a symlink to {real}, whose directory {directory} does not exist; "
                                "create that directory, or replace the symlink with a regular file")
    return real


def write_atomic(path: str, content: dict, move=None, uid: int = -1, gid: int = -1) -> None:
    """Replace the file at ``path`` with ``content`` (JSON), atomically, at
    mode 0600, owned by ``uid``/``gid`` (-1: the caller's).

    A symlink is followed: the file at the end of the link is replaced and
    the link stays a link. The content goes to a temporary file in that
    file's directory, created 0600 and given its owner before its first byte,
    then renamed over the file as it is: readers see the old file or the new
    one, never a partial one, and no file holding the new content ever has a
    group or other permission bit (whatever the old file's mode or the umask).

    ``move(src, dest)`` does the rename (default ``os.replace``). It must not
    change the mode or owner of ``src``: ``AnsibleModule.atomic_move`` does
    (it copies the old file's mode onto ``src`` before the rename, and sets
    ``0666 & ~umask`` on a new file after it), so do not pass that.
    """
    real = resolve_for_write(path)
    directory = os.path.dirname(real) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if uid != -1 or gid != -1:
                os.fchown(fh.fileno(), uid, gid)
            os.fchmod(fh.fileno(), 0o600)
            json.dump(content, fh, indent="\t")
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        (move or os.replace)(tmp, real)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename durable; best effort (not every file system allows it)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
