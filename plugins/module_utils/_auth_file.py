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
import tempfile


class AuthFileError(Exception):
    pass


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


def write_atomic(path: str, content: dict, atomic_move, uid: int = -1, gid: int = -1) -> None:
    """Write JSON to a 0600 temporary file next to ``path`` (owned by
    ``uid``/``gid`` before any byte is written), then rename it over
    ``path``: readers see the old file or the new one, never a partial one,
    and the secret is never in a file others may read."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent="\t")
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        atomic_move(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
