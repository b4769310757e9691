#!/usr/bin/env python
"""Publish one PyPI, one npm and one generic package to a GitLab project, as
twine and npm do (multipart upload; the npm publish document), with the deploy
token in PUBLISH_TOKEN (never an argument). Builds them at run time.

publish.py GITLAB_URL PROJECT_ID NPM_SCOPE
"""

from __future__ import annotations

import hashlib
import os
import sys

import requests

# The packages are built by the test suite's helper, the same the server tests publish.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "support"))
from packages import make_wheel, npm_publish_document, npm_tarball  # noqa: E402  pylint: disable=wrong-import-position


def main() -> int:
    url, project, scope = sys.argv[1], sys.argv[2], sys.argv[3]
    token = os.environ["PUBLISH_TOKEN"]
    api = f"{url}/api/v4/projects/{project}/packages"
    filename, data = make_wheel("runner-demo", "1.0.0", value="'from the project registry'")
    resp = requests.post(f"{api}/pypi", auth=("publisher", token), files={"content": (filename, data)},
                         data={":action": "file_upload", "name": "runner-demo", "version": "1.0.0",
                               "sha256_digest": hashlib.sha256(data).hexdigest()}, timeout=30)
    print("pypi", resp.status_code)
    name = f"@{scope}/runner-demo"
    tgz = npm_tarball(name, "1.0.0")
    doc = npm_publish_document(name, "1.0.0", tgz)
    npm = requests.put(f"{api}/npm/{name.replace('/', '%2f')}", json=doc,
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    print("npm", npm.status_code)
    generic = requests.put(f"{api}/generic/runner-tool/1.0.0/tool.txt", data=b"generic package content\n",
                           headers={"Deploy-Token": token}, timeout=30)
    print("generic", generic.status_code)
    return 0 if (resp.status_code, npm.ok, generic.status_code) == (201, True, 201) else 1


if __name__ == "__main__":
    sys.exit(main())
