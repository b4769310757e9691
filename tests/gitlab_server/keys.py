"""SSH public keys as GitLab's ``Key`` model sees them (app/models/key.rb,
lib/gitlab/ssh_public_key.rb, app/validators/ssh_key_validator.rb).

- ``sanitize``: ``Gitlab::SSHPublicKey.sanitize`` -- keep type, base64 and the
  first comment word only.
- fingerprints: MD5 ``aa:bb:..`` and the unpadded base64 SHA-256 of the key
  blob, without the ``SHA256:`` prefix.
- ``validate``: the model validations, messages as GitLab renders them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from .errors import to_sentence

ALGORITHMS = (
    "ssh-rsa", "ssh-dss",
    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "ssh-ed25519",
    "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com",
)
# app/models/key.rb: format: { with: /\A(<supported algorithms>)/ }
FORMAT_RE = re.compile(r"\A(" + "|".join(re.escape(a) for a in ALGORITHMS) + ")")

# Gitlab::SSHPublicKey::TECHNOLOGIES, in GitLab's order (the order matters for
# the "type is forbidden. Must be ..." sentence).
TECHNOLOGIES = ("rsa", "dsa", "ecdsa", "ed25519", "ecdsa_sk", "ed25519_sk")
ALGORITHM_TECHNOLOGY = {
    "ssh-rsa": "rsa", "ssh-dss": "dsa",
    "ecdsa-sha2-nistp256": "ecdsa", "ecdsa-sha2-nistp384": "ecdsa", "ecdsa-sha2-nistp521": "ecdsa",
    "ssh-ed25519": "ed25519",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ecdsa_sk",
    "sk-ssh-ed25519@openssh.com": "ed25519_sk",
}
SUPPORTED_SIZES = {
    "rsa": (1024, 2048, 3072, 4096), "dsa": (1024, 2048, 3072),
    "ecdsa": (256, 384, 521), "ed25519": (256,), "ecdsa_sk": (256,), "ed25519_sk": (256,),
}
FORBIDDEN = -1  # ApplicationSetting::FORBIDDEN_KEY_VALUE
DEFAULT_RESTRICTIONS = {f"{t}_key_restriction": 0 for t in TECHNOLOGIES}


@dataclass(frozen=True)
class PublicKey:
    algorithm: str
    technology: str
    bits: int
    blob: bytes

    @property
    def fingerprint_md5(self) -> str:
        digest = hashlib.md5(self.blob).hexdigest()  # noqa: S324 - GitLab's legacy fingerprint
        return ":".join(digest[i:i + 2] for i in range(0, 32, 2))

    @property
    def fingerprint_sha256(self) -> str:
        return sha256_fingerprint(self.blob)


def sha256_fingerprint(blob: bytes) -> str:
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _ssh_strings(blob: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            raise ValueError("truncated")
        (n,) = struct.unpack(">I", blob[pos:pos + 4])
        pos += 4
        if pos + n > len(blob):
            raise ValueError("truncated")
        out.append(blob[pos:pos + n])
        pos += n
    return out


def parse(text: str) -> PublicKey | None:
    """Parse ``<type> <base64> [comment]``; None if it is not a valid key."""
    parts = text.split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
        fields = _ssh_strings(blob)
    except (binascii.Error, ValueError):
        return None
    if not fields:
        return None
    algorithm = fields[0].decode("ascii", "replace")
    technology = ALGORITHM_TECHNOLOGY.get(algorithm)
    if technology is None or algorithm != parts[0]:
        return None
    if algorithm.startswith("sk-"):
        # cryptography cannot load security-key types everywhere; the blob
        # layout is fixed (PROTOCOL.u2f), so decode it by hand.
        if algorithm == "sk-ssh-ed25519@openssh.com":
            ok = len(fields) == 3 and len(fields[1]) == 32
        else:
            ok = len(fields) == 4 and fields[1] == b"nistp256" and len(fields[2]) == 65
        return PublicKey(algorithm, technology, 256, blob) if ok else None
    try:
        key = load_ssh_public_key(f"{algorithm} {parts[1]}".encode())
    except Exception:  # noqa: BLE001 - any parse failure means "not a key"
        if algorithm == "ssh-dss" and len(fields) == 5:
            bits = int.from_bytes(fields[1], "big").bit_length()
            return PublicKey(algorithm, technology, bits, blob)
        return None
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        bits = key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        bits = 256
    else:
        return None
    return PublicKey(algorithm, technology, bits, blob)


def sanitize(content: str) -> str:
    """``Gitlab::SSHPublicKey.sanitize``: join parts until they form a valid
    key (base64 split over lines), then keep only the next part (the first
    comment word).  An invalid key is returned unchanged."""
    words = content.strip().split()
    if len(words) < 2:
        return content
    ssh_type, *parts = words
    if not parts:
        return content
    acc = ssh_type + " "
    for index, part in enumerate(parts):
        acc += part
        if parse(acc) is not None:
            return " ".join([acc] + parts[index + 1:index + 2])
        if index == len(parts) - 1:
            return content
    return content


def allowed_technologies(settings: dict) -> list[str]:
    return [t for t in TECHNOLOGIES if int(settings.get(f"{t}_key_restriction", 0)) != FORBIDDEN]


def restriction_errors(public_key: PublicKey | None, settings: dict) -> list[str]:
    """``Key#key_meets_restrictions``.  An unparseable key has type nil, and
    ``key_restriction_for(nil)`` is FORBIDDEN
    (app/models/application_setting_implementation.rb)."""
    tech = public_key.technology if public_key else None
    restriction = int(settings.get(f"{tech}_key_restriction", 0)) if tech else FORBIDDEN
    if restriction == FORBIDDEN:
        allowed = to_sentence_or([t.upper() for t in allowed_technologies(settings)])
        return [f"type is forbidden. Must be {allowed}"]
    if public_key.bits < restriction:
        return [f"must be at least {restriction} bits"]
    return []


def to_sentence_or(items: list[str]) -> str:
    # to_sentence(last_word_connector: ', or ', two_words_connector: ' or ')
    if len(items) == 2:
        return f"{items[0]} or {items[1]}"
    return to_sentence(items).replace(", and ", ", or ")


def validate(title, key: str | None, settings: dict, taken) -> dict[str, list[str]]:
    """The ``Key`` model validations in declaration order.

    ``taken(fingerprint_sha256)`` says whether another key already has that
    fingerprint (uniqueness spans users' keys and deploy keys: app/models/key.rb).
    Returns attribute -> messages (empty when valid).  Expiry is checked by
    the caller because it needs the clock.
    """
    errs: dict[str, list[str]] = {}
    if title is None or not str(title).strip():
        errs.setdefault("title", []).append("can't be blank")
    elif len(title) > 255:
        errs.setdefault("title", []).append("is too long (maximum is 255 characters)")
    public_key = parse(key) if key else None
    # Rails runs every validator: a blank key also fails the format check
    # and, having no type, the restriction check.
    if not key or not key.strip():
        errs.setdefault("key", []).append("can't be blank")
    elif len(key) > 5000:
        errs.setdefault("key", []).append("is too long (maximum is 5000 characters)")
    if not FORMAT_RE.match(key or ""):
        errs.setdefault("key", []).append("is invalid")
    if public_key is None:
        errs.setdefault("fingerprint_sha256", []).append("cannot be generated")
    elif taken(public_key.fingerprint_sha256):
        errs.setdefault("fingerprint_sha256", []).append("has already been taken")
    for msg in restriction_errors(public_key, settings):
        errs.setdefault("key", []).append(msg)
    return errs
