# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SSH public key parsing, validation and fingerprints. Keys are generated here, at test time."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError
from ansible_collections.runnercreds.gitlab.plugins.module_utils._keys import (
    normalize_fingerprint,
    parse_public_key,
)

OPENSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def openssh(private_key, comment=""):
    text = private_key.public_key().public_bytes(*OPENSSH).decode()
    return ("%s %s" % (text, comment)).strip()


def private_pem(private_key):
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                     serialization.NoEncryption()).decode()


@pytest.mark.parametrize(
    "private_key, key_type, bits",
    [
        (ed25519.Ed25519PrivateKey.generate(), "ssh-ed25519", 256),
        (ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha2-nistp256", 256),
        (ec.generate_private_key(ec.SECP384R1()), "ecdsa-sha2-nistp384", 384),
        (rsa.generate_private_key(65537, 2048), "ssh-rsa", 2048),
    ],
    ids=["ed25519", "ecdsa256", "ecdsa384", "rsa2048"],
)
def test_accepted_keys(private_key, key_type, bits):
    key = parse_public_key(openssh(private_key, "runner@host"))
    assert (key.key_type, key.bits, key.comment) == (key_type, bits, "runner@host")


def test_fingerprint_ignores_comment_and_whitespace_and_matches_ssh_keygen(tmp_path):
    private_key = ed25519.Ed25519PrivateKey.generate()
    plain = parse_public_key(openssh(private_key))
    noisy = parse_public_key("  %s   a comment with spaces \n" % openssh(private_key))
    assert plain.fingerprint_sha256 == noisy.fingerprint_sha256
    blob = base64.b64decode(plain.blob)
    assert plain.fingerprint_sha256 == base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    if shutil.which("ssh-keygen"):
        path = tmp_path / "k.pub"
        path.write_text(openssh(private_key, "x") + "\n")
        out = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True).stdout
        assert out.split()[1] == "SHA256:" + plain.fingerprint_sha256


def test_text_is_what_gitlab_stores():
    text = openssh(ed25519.Ed25519PrivateKey.generate())
    assert parse_public_key(text + " first second").text == text + " first"
    assert parse_public_key(text).text == text


@pytest.mark.parametrize(
    "value, expected",
    [("SHA256:abc", "abc"), ("abc", "abc"), ("abc=", "abc"), (" sha256:abc= ", "abc")],
)
def test_normalize_fingerprint(value, expected):
    assert normalize_fingerprint(value) == expected


def _bad_keys():
    rsa_1024 = rsa.generate_private_key(65537, 1024)
    ed = ed25519.Ed25519PrivateKey.generate()
    blob = openssh(ed).split()[1]
    return [
        pytest.param(private_pem(ed), "PRIVATE key; nothing was sent", id="private key (openssh)"),
        pytest.param(rsa_1024.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()).decode(),
                     "PRIVATE key; nothing was sent", id="private key (pem)"),
        pytest.param(openssh(rsa_1024), "1024-bit RSA key; RSA keys need at least 2048 bits", id="rsa 1024"),
        pytest.param("ssh-dss AAAAB3NzaC1kc3MAAACBAP== old", "DSA key", id="dsa"),
        pytest.param("ssh-foo %s" % blob, "unknown key type 'ssh-foo'", id="unknown type"),
        pytest.param("ssh-rsa %s" % blob, "not a ssh-rsa key", id="type and blob disagree"),
        pytest.param("ssh-ed25519 not*base64", "base64 part does not decode", id="bad base64"),
        pytest.param("ssh-ed25519", "expected '<type> <base64> [comment]'", id="no blob"),
        pytest.param("", "is empty", id="empty"),
        pytest.param(openssh(ed) + "\n" + openssh(ed), "exactly one public key line", id="two lines"),
    ]


@pytest.mark.parametrize("text, message", _bad_keys())
def test_bad_keys_are_refused_naming_the_option(text, message):
    with pytest.raises(GitlabModuleError) as error:
        parse_public_key(text)
    assert error.value.msg.startswith("key ")
    assert message in error.value.msg
    assert "PRIVATE KEY-----" not in error.value.msg  # a private key is never echoed
