"""Bare git repositories on disk, driven through the ``git`` CLI.

Layout follows GitLab's hashed storage (``@hashed/ab/cd/<sha256(id)>.git``)
so a project's repository never moves when its path changes.  No network,
no user or system git config.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from datetime import datetime

_SEP = "\x00"
_END = "\x01"

# One record per ref; ``*field`` is the peeled (commit) value of an annotated tag.
_FIELDS = ("refname:strip=2", "objecttype", "objectname", "*objectname", "contents",
           "creatordate:iso-strict", "taggerdate:iso-strict")
_COMMIT_FIELDS = ("parent", "subject", "contents", "authorname", "authoremail",
                  "authordate:iso-strict", "committername", "committeremail", "committerdate:iso-strict")


class GitError(Exception):
    pass


def _iso_ms(text: str) -> str | None:
    """git's iso-strict date -> GitLab's ``2012-05-28T04:42:42.000-07:00``."""
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    base = value.strftime("%Y-%m-%dT%H:%M:%S.000")
    offset = value.strftime("%z")
    return f"{base}{offset[:3]}:{offset[3:]}" if offset and offset != "+0000" else f"{base}Z"


class GitRepos:
    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "repositories")
        os.makedirs(self.root, exist_ok=True)
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": root,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
        }

    # --- plumbing -------------------------------------------------------------
    def git(self, repo: str | None, *args: str, input: str | None = None, env: dict | None = None,
            check: bool = True) -> str:
        cmd = ["git"] + (["--git-dir", repo] if repo else []) + list(args)
        full_env = dict(self._env, **(env or {}))
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, env=full_env, check=False)
        if check and proc.returncode != 0:
            raise GitError(proc.stderr.strip() or f"git {args[0]} failed")
        return proc.stdout

    @staticmethod
    def _identity(name: str, email: str, when: datetime) -> dict:
        stamp = f"{int(when.timestamp())} +0000"
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": stamp,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": stamp}

    def disk_path(self, project_id: int) -> str:
        digest = hashlib.sha256(str(project_id).encode()).hexdigest()
        return os.path.join(self.root, "@hashed", digest[:2], digest[2:4], f"{digest}.git")

    # --- lifecycle ------------------------------------------------------------
    def create(self, project_id: int, default_branch: str, readme: str | None,
               author: tuple[str, str], when: datetime, branches: list[str] = ()) -> str:
        path = self.disk_path(project_id)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.git(None, "init", "--quiet", "--bare", f"--initial-branch={default_branch}", path)
        if readme is not None:
            env = self._identity(author[0], author[1], when)
            blob = self.git(path, "hash-object", "-w", "--stdin", input=readme).strip()
            tree = self.git(path, "mktree", input=f"100644 blob {blob}\tREADME.md\n").strip()
            commit = self.git(path, "commit-tree", tree, "-m", "Initial commit", env=env).strip()
            self.git(path, "update-ref", f"refs/heads/{default_branch}", commit)
            for branch in branches:
                self.git(path, "update-ref", f"refs/heads/{branch}", commit)
        return path

    def remove(self, path: str) -> None:
        if path and path.startswith(self.root) and os.path.exists(path):
            shutil.rmtree(path, ignore_errors=True)

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root, exist_ok=True)

    # --- reading refs ---------------------------------------------------------
    def _commits(self, path: str, shas: list[str]) -> dict[str, dict]:
        """Commit details for ``shas`` in one ``git log --no-walk`` call."""
        if not shas:
            return {}
        fmt = "%x00".join(["%H", "%P", "%s", "%B", "%an", "%ae", "%aI", "%cn", "%ce", "%cI"]) + "%x01"
        out = self.git(path, "log", "--no-walk=unsorted", f"--format={fmt}", *sorted(set(shas)))
        commits = {}
        for record in out.split(_END):
            record = record.lstrip("\n")
            if not record:
                continue
            sha, parents, subject, body, an, ae, ad, cn, ce, cd = record.split(_SEP)
            commits[sha] = {
                "id": sha, "short_id": sha[:8], "created_at": _iso_ms(cd),
                "parent_ids": parents.split(), "title": subject, "message": body,
                "author_name": an, "author_email": ae, "authored_date": _iso_ms(ad),
                "committer_name": cn, "committer_email": ce, "committed_date": _iso_ms(cd),
                "trailers": {}, "extended_trailers": {},
            }
        return commits

    def refs(self, path: str, kind: str) -> list[dict]:
        """Tags (``kind="tags"``) or branches with their peeled commit."""
        fmt = "%00".join(f"%({f})" for f in _FIELDS) + "%01"
        out = self.git(path, "for-each-ref", f"--format={fmt}", f"refs/{kind}/")
        refs = []
        for record in out.split(_END):
            record = record.lstrip("\n")
            if not record:
                continue
            name, otype, oid, peeled, contents, creatordate, taggerdate = record.split(_SEP)
            annotated = otype == "tag"
            refs.append({
                "name": name, "target": oid, "commit_id": peeled if annotated else oid,
                "message": contents.rstrip("\n") if annotated else None,
                "created_at": _iso_ms(taggerdate) if annotated else None,
                "sort_date": creatordate,
            })
        commits = self._commits(path, [r["commit_id"] for r in refs])
        for ref in refs:
            ref["commit"] = commits.get(ref["commit_id"])
        return refs

    def ref_exists(self, path: str, ref: str) -> bool:
        return bool(self.git(path, "rev-parse", "--verify", "--quiet", ref, check=False).strip())

    def resolve_commit(self, path: str, ref: str) -> str | None:
        if not ref or ref.startswith("-"):
            return None
        out = self.git(path, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}",
                       check=False).strip()
        return out or None

    @staticmethod
    def valid_ref_name(kind: str, name: str) -> bool:
        """``Gitlab::GitRefValidator.validate`` (roughly: git's check-ref-format
        plus GitLab's own prefixes and SHA-like names)."""
        if not name or name == "HEAD" or name.startswith(("refs/heads/", "refs/remotes/", "refs/tags/", "-")):
            return False
        if re.fullmatch(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", name):
            return False
        proc = subprocess.run(["git", "check-ref-format", f"refs/{kind}/{name}"], capture_output=True,
                              check=False)
        return proc.returncode == 0

    # --- writing refs ---------------------------------------------------------
    def create_tag(self, path: str, name: str, sha: str, message: str | None,
                   tagger: tuple[str, str], when: datetime) -> None:
        if message:
            env = self._identity(tagger[0], tagger[1], when)
            self.git(path, "tag", "-a", name, "-m", message, sha, env=env)
        else:
            self.git(path, "update-ref", f"refs/tags/{name}", sha, "")

    def create_branch(self, path: str, name: str, sha: str) -> None:
        self.git(path, "update-ref", f"refs/heads/{name}", sha, "")

    def delete_ref(self, path: str, ref: str) -> None:
        self.git(path, "update-ref", "-d", ref)
