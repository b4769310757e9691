#!/usr/bin/env python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove, on the runner host, that the registry login in its auth files works.

    registry_login_check.py GITLAB_URL REGISTRY USERNAME PROJECT AUTH_FILE...

For every AUTH_FILE, the ``auths`` entry of REGISTRY must hold USERNAME, and
GitLab's registry token service must accept those credentials and grant
``pull`` on PROJECT: ``GET <GITLAB_URL>/jwt/auth?service=container_registry&scope=repository:<PROJECT>:pull``
with HTTP Basic, as the registry's clients do. The secret is read from the file
and sent to GitLab only; it is never printed, logged or put in a command line.
Exit status 0 and one JSON line on success, 1 and a message on stderr otherwise.
"""

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


class CheckError(Exception):
    pass


def credentials(path, registry):
    """(username, password) of REGISTRY's entry in the auth file at PATH."""
    try:
        with open(path, encoding="utf-8") as fh:
            entry = ((json.load(fh) or {}).get("auths") or {}).get(registry)
    except (OSError, ValueError) as exc:
        raise CheckError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    if not isinstance(entry, dict):
        raise CheckError(f"{path}: no login for {registry}")
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"], validate=True).decode("utf-8").partition(":")
        except ValueError:
            raise CheckError(f"{path}: the auth value of {registry} is not base64 of user:password") from None
        if sep:
            return user, password
    if entry.get("username") and entry.get("password"):
        return entry["username"], entry["password"]
    raise CheckError(f"{path}: the login for {registry} has no username and password")


def jwt_claims(token):
    """The claims of a JWT (not checked: GitLab just issued it over this connection)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def check(url, user, password, project):
    query = urllib.parse.urlencode({"service": "container_registry", "scope": f"repository:{project}:pull"})
    request = urllib.request.Request(f"{url}/jwt/auth?{query}")
    basic = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    request.add_header("Authorization", f"Basic {basic}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        raise CheckError(f"GitLab's registry token service refused {user}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CheckError(f"GitLab's registry token service at {url} did not answer: {exc}") from None
    access = jwt_claims(answer.get("token") or answer.get("access_token") or "").get("access") or []
    if not any(entry.get("name") == project and "pull" in (entry.get("actions") or []) for entry in access):
        raise CheckError(f"{user} authenticates, but may not pull from {project}")


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    url, registry, username, project = argv[:4]
    checked = []
    try:
        for path in argv[4:]:
            user, password = credentials(path, registry)
            if user != username:
                raise CheckError(f"{path}: the login for {registry} is {user}, not {username}")
            check(url.rstrip("/"), user, password, project)
            checked.append(path)
    except CheckError as exc:
        sys.stderr.write(f"registry login check failed: {exc}\n")
        return 1
    print(json.dumps({"registry": registry, "username": username, "project": project, "checked": checked}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
