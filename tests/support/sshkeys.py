"""SSH keys generated at test time (never committed) and ssh-keygen's view
of them."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa


def public_key(kind: str = "ed25519", bits: int | None = None, comment: str | None = "test@host") -> str:
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits or 2048)
    elif kind == "ecdsa":
        curve = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}[bits or 256]()
        private = ec.generate_private_key(curve)
    elif kind == "dsa":
        private = dsa.generate_private_key(key_size=bits or 1024)
    else:
        raise ValueError(kind)
    line = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}" if comment else line


def ssh_keygen_fingerprints(key: str) -> tuple[str, str]:
    """``(sha256, md5)`` as printed by ``ssh-keygen -lf`` (with prefixes)."""
    if not shutil.which("ssh-keygen"):
        raise RuntimeError("ssh-keygen not installed")
    with tempfile.NamedTemporaryFile("w", suffix=".pub") as fh:
        fh.write(key + "\n")
        fh.flush()
        sha = subprocess.run(["ssh-keygen", "-lf", fh.name], capture_output=True, text=True, check=True).stdout
        md5 = subprocess.run(["ssh-keygen", "-E", "md5", "-lf", fh.name], capture_output=True, text=True,
                             check=True).stdout
    return sha.split()[1], md5.split()[1]
