"""Project-level package registries with deploy tokens: PyPI (lib/api/pypi_packages.rb),
npm (lib/api/npm_project_packages.rb, lib/api/concerns/packages/npm_endpoints.rb) and
generic packages (lib/api/generic_packages.rb); the refusals follow
lib/api/helpers/packages/basic_auth_helpers.rb and app/policies/project_policy.rb.

Every test publishes what it reads, so it runs against a real GitLab too
(GITLAB_URL, GITLAB_TOKEN). The pip test uses the real pip with a netrc file,
as the runner_deploy_token role installs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
import requests

from support.packages import make_wheel, npm_publish_document  # noqa: E402

REALM = 'Basic realm="GitLab Packages Registry"'


# --- helpers --------------------------------------------------------------------

def pypi_url(target, project) -> str:
    return f"{target.url}/api/v4/projects/{project.id}/packages/pypi"


def twine_upload(target, project, auth, name="demo-pkg", version="1.0.0", content=None, **extra):
    """What twine sends: multipart/form-data with ``:action=file_upload``."""
    filename, data = content or make_wheel(name, version)
    fields = {":action": "file_upload", "protocol_version": "1", "name": name, "version": version,
              "filetype": "bdist_wheel", "pyversion": "py3", "metadata_version": "2.1",
              "sha256_digest": hashlib.sha256(data).hexdigest(), **extra}
    return requests.post(pypi_url(target, project), data=fields, files={"content": (filename, data)},
                         auth=auth, timeout=10)


def npm_body(name: str, version: str, tarball: bytes = b"\x1f\x8b fake tarball") -> dict:
    return npm_publish_document(name, version, tarball)


def npm_url(target, project, name: str) -> str:
    return f"{target.url}/api/v4/projects/{project.id}/packages/npm/{name.replace('/', '%2f')}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def registry(gitlab_target):
    """A private project with a write-, a read- and a repository-only deploy token."""
    project = gitlab_target.make_project("pkgs")
    tokens = {scope: project.deploytokens.create({"name": scope, "scopes": [scope]})
              for scope in ("write_package_registry", "read_package_registry", "read_repository")}
    return project, tokens


# --- PyPI -----------------------------------------------------------------------

def test_pypi_upload_index_and_download(gitlab_target, registry):
    project, tokens = registry
    write = tokens["write_package_registry"]
    filename, data = make_wheel("demo-pkg", "1.0.0")
    up = twine_upload(gitlab_target, project, (write.username, write.token), content=(filename, data))
    assert up.status_code == 201, up.text
    assert up.json() == {"message": "201 Created"}
    read = tokens["read_package_registry"]
    # pip asks for the normalized name with a trailing slash (PEP 503).
    index = requests.get(f"{pypi_url(gitlab_target, project)}/simple/Demo_Pkg/", auth=(read.username, read.token),
                         timeout=10)
    assert index.status_code == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    sha = hashlib.sha256(data).hexdigest()
    links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', index.text)
    assert [text for dummy, text in links] == [filename]
    href = links[0][0]
    assert href.endswith(f"/packages/pypi/files/{sha}/{filename}#sha256={sha}")
    assert read.token not in index.text
    got = requests.get(href.split("#")[0], auth=(read.username, read.token), timeout=10)
    assert got.status_code == 200 and got.content == data
    # The file route needs the right sha256 too.
    wrong = requests.get(href.split("#")[0].replace(sha, "0" * 64), auth=(read.username, read.token), timeout=10)
    assert wrong.status_code == 404


def test_pypi_refusals(gitlab_target, registry):
    project, tokens = registry
    read, repo = tokens["read_package_registry"], tokens["read_repository"]
    write = tokens["write_package_registry"]
    assert twine_upload(gitlab_target, project, (write.username, write.token), name="refused").status_code == 201
    simple = f"{pypi_url(gitlab_target, project)}/simple/refused/"
    # No credentials on a private project: 401 with the packages realm (BasicAuthHelpers#unauthorized!),
    # which is what makes pip retry with credentials from netrc or keyring.
    anon = requests.get(simple, timeout=10)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"] == REALM
    # A deploy token without a package scope cannot see the project: 404 (unauthorized_or! { not_found! }).
    assert requests.get(simple, auth=(repo.username, repo.token), timeout=10).status_code == 404
    # A wrong or revoked secret: 401.
    assert requests.get(simple, auth=(read.username, "gldt-wrong"), timeout=10).status_code == 401
    # read_package_registry may read but not publish: authorize_upload! -> 403.
    refused = twine_upload(gitlab_target, project, (read.username, read.token), name="other")
    assert refused.status_code == 403
    assert refused.json() == {"message": "403 Forbidden"}
    assert twine_upload(gitlab_target, project, None, name="other").status_code == 401
    assert twine_upload(gitlab_target, project, (repo.username, repo.token), name="other").status_code == 404
    # A missing package: 404 Package Not Found.
    missing = requests.get(f"{pypi_url(gitlab_target, project)}/simple/nothing-here/", auth=(read.username, read.token),
                           timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"message": "404 Package Not Found"}
    # A token of another project sees nothing here.
    other = gitlab_target.make_project("pkgs-other").deploytokens.create(
        {"name": "r", "scopes": ["read_package_registry"]})
    assert requests.get(simple, auth=(other.username, other.token), timeout=10).status_code == 404
    project.deploytokens.delete(read.id)
    assert requests.get(simple, auth=(read.username, read.token), timeout=10).status_code == 401


def test_pypi_upload_validation(gitlab_target, registry):
    project, tokens = registry
    write = tokens["write_package_registry"]
    auth = (write.username, write.token)
    no_content = requests.post(pypi_url(gitlab_target, project), data={"name": "x", "version": "1"}, auth=auth,
                               timeout=10)
    assert no_content.status_code == 400
    assert no_content.json() == {"error": "content is missing"}
    bad_digest = twine_upload(gitlab_target, project, auth, name="digest", sha256_digest="nope")
    assert bad_digest.status_code == 400
    assert twine_upload(gitlab_target, project, auth, name="dup").status_code == 201
    assert twine_upload(gitlab_target, project, auth, name="dup").status_code == 400


def test_pip_download_with_netrc(gitlab_target, registry, tmp_path):
    """The real pip, credentials in ~/.netrc only (never in the URL), as the role writes them."""
    project, tokens = registry
    write, read = tokens["write_package_registry"], tokens["read_package_registry"]
    assert twine_upload(gitlab_target, project, (write.username, write.token), name="netrc-demo").status_code == 201
    host = re.sub(r"^https?://", "", gitlab_target.url).split("/")[0].split(":")[0]
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine {host} login {read.username} password {read.token}\n")
    netrc.chmod(0o600)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    cmd = [sys.executable, "-m", "pip", "download", "-v", "--no-deps", "--no-cache-dir", "-d", str(tmp_path / "dl"),
           "--index-url", f"{pypi_url(gitlab_target, project)}/simple", "netrc-demo==1.0.0"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["netrc_demo-1.0.0-py3-none-any.whl"]
    assert read.token not in ok.stdout + ok.stderr
    netrc.unlink()
    cmd[cmd.index(str(tmp_path / "dl"))] = str(tmp_path / "dl2")
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=120)
    # pip reports the 401 of the index page as "no versions".
    assert refused.returncode != 0
    assert "No matching distribution found for netrc-demo" in refused.stderr
    assert not (tmp_path / "dl2").exists() or not list((tmp_path / "dl2").iterdir())


# --- npm ------------------------------------------------------------------------

def test_npm_publish_metadata_and_tarball(gitlab_target, registry):
    project, tokens = registry
    write, read = tokens["write_package_registry"], tokens["read_package_registry"]
    name = f"@{project.namespace['full_path'].split('/')[0]}/demo"
    body = npm_body(name, "1.0.0", b"tarball-1")
    put = requests.put(npm_url(gitlab_target, project, name), json=body, headers=bearer(write.token), timeout=10)
    assert put.status_code in (200, 201), put.text
    assert requests.put(npm_url(gitlab_target, project, name), json=npm_body(name, "1.1.0", b"tarball-2"),
                        headers=bearer(write.token), timeout=10).ok
    meta = requests.get(npm_url(gitlab_target, project, name), headers=bearer(read.token), timeout=10)
    assert meta.status_code == 200, meta.text
    doc = meta.json()
    assert doc["name"] == name
    assert sorted(doc["versions"]) == ["1.0.0", "1.1.0"]
    assert doc["dist-tags"] == {"latest": "1.1.0"}
    dist = doc["versions"]["1.0.0"]["dist"]
    assert dist["shasum"] == hashlib.sha1(b"tarball-1").hexdigest()
    assert dist["tarball"] == (f"{gitlab_target.url}/api/v4/projects/{project.id}/packages/npm/"
                               f"{name}/-/{name}-1.0.0.tgz")
    tgz = requests.get(dist["tarball"], headers=bearer(read.token), timeout=10)
    assert tgz.status_code == 200 and tgz.content == b"tarball-1"
    # Basic and the Deploy-Token header identify a deploy token as well (auth_finders.rb deploy_token_from_request).
    assert requests.get(dist["tarball"], auth=(read.username, read.token), timeout=10).status_code == 200
    assert requests.get(dist["tarball"], headers={"Deploy-Token": read.token}, timeout=10).status_code == 200
    # A version once.
    again = requests.put(npm_url(gitlab_target, project, name), json=body, headers=bearer(write.token), timeout=10)
    assert again.status_code == 403
    assert again.json() == {"message": "Package already exists."}


def test_npm_refusals(gitlab_target, registry):
    project, tokens = registry
    write, read, repo = (tokens[s] for s in ("write_package_registry", "read_package_registry", "read_repository"))
    name = "@scope/refusals"
    url = npm_url(gitlab_target, project, name)
    assert requests.put(url, json=npm_body(name, "1.0.0"), headers=bearer(write.token), timeout=10).ok
    # npm's routes do not set authenticate_non_public: an anonymous read of a private project is 404.
    anon = requests.get(url, timeout=10)
    assert anon.status_code == 404
    assert anon.json() == {"message": "404 Project Not Found"}
    assert requests.get(url, headers=bearer(repo.token), timeout=10).status_code == 404
    assert requests.get(url, headers=bearer("gldt-wrong"), timeout=10).status_code == 401
    # Publishing: authenticate_non_get! (401), then authorize_create_package! (403).
    assert requests.put(url, json=npm_body(name, "2.0.0"), timeout=10).status_code == 401
    refused = requests.put(url, json=npm_body(name, "2.0.0"), headers=bearer(read.token), timeout=10)
    assert refused.status_code == 403
    assert refused.json() == {"message": "403 Forbidden"}
    assert requests.put(url, json=npm_body(name, "2.0.0"), headers=bearer(repo.token), timeout=10).status_code == 404
    missing = requests.get(npm_url(gitlab_target, project, "@scope/nothing"), headers=bearer(read.token), timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"message": "404 Packages Not Found"}
    tarball = f"{gitlab_target.url}/api/v4/projects/{project.id}/packages/npm/{name}/-/{name}-9.9.9.tgz"
    assert requests.get(tarball, headers=bearer(read.token), timeout=10).json() == {"message": "404 Package Not Found"}
    no_versions = requests.put(url, json={"name": name}, headers=bearer(write.token), timeout=10)
    assert no_versions.status_code == 400


# --- generic --------------------------------------------------------------------

def test_generic_put_and_get_with_deploy_token_header(gitlab_target, registry):
    project, tokens = registry
    write, read, repo = (tokens[s] for s in ("write_package_registry", "read_package_registry", "read_repository"))
    url = f"{gitlab_target.url}/api/v4/projects/{project.id}/packages/generic/tool/1.2.3/tool.tar.gz"
    put = requests.put(url, data=b"generic-bytes", headers={"Deploy-Token": write.token}, timeout=10)
    assert put.status_code == 201
    assert put.json() == {"message": "201 Created"}
    got = requests.get(url, headers={"Deploy-Token": read.token}, timeout=10)
    assert got.status_code == 200 and got.content == b"generic-bytes"
    assert got.headers["X-Checksum-SHA256"] == hashlib.sha256(b"generic-bytes").hexdigest()
    assert requests.get(url, auth=(read.username, read.token), timeout=10).status_code == 200
    # Refusals (BasicAuthHelpers): none -> 401 with realm; no package scope -> 404; read-only PUT -> 403.
    anon = requests.get(url, timeout=10)
    assert anon.status_code == 401 and anon.headers["WWW-Authenticate"] == REALM
    assert requests.put(url, data=b"x", timeout=10).status_code == 401
    assert requests.get(url, headers={"Deploy-Token": repo.token}, timeout=10).status_code == 404
    refused = requests.put(url, data=b"x", headers={"Deploy-Token": read.token}, timeout=10)
    assert refused.status_code == 403
    assert requests.get(url, headers={"Deploy-Token": "gldt-wrong"}, timeout=10).status_code == 401
    missing = requests.get(url.replace("1.2.3", "9.9.9"), headers={"Deploy-Token": read.token}, timeout=10)
    assert missing.status_code == 404
    bad_name = requests.put(url.replace("/tool/", "/to%20ol/"), data=b"x", headers={"Deploy-Token": write.token},
                            timeout=10)
    assert bad_name.status_code == 400
    assert json.loads(bad_name.text) == {"error": "package_name is invalid"}


def test_group_deploy_token_reads_packages_of_projects_below(gitlab_target):
    group = gitlab_target.make_group("pkgg")
    inside = gitlab_target.make_project("in", namespace_id=group.id)
    outside = gitlab_target.make_project("out")
    gl = gitlab_target.admin_client()
    token = gl.groups.get(group.id).deploytokens.create({"name": "g", "scopes": ["write_package_registry"]})
    for project, status in ((inside, 201), (outside, 404)):
        url = f"{gitlab_target.url}/api/v4/projects/{project.id}/packages/generic/g/1.0.0/f.txt"
        assert requests.put(url, data=b"x", headers={"Deploy-Token": token.token}, timeout=10).status_code == status
