#!/usr/bin/env python
"""Publish one PyPI, one npm and one generic package to a GitLab project, as
twine and npm do (multipart upload; the npm publish document), with the deploy
token in PUBLISH_TOKEN (never an argument). Builds them at run time.

publish.py GITLAB_URL PROJECT_ID NPM_SCOPE
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile

import requests


def wheel(name: str, version: str) -> tuple[str, bytes]:
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{name.replace('-', '_')}/__init__.py": b"VALUE = 'from the project registry'\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: publish.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n"
                     for p, d in files.items()) + f"{dist}.dist-info/RECORD,,\n"
    files[f"{dist}.dist-info/RECORD"] = record.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return f"{dist}-py3-none-any.whl", out.getvalue()


def npm_tarball(name: str, version: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for path, text in (("package/package.json", json.dumps({"name": name, "version": version, "main": "index.js"})),
                           ("package/index.js", "module.exports = 'from the project registry';\n")):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def main() -> int:
    url, project, scope = sys.argv[1], sys.argv[2], sys.argv[3]
    token = os.environ["PUBLISH_TOKEN"]
    api = f"{url}/api/v4/projects/{project}/packages"
    filename, data = wheel("runner-demo", "1.0.0")
    resp = requests.post(f"{api}/pypi", auth=("publisher", token), files={"content": (filename, data)},
                         data={":action": "file_upload", "name": "runner-demo", "version": "1.0.0",
                               "sha256_digest": hashlib.sha256(data).hexdigest()}, timeout=30)
    print("pypi", resp.status_code)
    name = f"@{scope}/runner-demo"
    tgz = npm_tarball(name, "1.0.0")
    doc = {"_id": name, "name": name, "dist-tags": {"latest": "1.0.0"},
           "versions": {"1.0.0": {"name": name, "version": "1.0.0", "main": "index.js",
                                  "dist": {"shasum": hashlib.sha1(tgz).hexdigest()}}},  # noqa: S324 - npm's
           "_attachments": {f"{name}-1.0.0.tgz": {"content_type": "application/octet-stream",
                                                  "data": base64.b64encode(tgz).decode(), "length": len(tgz)}}}
    npm = requests.put(f"{api}/npm/{name.replace('/', '%2f')}", json=doc,
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    print("npm", npm.status_code)
    generic = requests.put(f"{api}/generic/runner-tool/1.0.0/tool.txt", data=b"generic package content\n",
                           headers={"Deploy-Token": token}, timeout=30)
    print("generic", generic.status_code)
    return 0 if (resp.status_code, npm.ok, generic.status_code) == (201, True, 201) else 1


if __name__ == "__main__":
    sys.exit(main())
