#!/usr/bin/env python
"""What scripts/ee.sh checks in GitLab after `runnercreds.gitlab.site` ran
inside the test Execution Environment, read through GitLab's API with
python-gitlab (GITLAB_URL and GITLAB_TOKEN from the environment, never argv):

  * fleet/apps/api holds the deploy key the runner host generated (the public
    key read from the container, given as the only argument), titled
    "runner:ee-runner", with write access;
  * the tag pattern v* is protected there and only that deploy key may create
    such tags;
  * the deploy token ee-runner-clone exists there, active, read_repository.

Exit status 0 when all hold, 1 with one line per failed check otherwise.
"""

from __future__ import annotations

import os
import sys

import gitlab

PROJECT = "fleet/apps/api"
KEY_TITLE = "runner:ee-runner"
TAG_PATTERN = "v*"
TOKEN_NAME = "ee-runner-clone"


def key_body(public_key: str) -> str:
    """Type and base64 of an OpenSSH public key (its comment may differ)."""
    return " ".join(public_key.split()[:2])


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        host_key = key_body(fh.read())
    gl = gitlab.Gitlab(os.environ["GITLAB_URL"], private_token=os.environ["GITLAB_TOKEN"])
    project = gl.projects.get(PROJECT)
    failures = []

    keys = [key for key in project.keys.list(get_all=True) if key_body(key.key) == host_key]
    if not keys:
        failures.append(f"{PROJECT}: the runner's public key is not a deploy key")
        key_id = None
    else:
        key = keys[0]
        key_id = key.id
        if key.title != KEY_TITLE:
            failures.append(f"{PROJECT}: deploy key #{key.id} is titled {key.title!r}, expected {KEY_TITLE!r}")
        if not key.can_push:
            failures.append(f"{PROJECT}: deploy key #{key.id} has no write access (can_push false)")

    try:
        tag = project.protectedtags.get(TAG_PATTERN)
    except gitlab.exceptions.GitlabGetError:
        failures.append(f"{PROJECT}: tag pattern {TAG_PATTERN} is not protected")
    else:
        allowed = [level.get("deploy_key_id") for level in tag.create_access_levels]
        if key_id is None or allowed != [key_id]:
            failures.append(
                f"{PROJECT}: {TAG_PATTERN} may be created by {tag.create_access_levels}, expected only deploy key #{key_id}"
            )

    tokens = [token for token in project.deploytokens.list(get_all=True) if token.name == TOKEN_NAME]
    if not tokens:
        failures.append(f"{PROJECT}: no deploy token {TOKEN_NAME}")
    elif len(tokens) > 1:
        failures.append(f"{PROJECT}: {len(tokens)} deploy tokens {TOKEN_NAME}, expected one")
    else:
        token = tokens[0]
        if getattr(token, "revoked", False) or getattr(token, "expired", False):
            failures.append(f"{PROJECT}: deploy token {TOKEN_NAME} #{token.id} is revoked or expired")
        if "read_repository" not in token.scopes:
            failures.append(f"{PROJECT}: deploy token {TOKEN_NAME} #{token.id} has scopes {token.scopes}")

    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(f"   GitLab: {PROJECT} has deploy key #{key_id} ({KEY_TITLE}, can_push), {TAG_PATTERN} protected for "
              f"that key only, deploy token {TOKEN_NAME} #{tokens[0].id} active")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
