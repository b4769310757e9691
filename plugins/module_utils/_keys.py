# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the collection: may change at any time.

"""SSH public keys: parse, validate and fingerprint them the way GitLab does.

A deploy key's identity is the SHA256 fingerprint of its key blob: GitLab
stores ``fingerprint_sha256`` as unpadded base64 without the ``SHA256:``
prefix, and sanitises the stored key text (type, base64, first comment word
only), so comparing raw key text churns where fingerprints do not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import traceback

from ansible_collections.runnercreds.gitlab.plugins.module_utils._errors import GitlabModuleError, OptionError


def _load_ssh_public_key(text: bytes):
    """cryptography's ``load_ssh_public_key``, imported on first use.

    Importing cryptography costs about 0.1 s; protected_tag and the info modules
    usually run without parsing a key, and every task of a play pays its module's imports.
    """
    try:
        from cryptography.hazmat.primitives.serialization import load_ssh_public_key
    except ImportError:
        raise GitlabModuleError("the cryptography Python package is required on the controller: "
                                f"{traceback.format_exc()}") from None
    return load_ssh_public_key(text)


ACCEPTED_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
ACCEPTED_TEXT = "ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of 2048 bits or more, and the sk- security-key variants"
MIN_RSA_BITS = 2048
# Security-key types are not understood by cryptography; GitLab accepts them and
# their blob starts with the type string, which is all we can check.
_SK_TYPES = ("sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
# Text that can only be private-key material (OpenSSH, PEM, PuTTY).
PRIVATE_KEY_MARKER = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File", re.I)


class PublicKey:
    """A validated SSH public key."""

    __slots__ = ("key_type", "blob", "comment", "bits")

    def __init__(self, key_type, blob, comment, bits):
        self.key_type = key_type
        self.blob = blob  # base64 text of the key blob, as in the authorized_keys line
        self.comment = comment
        self.bits = bits

    @property
    def fingerprint_sha256(self):
        """Unpadded base64 SHA-256 of the blob, exactly as GitLab's ``fingerprint_sha256``."""
        return sha256_fingerprint(self.blob)

    @property
    def text(self):
        """The key as GitLab stores it: type, base64 and the first comment word."""
        first_word = self.comment.split()[0] if self.comment.split() else ""
        return " ".join(part for part in (self.key_type, self.blob, first_word) if part)


def sha256_fingerprint(blob_b64):
    digest = hashlib.sha256(base64.b64decode(blob_b64)).digest()
    return base64.b64encode(digest).decode("ascii").rstrip("=")


_SHA256_B64 = re.compile(r"\A[A-Za-z0-9+/]{43}=?\Z")


def check_fingerprint(value, option: str) -> str:
    """A SHA256 fingerprint as a user gives it (``SHA256:abc...``, ``abc...``, ``abc...=``) -> GitLab's form."""
    text = str(value).strip() if value is not None else ""
    if PRIVATE_KEY_MARKER.search(text):
        raise OptionError(option, "holds a PRIVATE key; nothing was sent to GitLab. Give the SHA256 fingerprint "
                                  "of the public key ('ssh-keygen -l -f KEYFILE.pub')")
    if text.upper().startswith("MD5:") or re.match(r"\A(?:[0-9a-f]{2}:){15}[0-9a-f]{2}\Z", text, re.I):
        raise OptionError(option, "is an MD5 fingerprint; give the SHA256 one, e.g. SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7k"
                                  "kBgPBb2pjvTZ3HfIgU ('ssh-keygen -l -f KEYFILE.pub')")
    bare = text[len("SHA256:"):] if text.upper().startswith("SHA256:") else text
    if not _SHA256_B64.match(bare):
        raise OptionError(option, f"is {text!r}, not a SHA256 fingerprint; give it as ssh-keygen -l prints it, e.g. "
                                  "SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU")
    return bare.rstrip("=")


def normalize_fingerprint(value):
    """Accept ``SHA256:abc``, ``abc`` or ``abc=`` and return GitLab's form ``abc``."""
    text = str(value).strip()
    if text.upper().startswith("SHA256:"):
        text = text[len("SHA256:"):]
    return text.rstrip("=")


def parse_public_key(text, option="key"):
    """Parse and validate one OpenSSH public key line.

    Raises :class:`GitlabModuleError` naming ``option`` and the fix for: a
    private key passed by mistake (its text is never echoed), malformed
    text, DSA keys, RSA keys under 2048 bits and unknown types.
    """
    if text is None or not str(text).strip():
        raise OptionError(option, "is empty; give an OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'")
    text = str(text).strip()
    if PRIVATE_KEY_MARKER.search(text):
        raise OptionError(option, "holds a PRIVATE key; nothing was sent to GitLab. Pass the public key instead "
                                  "(the .pub file, or 'ssh-keygen -y -f KEYFILE')")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise OptionError(option, f"must be exactly one public key line, got {len(lines)} lines")
    parts = lines[0].split(None, 2)
    if len(parts) < 2:
        raise OptionError(option, "is not an OpenSSH public key: expected '<type> <base64> [comment]'")
    key_type, blob = parts[0], parts[1]
    comment = parts[2] if len(parts) > 2 else ""
    if key_type == "ssh-dss":
        raise OptionError(option, f"is a DSA key, which is insecure and refused; use one of: {ACCEPTED_TEXT}")
    if key_type not in ACCEPTED_TYPES:
        raise OptionError(option, f"has the unknown key type {key_type!r}; use one of: {ACCEPTED_TEXT}")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise OptionError(option, "is not an OpenSSH public key: its base64 part does not decode") from None
    if not _blob_type_matches(raw, key_type):
        raise OptionError(option, f"is malformed: the key blob is not a {key_type} key")

    bits = 256
    if key_type not in _SK_TYPES:
        try:
            loaded = _load_ssh_public_key(f"{key_type} {blob}".encode("ascii"))
        except (ValueError, TypeError) as exc:
            raise OptionError(option, f"is malformed: {exc}") from None
        bits = _key_bits(loaded)
        if key_type == "ssh-rsa" and bits < MIN_RSA_BITS:
            raise OptionError(option, f"is a {bits}-bit RSA key; RSA keys need at least {MIN_RSA_BITS} bits. Generate "
                                      "an ed25519 key ('ssh-keygen -t ed25519') or a 4096-bit RSA key")
    return PublicKey(key_type, blob, comment, bits)


def _blob_type_matches(raw, key_type):
    # The blob starts with a uint32 length and the key type string.
    if len(raw) < 4:
        return False
    length = int.from_bytes(raw[:4], "big")
    return raw[4:4 + length] == key_type.encode("ascii")


def _key_bits(key):
    # Only reached with a key cryptography has loaded: importing its classes costs nothing more.
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        return key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    return 0
