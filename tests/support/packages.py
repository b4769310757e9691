# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Packages built at test time, as the real tools send them: a wheel (PEP 427) as twine uploads it, an npm
tarball and the document ``npm publish`` PUTs. Used by tests/server/test_packages.py and the runner_packages
scenario's publisher (molecule/runner_packages/files/publish.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile


def make_wheel(name: str, version: str, value: str = "1") -> tuple[str, bytes]:
    """A minimal valid wheel: ``(file name, bytes)``; its module holds ``VALUE = <value>``."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}"
    files = {
        f"{module}/__init__.py": f"VALUE = {value}\n".encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for path, data in files.items()) + f"{dist}.dist-info/RECORD,,\n"
    files[f"{dist}.dist-info/RECORD"] = record.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{dist}-py3-none-any.whl", out.getvalue()


def npm_tarball(name: str, version: str) -> bytes:
    """An npm package tarball: ``package/package.json`` and ``package/index.js``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for path, text in (("package/package.json", json.dumps({"name": name, "version": version, "main": "index.js"})),
                           ("package/index.js", "module.exports = 'from the project registry';\n")):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def npm_publish_document(name: str, version: str, tarball: bytes) -> dict:
    """The document ``npm publish`` PUTs: one version, the tarball in ``_attachments``."""
    return {"_id": name, "name": name, "dist-tags": {"latest": version},
            "versions": {version: {"name": name, "version": version, "main": "index.js",
                                   # npm's own integrity field; sha1 is what npm sends, not a security choice
                                   "dist": {"shasum": hashlib.sha1(tarball).hexdigest()}}},  # noqa: S324
            "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                                       "data": base64.b64encode(tarball).decode(),
                                                       "length": len(tarball)}}}
