# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input (issue 12): every module refuses it before doing anything, and says how to fix it.

One table, :data:`CASES`, holds every bad input, each on the module it
belongs to. For each one the module's ``main()`` runs in-process
(``run_module``: a traceback would raise instead of returning a failure) and
the test asserts:

* a clear message: it names the option and the fix (the accepted form),
  and carries no traceback;
* ZERO requests on the GitLab test server's counters (or zero writes where
  a read is unavoidable; the case says ``reads=`` why);
* nothing changed: ``changed`` is false, and for ``registry_auth`` the
  directory that holds the auth file is byte-for-byte, mode and owner the
  same (no temporary file left either);
* a private key given by mistake appears nowhere in the result.

A case with ``defect=`` is a bad input the collection does not refuse yet;
its test is written as it should pass and is marked ``xfail(strict=True)``
until plugins/ is fixed.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import re
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from disk_snapshot import snapshot
from module_runner import run_module
from sshkeys import public_key

from ansible_collections.runnercreds.gitlab.plugins.modules import (
    deploy_key,
    deploy_key_info,
    deploy_key_rotation,
    deploy_token,
    deploy_token_info,
    protected_tag,
    protected_tag_info,
    registry_auth,
    registry_auth_info,
)

MODULES = {
    "deploy_key": deploy_key,
    "deploy_key_info": deploy_key_info,
    "deploy_key_rotation": deploy_key_rotation,
    "deploy_token": deploy_token,
    "deploy_token_info": deploy_token_info,
    "protected_tag": protected_tag,
    "protected_tag_info": protected_tag_info,
    "registry_auth": registry_auth,
    "registry_auth_info": registry_auth_info,
}
API_MODULES = tuple(name for name in MODULES if not name.startswith("registry_auth"))

DROP = object()  # an override that removes the option from the base task

# --- key material, generated at import (never committed) -------------------------------------

GOOD_KEY = public_key("ed25519", comment="runner@host")
OTHER_GOOD_KEY = public_key("ed25519", comment="other@host")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA: that is the point of this key
    DSA_KEY = public_key("dsa", 1024, comment="old@host")
SHORT_RSA_KEY = public_key("rsa", 1024, comment="short@host")


def _private(key, fmt, encryption=None):
    return key.private_bytes(serialization.Encoding.PEM, fmt,
                             encryption or serialization.NoEncryption()).decode()


PRIVATE_OPENSSH = _private(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH)
PRIVATE_PKCS8 = _private(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8)
PRIVATE_RSA = _private(rsa.generate_private_key(public_exponent=65537, key_size=1024),
                       serialization.PrivateFormat.TraditionalOpenSSL)
PRIVATE_EC = _private(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL)
PRIVATE_ENCRYPTED = _private(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"passphrase"))
PRIVATE_PUTTY = ("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: runner\nPublic-Lines: 2\n"
                 + "\n".join(GOOD_KEY.split()[1][i:i + 64] for i in range(0, len(GOOD_KEY.split()[1]), 64))
                 + "\nPrivate-Lines: 1\nAAAAIGzK1v1yQ3uYpQk5H1W2m5vJxVh3Zq2i0wWb1o0n3bXx\n"
                 "Private-MAC: 3d1a8f0b2c4e6a8c0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d\n")
PRIVATE_KEYS = {
    "openssh": PRIVATE_OPENSSH, "pkcs8": PRIVATE_PKCS8, "rsa": PRIVATE_RSA, "ec": PRIVATE_EC,
    "encrypted": PRIVATE_ENCRYPTED, "putty": PRIVATE_PUTTY,
}

# A key line whose type says RSA but whose blob is an ed25519 key.
MISLABELLED_KEY = "ssh-rsa " + GOOD_KEY.split()[1] + " liar@host"


def _basic(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# The auth file every registry_auth case starts from: another registry's login, another key,
# and a mode (0640) a successful run would change to 0600.
AUTH_FILE = {"auths": {"other.example.com": {"auth": _basic("someone", "their-secret")}}, "psFormat": "table"}
AUTH_MODE = 0o640

# --- the catalogue ---------------------------------------------------------------------------------


class Bad:
    """One bad input: where it goes, what the message must say, and what may happen meanwhile.

    ``args`` overrides the module's base task (:func:`base_task`); a callable
    gets the :class:`Ctx` (project, paths). ``option`` must appear in the
    message and ``fix`` (a regular expression) is the accepted form it must
    state. ``reads`` says why a read is unavoidable (then only writes must be
    zero). ``setup(ctx)`` prepares the auth file for ``registry_auth`` cases.
    ``secret`` is text that must appear nowhere in the result.
    """

    __slots__ = ("module", "name", "args", "option", "fix", "reads", "defect", "setup", "secret")

    def __init__(self, module, name, args, option, fix, reads=None, defect=None, setup=None, secret=None):
        self.module = module
        self.name = name
        self.args = args
        self.option = option
        self.fix = fix
        self.reads = reads
        self.defect = defect
        self.setup = setup
        self.secret = secret

    @property
    def ident(self):
        return f"{self.module}-{self.name}"

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=f"defect: {self.defect}")] if self.defect else []
        return pytest.param(self, id=self.ident, marks=marks)


URL_FIX = r"https://gitlab\.example\.com"
PROJECT_FIX = r"group/app|numeric id|id or full path"
GROUP_FIX = r"group/subgroup|id or full path"
DATE_FIX = r"2030-01-31"
KEY_FIX = r"ssh-ed25519|OpenSSH public key"
PRIVATE_FIX = r"public key .*(\.pub|ssh-keygen -y)"
TAG_FIX = r"such as v\*"
LEVEL_FIX = r"no_one, developer, maintainer, admin"
SCOPES_FIX = r"read_repository, read_registry"
REGISTRY_FIX = r"registry\.gitlab\.example\.com|127\.0\.0\.1:5000|host\[:port\]"


def conn_cases():
    """Connection options: every API module takes them; each bad value is tried on one module."""
    return [
        Bad("deploy_key", "api_url-empty", dict(api_url=""), "api_url", URL_FIX),
        Bad("deploy_token_info", "api_url-whitespace", dict(api_url="   "), "api_url", URL_FIX),
        Bad("protected_tag", "api_url-no-scheme", dict(api_url="gitlab.example.com"), "api_url", URL_FIX),
        Bad("deploy_key_info", "api_url-ftp-scheme", dict(api_url="ftp://gitlab.example.com"), "api_url", URL_FIX),
        Bad("deploy_token", "api_url-credentials", dict(api_url="https://root:hunter2@gitlab.example.com"),
            "api_url", r"api_token", secret="hunter2"),
        Bad("protected_tag_info", "api_url-query", dict(api_url="https://gitlab.example.com/?private_token=x"),
            "api_url", URL_FIX),
        Bad("deploy_key", "api_url-fragment", dict(api_url="https://gitlab.example.com/#api"), "api_url", URL_FIX),
        Bad("deploy_token", "api_url-no-host", dict(api_url="https://"), "api_url", URL_FIX),
        Bad("protected_tag", "api_url-space-in-host", dict(api_url="https://gitlab .example.com"), "api_url",
            URL_FIX),
        Bad("deploy_key_info", "api_url-port-out-of-range", dict(api_url="https://gitlab.example.com:99999"),
            "api_url", URL_FIX),
        Bad("deploy_key_info", "api_url-list", dict(api_url=["https://gitlab.example.com"]), "api_url", URL_FIX),
        Bad("deploy_key_info", "api_token-empty", dict(api_token=""), "api_token", r"give the token"),
        Bad("protected_tag", "api_token-whitespace", dict(api_token="  \t"), "api_token", r"give the token"),
        Bad("deploy_token_info", "api_token-and-api_job_token", dict(api_job_token="job-token"),
            "api_job_token", r"exactly one token"),
        Bad("deploy_key", "no-token-at-all", dict(api_token=DROP), "api_token", r"GITLAB_TOKEN"),
        Bad("protected_tag_info", "api_job_token-empty", dict(api_token=DROP, api_job_token=""),
            "api_job_token", r"give the token"),
        Bad("deploy_token", "ca_path-empty", dict(ca_path=""), "ca_path", r"PEM CA bundle"),
        Bad("deploy_key", "ca_path-missing", dict(ca_path="/nonexistent/ca.pem"), "ca_path", r"PEM CA bundle"),
        Bad("deploy_key_info", "timeout-0", dict(timeout=0), "timeout", r"greater than 0"),
        Bad("protected_tag", "timeout-negative", dict(timeout=-1), "timeout", r"greater than 0"),
        Bad("deploy_token", "timeout-nan", dict(timeout="nan"), "timeout", r"greater than 0"),
        Bad("protected_tag_info", "timeout-inf", dict(timeout="inf"), "timeout", r"greater than 0"),
        Bad("deploy_key", "timeout-word", dict(timeout="soon"), "timeout", r"float"),
        Bad("deploy_token_info", "max_retries-negative", dict(max_retries=-1), "max_retries", r"0 \(no retries\) or more"),
        Bad("protected_tag", "max_retries-word", dict(max_retries="many"), "max_retries", r"int"),
        Bad("deploy_key_info", "max_retries-fraction", dict(max_retries=1.5), "max_retries", r"int"),
        Bad("deploy_key", "concurrency-0", dict(concurrency=0), "concurrency", r"1 or more"),
        Bad("protected_tag_info", "concurrency-negative", dict(concurrency=-3), "concurrency", r"1 or more"),
        Bad("deploy_token", "validate_certs-word", dict(validate_certs="maybe"), "validate_certs", r"bool"),
        Bad("deploy_key", "unknown-option-typo", dict(api_uri="https://gitlab.example.com"), "api_uri",
            r"Supported parameters include: .*api_url"),
    ]


def target_cases():
    """projects / groups: ids, paths, duplicates (one resolver for every module)."""
    return [
        Bad("deploy_key", "projects-empty-list", dict(projects=[]), "projects", r"at least one project"),
        Bad("deploy_token", "projects-empty-string", dict(projects=[""]), "projects[0]", PROJECT_FIX),
        Bad("protected_tag", "projects-whitespace", dict(projects=["  "]), "projects[0]", PROJECT_FIX),
        Bad("deploy_key", "projects-id-0", dict(projects=[0]), "projects[0]", r"positive"),
        Bad("deploy_key_info", "projects-id-negative", dict(projects=[-1]), "projects[0]", r"positive"),
        Bad("deploy_token", "projects-id-0-as-text", dict(projects=["0"]), "projects[0]", r"positive"),
        Bad("protected_tag_info", "projects-id-negative-as-text", dict(projects=["-1"]), "projects[0]",
            r"positive|" + PROJECT_FIX),
        Bad("protected_tag", "projects-space-in-path", dict(projects=["group/my app"]), "projects[0]",
            PROJECT_FIX),
        Bad("deploy_key_info", "projects-display-name", dict(projects=["Fleet / Apps / API"]), "projects[0]",
            r"not the display name"),
        Bad("deploy_token", "projects-namespace-alone", dict(projects=["fleet"]), "projects[0]",
            r"namespace and project"),
        Bad("deploy_key", "projects-bool", dict(projects=[True]), "projects[0]", PROJECT_FIX),
        Bad("protected_tag_info", "projects-url-not-path",
            dict(projects=["https://gitlab.example.com/fleet/apps/api"]), "projects[0]", PROJECT_FIX),
        Bad("deploy_key_info", "projects-dot-git-suffix", dict(projects=["fleet/apps/api.git"]), "projects[0]",
            r"\.git"),
        Bad("protected_tag", "projects-double-slash", dict(projects=["fleet//api"]), "projects[0]", PROJECT_FIX),
        Bad("deploy_key_info", "projects-dict", dict(projects={"fleet/apps/api": True}), "projects",
            r"list"),
        Bad("deploy_key", "projects-can_push-word",
            lambda ctx: dict(projects=[{"project": ctx.path, "can_push": "maybe"}]),
            "projects[0].can_push", r"true or false"),
        Bad("deploy_key", "projects-unknown-key", lambda ctx: dict(projects=[{"path": ctx.path}]),
            "projects[0]", r"'project' and optionally 'can_push'"),
        Bad("deploy_key", "projects-duplicate-conflicting-can_push",
            lambda ctx: dict(projects=[{"project": ctx.path, "can_push": True},
                                       {"project": ctx.path.upper(), "can_push": False}]),
            "projects[0] and projects[1]", r"give it once"),
        Bad("deploy_key", "projects-duplicate-id-and-path-conflicting",
            lambda ctx: dict(projects=[{"project": ctx.path, "can_push": True},
                                       {"project": ctx.id, "can_push": False}]),
            "projects[0] and projects[1]", r"give it once",
            reads="an id and a path can only be compared after GET /projects/:id"),
        Bad("deploy_token", "groups-space-in-path", dict(projects=DROP, groups=["fleet/my group"]), "groups[0]",
            GROUP_FIX),
        Bad("deploy_token_info", "groups-empty-string", dict(projects=DROP, groups=[""]), "groups[0]", GROUP_FIX),
        Bad("deploy_token_info", "groups-empty-list", dict(projects=DROP, groups=[]), "groups", r"leave groups out"),
        Bad("deploy_token", "projects-and-groups", dict(groups=["fleet"]), "groups", r"mutually exclusive"),
        Bad("deploy_token", "neither-projects-nor-groups", dict(projects=DROP), "projects, groups",
            r"one of the following is required"),
        Bad("deploy_token_info", "projects-and-groups", dict(groups=["fleet"]), "groups", r"mutually exclusive"),
        Bad("deploy_key_info", "projects-empty-list", dict(projects=[]), "projects",
            r"leave projects out|at least one project"),
    ]


def deploy_key_cases():
    return [
        Bad("deploy_key", "key-empty", dict(key=""), "key", KEY_FIX),
        Bad("deploy_key", "key-whitespace", dict(key=" \n "), "key", KEY_FIX),
        Bad("deploy_key", "key-missing", dict(key=DROP), "key", r"state is present"),
        Bad("deploy_key", "key-private-openssh", dict(key=PRIVATE_OPENSSH), "key", PRIVATE_FIX,
            secret=PRIVATE_OPENSSH),
        Bad("deploy_key", "key-private-pkcs8", dict(key=PRIVATE_PKCS8), "key", PRIVATE_FIX, secret=PRIVATE_PKCS8),
        Bad("deploy_key", "key-private-putty", dict(key=PRIVATE_PUTTY), "key", PRIVATE_FIX, secret=PRIVATE_PUTTY),
        Bad("deploy_key", "key-private-then-public", dict(key=PRIVATE_OPENSSH + GOOD_KEY), "key", PRIVATE_FIX,
            secret=PRIVATE_OPENSSH),
        Bad("deploy_key", "key-dsa", dict(key=DSA_KEY), "key", KEY_FIX),
        Bad("deploy_key", "key-rsa-1024", dict(key=SHORT_RSA_KEY), "key", r"ssh-keygen -t ed25519|2048"),
        Bad("deploy_key", "key-bad-base64", dict(key="ssh-ed25519 not-base64!! runner@host"), "key", KEY_FIX),
        Bad("deploy_key", "key-blob-of-other-type", dict(key=MISLABELLED_KEY), "key", r"ssh-rsa"),
        Bad("deploy_key", "key-two-lines", dict(key=GOOD_KEY + "\n" + OTHER_GOOD_KEY), "key", r"one public key line"),
        Bad("deploy_key", "key-unknown-type", dict(key="ssh-foo AAAAB3NzaC1yc2E runner@host"), "key", KEY_FIX),
        Bad("deploy_key", "key-truncated", dict(key="ssh-ed25519 AAAA runner@host"), "key", KEY_FIX),
        Bad("deploy_key", "key-list", dict(key=[GOOD_KEY]), "key", KEY_FIX),
        Bad("deploy_key", "key-type-only", dict(key="ssh-ed25519"), "key", r"<type> <base64>"),
        Bad("deploy_key", "key-authorized_keys-options", dict(key='command="/bin/true" ' + GOOD_KEY), "key",
            KEY_FIX),
        Bad("deploy_key", "key-fingerprint-instead", dict(key="SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU"),
            "key", r"<type> <base64>|ssh-ed25519"),
        Bad("deploy_key", "title-empty", dict(title=""), "title", r"such as runner-fleet"),
        Bad("deploy_key", "title-whitespace", dict(title="   "), "title", r"such as runner-fleet"),
        Bad("deploy_key", "title-too-long", dict(title="t" * 256), "title", r"at most 255"),
        Bad("deploy_key", "expires_at-day-first", dict(expires_at="31/01/2030"), "expires_at", DATE_FIX),
        Bad("deploy_key", "expires_at-no-such-day", dict(expires_at="2030-02-30"), "expires_at", DATE_FIX),
        Bad("deploy_key", "expires_at-past", dict(expires_at="2020-01-31"), "expires_at", r"in the past"),
        Bad("deploy_key", "expires_at-word", dict(expires_at="tomorrow"), "expires_at", DATE_FIX),
        Bad("deploy_key", "expires_at-whitespace", dict(expires_at="  "), "expires_at", DATE_FIX + r"|leave it out"),
        Bad("deploy_key", "can_push-word", dict(can_push="maybe"), "can_push", r"bool"),
        Bad("deploy_key", "recreate-word", dict(recreate="yes please"), "recreate", r"bool"),
        Bad("deploy_key", "state-unknown", dict(state="removed"), "state", r"present, absent"),
        Bad("deploy_key", "absent-without-key-or-title", dict(state="absent", key=DROP, title=DROP),
            "state=absent", r"key or title"),
        Bad("deploy_key", "purge_titles-empty-entry", dict(purge_titles=["runner-*", ""]), "purge_titles[1]",
            r"such as runner-\*"),
    ]


def deploy_key_info_cases():
    return [
        Bad("deploy_key_info", "key-private-rsa", dict(key=PRIVATE_RSA), "key", PRIVATE_FIX, secret=PRIVATE_RSA),
        Bad("deploy_key_info", "key-dsa", dict(key=DSA_KEY), "key", KEY_FIX),
        Bad("deploy_key_info", "key-empty", dict(key=""), "key", KEY_FIX),
        Bad("deploy_key_info", "key-garbage", dict(key="not a key"), "key", KEY_FIX),
        Bad("deploy_key_info", "fingerprint-private-key", dict(fingerprint=PRIVATE_OPENSSH), "fingerprint",
            PRIVATE_FIX + r"|SHA256:", secret=PRIVATE_OPENSSH),
        Bad("deploy_key_info", "fingerprint-md5", dict(fingerprint="MD5:9f:0a:3b:7c:11:22:33:44:55:66:77:88:99:aa:bb:cc"),
            "fingerprint", r"SHA256:"),
        Bad("deploy_key_info", "fingerprint-empty", dict(fingerprint=""), "fingerprint", r"SHA256:"),
        Bad("deploy_key_info", "title-empty", dict(title=""), "title", r"runner-\*"),
    ]


def deploy_key_rotation_cases():
    return [
        Bad("deploy_key_rotation", "successor-private-key", dict(successor=PRIVATE_OPENSSH), "successor", PRIVATE_FIX,
            secret=PRIVATE_OPENSSH),
        Bad("deploy_key_rotation", "key-private-putty", dict(key=PRIVATE_PUTTY), "key", PRIVATE_FIX,
            secret=PRIVATE_PUTTY),
        Bad("deploy_key_rotation", "successor-same-as-key", dict(successor=GOOD_KEY.replace("runner@host", "new")),
            "successor", r"new public key"),
        Bad("deploy_key_rotation", "successor-dsa", dict(successor=DSA_KEY), "successor", KEY_FIX),
        Bad("deploy_key_rotation", "successor-empty", dict(successor=""), "successor", KEY_FIX),
        Bad("deploy_key_rotation", "lifetime_days-0", dict(lifetime_days=0), "lifetime_days", r"1 or more"),
        Bad("deploy_key_rotation", "expires_at-and-lifetime_days", dict(expires_at="2030-01-31", lifetime_days=30),
            "lifetime_days", r"mutually exclusive"),
        Bad("deploy_key_rotation", "expires_at-day-first", dict(expires_at="31/01/2030"), "expires_at", DATE_FIX),
        Bad("deploy_key_rotation", "expires_at-past", dict(expires_at="2020-01-31"), "expires_at", r"in the past"),
        Bad("deploy_key_rotation", "title-whitespace", dict(title="  "), "title", r"leave it out"),
        Bad("deploy_key_rotation", "step-unknown", dict(step="rotate"), "step", r"add_successor, retire_predecessor"),
    ]


def deploy_token_cases():
    return [
        Bad("deploy_token", "name-empty", dict(name=""), "name", r"e\.g\.|such as"),
        Bad("deploy_token", "name-whitespace", dict(name="  "), "name", r"e\.g\.|such as"),
        Bad("deploy_token", "name-too-long", dict(name="n" * 256), "name", r"at most 255"),
        Bad("deploy_token", "scopes-empty", dict(scopes=[]), "scopes", SCOPES_FIX),
        Bad("deploy_token", "scopes-missing", dict(scopes=DROP), "scopes", r"state is present"),
        Bad("deploy_token", "scopes-typo", dict(scopes=["read_repo"]), "scopes", SCOPES_FIX),
        Bad("deploy_token", "scopes-write_repository", dict(scopes=["read_repository", "write_repository"]),
            "scopes", SCOPES_FIX),
        Bad("deploy_token", "scopes-api", dict(scopes=["api"]), "scopes", SCOPES_FIX),
        Bad("deploy_token", "username-space", dict(username="fleet runner"), "username", r"letters, digits"),
        Bad("deploy_token", "username-email", dict(username="runner@example.com"), "username", r"letters, digits"),
        Bad("deploy_token", "username-non-ascii", dict(username="rünner"), "username", r"letters, digits"),
        Bad("deploy_token", "username-empty", dict(username=""), "username", r"letters, digits"),
        Bad("deploy_token", "username-too-long", dict(username="u" * 256), "username", r"at most 255"),
        Bad("deploy_token", "expires_at-day-first", dict(expires_at="31/01/2030"), "expires_at", DATE_FIX),
        Bad("deploy_token", "expires_at-no-such-day", dict(expires_at="2030-02-30"), "expires_at", DATE_FIX),
        Bad("deploy_token", "expires_at-past", dict(expires_at="2000-01-01"), "expires_at", r"in the past"),
        Bad("deploy_token", "expires_at-empty", dict(expires_at=""), "expires_at", DATE_FIX + r"|leave it out"),
        Bad("deploy_token", "expires_at-and-lifetime_days", dict(expires_at="2030-01-31", lifetime_days=90),
            "lifetime_days", r"mutually exclusive"),
        Bad("deploy_token", "lifetime_days-0", dict(lifetime_days=0), "lifetime_days", r"1 or more"),
        Bad("deploy_token", "lifetime_days-negative", dict(lifetime_days=-5), "lifetime_days", r"1 or more"),
        Bad("deploy_token", "lifetime_days-word", dict(lifetime_days="ninety"), "lifetime_days", r"int"),
        Bad("deploy_token", "rotate_before_expiry_days-without-lifetime", dict(rotate_before_expiry_days=7),
            "lifetime_days", r"rotate_before_expiry_days"),
        Bad("deploy_token", "rotate_before_expiry_days-equals-lifetime",
            dict(lifetime_days=90, rotate_before_expiry_days=90), "rotate_before_expiry_days",
            r"between 0 and lifetime_days - 1 \(89\)"),
        Bad("deploy_token", "rotate_after_days-negative", dict(lifetime_days=90, rotate_after_days=-1),
            "rotate_after_days", r"between 0 and lifetime_days - 1 \(89\)"),
        Bad("deploy_token", "rotate_after_days-beyond-lifetime", dict(lifetime_days=30, rotate_after_days=45),
            "rotate_after_days", r"between 0 and lifetime_days - 1 \(29\)"),
        Bad("deploy_token", "rotate-word", dict(rotate="sometimes"), "rotate", r"bool"),
        Bad("deploy_token", "state-unknown", dict(state="revoked"), "state", r"present, absent"),
    ]


def deploy_token_info_cases():
    return [
        Bad("deploy_token_info", "active-word", dict(active="maybe"), "active", r"bool"),
        Bad("deploy_token_info", "projects-empty-list", dict(projects=[]), "projects", r"leave projects out"),
        Bad("deploy_token_info", "name-empty", dict(name=""), "name", r"leave it out|e\.g\.|such as"),
    ]


def protected_tag_cases():
    def allowed(*entries):
        return dict(allowed_to_create=list(entries))

    return [
        Bad("protected_tag", "name-space", dict(name="v *"), "name", TAG_FIX),
        Bad("protected_tag", "name-double-dot", dict(name="v..1"), "name", TAG_FIX),
        Bad("protected_tag", "name-refs-prefix", dict(name="refs/tags/v*"), "name", TAG_FIX),
        Bad("protected_tag", "name-leading-dash", dict(name="-v*"), "name", TAG_FIX),
        Bad("protected_tag", "name-dot-lock", dict(name="v*.lock"), "name", TAG_FIX),
        Bad("protected_tag", "name-empty", dict(name=""), "name", TAG_FIX),
        Bad("protected_tag", "name-bracket-class", dict(name="v[0-9]*"), "name", TAG_FIX),
        Bad("protected_tag", "name-trailing-slash", dict(name="release/"), "name", TAG_FIX),
        Bad("protected_tag", "name-at-brace", dict(name="v@{1}"), "name", TAG_FIX),
        Bad("protected_tag", "name-tilde", dict(name="v~1"), "name", TAG_FIX),
        Bad("protected_tag", "name-too-long", dict(name="v" * 256), "name", r"at most 255"),
        Bad("protected_tag", "create_access_level-owner", dict(create_access_level="owner"), "create_access_level",
            LEVEL_FIX),
        Bad("protected_tag", "create_access_level-description", dict(create_access_level="Maintainers"),
            "create_access_level", LEVEL_FIX),
        Bad("protected_tag", "create_access_level-50", dict(create_access_level="50"), "create_access_level",
            LEVEL_FIX),
        Bad("protected_tag", "create_access_level-empty", dict(create_access_level=""), "create_access_level",
            LEVEL_FIX),
        Bad("protected_tag", "allowed_to_create-empty-entry", allowed({}), "allowed_to_create[0]",
            r"exactly one of access_level, deploy_key, user or group"),
        Bad("protected_tag", "allowed_to_create-user-and-group", allowed({"user": "alice", "group": "fleet"}),
            "allowed_to_create[0]", r"exactly one of access_level, deploy_key, user or group"),
        Bad("protected_tag", "allowed_to_create-user-display-name", allowed({"user": "Alice Maintainer"}),
            "allowed_to_create[0].user", r"not the display name"),
        Bad("protected_tag", "allowed_to_create-user-email", allowed({"user": "alice@example.test"}),
            "allowed_to_create[0].user", r"not the display name or e-mail"),
        Bad("protected_tag", "allowed_to_create-group-display-name", allowed({"group": "Release Managers"}),
            "allowed_to_create[0].group", GROUP_FIX),
        Bad("protected_tag", "allowed_to_create-group-id-0", allowed({"group": "0"}), "allowed_to_create[0].group",
            r"positive"),
        Bad("protected_tag", "allowed_to_create-access_level-root", allowed({"access_level": "root"}),
            "allowed_to_create[0].access_level", LEVEL_FIX),
        Bad("protected_tag", "allowed_to_create-deploy_key-private", allowed({"deploy_key": PRIVATE_EC}),
            "allowed_to_create[0].deploy_key", PRIVATE_FIX, secret=PRIVATE_EC),
        Bad("protected_tag", "allowed_to_create-deploy_key-dsa", allowed({"deploy_key": DSA_KEY}),
            "allowed_to_create[0].deploy_key", KEY_FIX),
        Bad("protected_tag", "allowed_to_create-deploy_key-rsa-1024", allowed({"deploy_key": SHORT_RSA_KEY}),
            "allowed_to_create[0].deploy_key", r"2048"),
        Bad("protected_tag", "allowed_to_create-deploy_key-truncated",
            allowed({"deploy_key": "ssh-ed25519 AAAA runner@host"}), "allowed_to_create[0].deploy_key", KEY_FIX),
        Bad("protected_tag", "allowed_to_create-deploy_key-whitespace", allowed({"deploy_key": "   "}),
            "allowed_to_create[0].deploy_key", r"title, public key or SHA256 fingerprint"),
        Bad("protected_tag", "allowed_to_create-deploy_key-bad-fingerprint",
            allowed({"deploy_key": "SHA256:not/a fingerprint!"}), "allowed_to_create[0].deploy_key",
            r"SHA256:"),
        Bad("protected_tag", "allowed_to_create-unknown-suboption", allowed({"nickname": "alice"}),
            "nickname", r"Supported parameters include"),
        Bad("protected_tag", "allowed_to_create-string", dict(allowed_to_create="maintainer"),
            "allowed_to_create", r"dict"),
        Bad("protected_tag", "tags-duplicate", dict(name=DROP, create_access_level=DROP,
                                                    tags=[{"name": "v*"}, {"name": "v*"}]),
            "tags", r"give each pattern once"),
        Bad("protected_tag", "tags-duplicate-conflicting-settings",
            dict(name=DROP, create_access_level=DROP,
                 tags=[{"name": "v*", "create_access_level": "maintainer"},
                       {"name": "v*", "create_access_level": "no_one"}]),
            "tags", r"give each pattern once"),
        Bad("protected_tag", "tags-entry-without-name",
            dict(name=DROP, create_access_level=DROP, tags=[{"create_access_level": "maintainer"}]),
            "name", r"tags"),
        Bad("protected_tag", "tags-entry-deploy_key-private",
            dict(name=DROP, create_access_level=DROP,
                 tags=[{"name": "v*", "allowed_to_create": [{"deploy_key": PRIVATE_ENCRYPTED}]}]),
            "tags[0].allowed_to_create[0].deploy_key", PRIVATE_FIX, secret=PRIVATE_ENCRYPTED),
        Bad("protected_tag", "tags-and-name", dict(create_access_level=DROP, tags=[{"name": "v*"}]), "tags",
            r"mutually exclusive"),
        Bad("protected_tag", "tags-and-create_access_level", dict(name=DROP, tags=[{"name": "v*"}]),
            "create_access_level", r"mutually exclusive"),
        Bad("protected_tag", "create_access_level-without-name", dict(name=DROP), "name", r"tag pattern"),
        Bad("protected_tag", "nothing-to-do", dict(name=DROP, create_access_level=DROP), "name",
            r"tags, block_branch_names or branch_names"),
        Bad("protected_tag", "purge-with-state-absent", dict(purge=True, state="absent"), "purge",
            r"state=present"),
        Bad("protected_tag", "branch_names-space", dict(branch_names=["main", "feature branch"]),
            "branch_names[1]", TAG_FIX),
        Bad("protected_tag", "branch_names-empty-entry", dict(branch_names=[""]), "branch_names[0]", TAG_FIX),
        Bad("protected_tag", "block_branch_names-word", dict(block_branch_names="sometimes"), "block_branch_names",
            r"bool"),
        Bad("protected_tag", "state-unknown", dict(state="unprotected"), "state", r"present, absent"),
        Bad("protected_tag", "projects-namespace-alone", dict(projects=["fleet"]), "projects[0]",
            r"namespace and project"),
    ]


def protected_tag_info_cases():
    return [
        Bad("protected_tag_info", "projects-empty-list", dict(projects=[]), "projects", r"at least one project"),
        Bad("protected_tag_info", "projects-id-0-as-text", dict(projects=["0"]), "projects[0]", r"positive"),
        Bad("protected_tag_info", "name-refs-prefix", dict(name="refs/tags/v*"), "name", TAG_FIX),
        Bad("protected_tag_info", "name-empty", dict(name=""), "name", TAG_FIX),
        Bad("protected_tag_info", "match_tags-word", dict(match_tags="perhaps"), "match_tags", r"bool"),
    ]


def _make_dir(ctx):
    os.mkdir(ctx.auth_path)


def _make_fifo(ctx):
    os.mkfifo(ctx.auth_path, 0o600)


def _write(text):
    def setup(ctx):
        with open(ctx.auth_path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(ctx.auth_path, AUTH_MODE)
    return setup


def _link_loop(ctx):
    os.symlink(ctx.auth_path, ctx.auth_path)


def _dangling_into_nowhere(ctx):
    os.symlink(os.path.join(ctx.tmp, "missing-dir", "config.json"), ctx.auth_path)


def registry_auth_cases():
    secret_json = '{"auths": {"other.example.com": {"auth": "' + _basic("someone", "their-secret") + '"}'
    return [
        Bad("registry_auth", "registry-empty", dict(registry=""), "registry", REGISTRY_FIX),
        Bad("registry_auth", "registry-whitespace", dict(registry="  registry.example.com "), "registry",
            REGISTRY_FIX),
        Bad("registry_auth", "registry-space-inside", dict(registry="registry example.com"), "registry",
            REGISTRY_FIX),
        Bad("registry_auth", "registry-with-credentials", dict(registry="deployer:hunter2@registry.example.com"),
            "registry", REGISTRY_FIX, secret="hunter2"),
        Bad("registry_auth", "registry-url-with-query", dict(registry="https://registry.example.com/v2/?service=x"),
            "registry", REGISTRY_FIX),
        Bad("registry_auth", "registry-bad-port", dict(registry="registry.example.com:fivethousand"), "registry",
            REGISTRY_FIX),
        Bad("registry_auth", "username-missing", dict(username=DROP), "username", r"state is present"),
        Bad("registry_auth", "username-empty", dict(username=""), "username", r"gitlab\+deploy-token"),
        Bad("registry_auth", "username-with-colon", dict(username="deploy:er"), "username", r"':'|colon"),
        Bad("registry_auth", "password-empty", dict(password=""), "password", r"deploy token|give"),
        Bad("registry_auth", "path-empty", dict(path=""), "path", r"config\.json|auth\.json"),
        Bad("registry_auth", "path-is-directory", dict(), "{path} is not a regular file", r"regular file",
            setup=_make_dir),
        Bad("registry_auth", "path-is-fifo", dict(), "{path} is not a regular file", r"regular file", setup=_make_fifo),
        Bad("registry_auth", "path-invalid-json", dict(), "{path} is not valid JSON", r"fix or remove it first",
            setup=_write(secret_json), secret="their-secret"),
        Bad("registry_auth", "path-json-array", dict(), "{path} does not hold a JSON object", r"JSON object",
            setup=_write("[]")),
        Bad("registry_auth", "path-auths-not-object", dict(), "{path}: 'auths' is not a JSON object", r"JSON object",
            setup=_write('{"auths": []}')),
        Bad("registry_auth", "path-symlink-loop", dict(), "{path} is a symlink loop", r"point it at a regular file",
            setup=_link_loop),
        Bad("registry_auth", "path-dangling-link-into-missing-dir", dict(), "{path} is a symlink", r"create that directory",
            setup=_dangling_into_nowhere),
        Bad("registry_auth", "owner-unknown", dict(owner="no-such-user-4711"), "owner", r"not a user on this host"),
        Bad("registry_auth", "owner-empty", dict(owner=""), "owner", r"leave it out|user"),
        Bad("registry_auth", "group-unknown", dict(group="no-such-group-4711"), "group",
            r"not a group on this host"),
        Bad("registry_auth", "state-unknown", dict(state="logged-out"), "state", r"present, absent"),
        Bad("registry_auth_info", "path-is-directory", dict(), "{path} is not a regular file", r"regular file",
            setup=_make_dir),
        Bad("registry_auth_info", "path-invalid-json", dict(), "{path} is not valid JSON", r"fix or remove it first",
            setup=_write("{not json"), ),
        Bad("registry_auth_info", "registries-empty-entry", dict(registries=[""]), "registries[0]",
            REGISTRY_FIX),
    ]


CASES = (conn_cases() + target_cases() + deploy_key_cases() + deploy_key_info_cases() + deploy_key_rotation_cases()
         + deploy_token_cases()
         + deploy_token_info_cases() + protected_tag_cases() + protected_tag_info_cases() + registry_auth_cases())


# --- running one case ----------------------------------------------------------------------------

class Ctx:
    """What a case's arguments may refer to: the project, and the registry_auth paths."""

    def __init__(self, project, tmp):
        self.path = project.path_with_namespace if project is not None else "fleet/apps/api"
        self.id = project.id if project is not None else 1
        self.tmp = str(tmp)
        self.auth_dir = os.path.join(self.tmp, "docker")
        self.auth_path = os.path.join(self.auth_dir, "config.json")


def base_task(module_name, target, ctx):
    """The smallest valid task of each module; a case changes one thing in it."""
    if module_name.startswith("registry_auth"):
        task = dict(path=ctx.auth_path)
        if module_name == "registry_auth":
            task.update(registry="registry.example.com", username="gitlab+deploy-token-1", password="token-secret")
        return task
    task = dict(api_url=target.url, api_token=target.admin_token, max_retries=0, timeout=10, projects=[ctx.path])
    task.update({
        "deploy_key": dict(key=GOOD_KEY, title="runner"),
        "deploy_key_rotation": dict(key=GOOD_KEY, successor=OTHER_GOOD_KEY, step="add_successor"),
        "deploy_token": dict(name="server-pull", scopes=["read_registry"], _ansible_no_log=True),
        "protected_tag": dict(name="v*", create_access_level="maintainer"),
    }.get(module_name, {}))
    return task


def task_for(case, target, ctx):
    task = base_task(case.module, target, ctx)
    overrides = case.args(ctx) if callable(case.args) else case.args
    for option, value in overrides.items():
        if value is DROP:
            task.pop(option, None)
        else:
            task[option] = value
    return task


@pytest.fixture
def ctx(gitlab_target, tmp_path, request, monkeypatch):
    """A fresh project for API modules, an auth file directory, no GITLAB_* and the tmp dir as cwd."""
    monkeypatch.delenv("GITLAB_URL", raising=False)
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    case = request.node.callspec.params.get("case")
    project = None
    if case is None or case.module in API_MODULES:
        project = gitlab_target.make_project("bad")
    context = Ctx(project, tmp_path)
    os.mkdir(context.auth_dir, 0o700)
    return context


def check_message(case, result, ctx, sent):
    """Clear: no traceback, names the option and states the fix; truthful about what went to GitLab."""
    msg = result.get("msg") or ""
    assert "Traceback" not in msg and "exception" not in result, result
    option = case.option.replace("{path}", ctx.auth_path)  # an auth file's trouble is named by its path
    assert option in msg, f"the message does not name {option!r}: {msg}"
    assert re.search(case.fix, msg), f"the message does not state the fix /{case.fix}/: {msg}"
    says_nothing_sent = "nothing was sent to gitlab" in msg.lower()
    if sent:
        assert not says_nothing_sent, f"{sent} request(s) went to GitLab, yet: {msg}"
    elif case.module in API_MODULES and msg.startswith(case.module + ":"):
        # The collection's own refusals say that nothing went out.
        assert says_nothing_sent, msg


@pytest.mark.needs_control
@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_bad_input_is_refused_before_anything_happens(gitlab_target, ctx, case):
    if case.setup is not None:
        case.setup(ctx)
    else:
        with open(ctx.auth_path, "w", encoding="utf-8") as fh:
            json.dump(AUTH_FILE, fh)
        os.chmod(ctx.auth_path, AUTH_MODE)
    before = snapshot(ctx.tmp)
    task = task_for(case, gitlab_target, ctx)
    gitlab_target.clear_requests()

    result = run_module(MODULES[case.module].main, task, fail=True)  # a traceback raises here instead

    counters = gitlab_target.requests()
    check_message(case, result, ctx, counters["total"])
    if case.reads:
        assert counters["writes"] == 0, counters["log"]
    else:
        assert counters["total"] == 0, counters["log"]
    assert result.get("changed", False) is False, result
    assert snapshot(ctx.tmp) == before
    if case.secret:
        shown = json.dumps(result)
        for line in case.secret.splitlines():
            if len(line.strip()) > 8:
                assert line.strip() not in shown


def _what(case):
    """What a case gives the module, to tell distinct inputs apart."""
    args = case.name if callable(case.args) else json.dumps(case.args, sort_keys=True, default=repr)
    return case.module, args, id(case.setup)


def test_the_catalogue_holds_at_least_80_distinct_bad_inputs():
    for key in (lambda case: case.ident, _what):
        duplicates = [what for what, count in collections.Counter(map(key, CASES)).items() if count > 1]
        assert not duplicates
    per_module = collections.Counter(case.module for case in CASES)
    print(f"{len(CASES)} bad inputs:", dict(sorted(per_module.items())))
    assert len(CASES) >= 80
    assert set(per_module) == set(MODULES)
