#!/usr/bin/env python
"""Write a tiny single-layer container image as an OCI image layout.

    python3 oci_layout.py DIR [TAG] [TEXT]

The layer holds one file, ``/hello.txt`` with TEXT. Only the standard
library is used, so it runs on a bare runner host too. Copy it anywhere with
``skopeo copy oci:DIR:TAG docker://registry/repo:TAG`` (no registry on the
internet is needed to build it).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def _blob(root: str, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    with open(path, "wb") as fh:
        fh.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build(root: str, tag: str = "latest", text: str = "hello from runnercreds\n") -> str:
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        body = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(body), 0o644, 0
        tar.addfile(info, io.BytesIO(body))
    layer_tar = raw.getvalue()
    layer = _blob(root, gzip.compress(layer_tar, mtime=0))
    config = _blob(root, json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
    }, sort_keys=True).encode())
    manifest = _blob(root, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }, sort_keys=True).encode())
    with open(os.path.join(root, "oci-layout"), "w", encoding="utf-8") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    with open(os.path.join(root, "index.json"), "w", encoding="utf-8") as fh:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
            "annotations": {"org.opencontainers.image.ref.name": tag}}]}, fh)
    return manifest["digest"]


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(build(sys.argv[1], *(sys.argv[2:4])))
