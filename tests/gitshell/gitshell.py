"""The GitLab Shell stand-in (stdlib only: it runs as the
``git`` user with the system python3).

Configuration: ``config.json`` next to this file, written by
tests/support/endpoints.py (--ssh) when it installs a copy of this directory::

    {"gitlab_url": "http://127.0.0.1:PORT", "secret_file": "/path/.gitlab_shell_secret"}

Requests carry the ``Gitlab-Shell-Api-Request`` JWT (HS256, ``iss:
gitlab-shell``, ``iat``, ``exp = iat + 60``), as gitlab-shell's
client/gitlabnet.go sends it (``DoRequest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.realpath(__file__))
USER_AGENT = "GitLab-Shell (runnercreds test stand-in)"


def load_config() -> dict:
    with open(os.path.join(HERE, "config.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def shell_token(secret: str, now: int | None = None) -> str:
    iat = int(now if now is not None else time.time())
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps({"iss": "gitlab-shell", "iat": iat, "exp": iat + 60}, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(sig)}"


class Api:
    def __init__(self, config: dict | None = None) -> None:
        config = config or load_config()
        self.url = config["gitlab_url"].rstrip("/") + "/api/v4/internal"
        with open(config["secret_file"], encoding="utf-8") as fh:
            self.secret = fh.read().strip()

    def request(self, method: str, path: str, query: dict | None = None, body: dict | None = None):
        """``(status, json_body)``; network errors raise OSError."""
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Gitlab-Shell-Api-Request": shell_token(self.secret), "Content-Type": "application/json",
            "User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback test server
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload


def message_of(payload, default: str) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return payload["message"]
    return default


# --- gitlab-shell-authorized-keys-check <expected user> <actual user> <key blob> ---
# sshd's AuthorizedKeysCommand (doc/administration/operations/fast_ssh_key_lookup.md): asks GET /internal/authorized_keys
# which key this is and prints one authorized_keys line forcing
# ``gitlab-shell key-<id>``.

OPTIONS = "no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty"


def authorized_keys_check(argv) -> int:
    if len(argv) != 3:
        sys.stderr.write("# Insufficient arguments. 3. Usage\n#\tgitlab-shell-authorized-keys-check "
                         "<expected-username> <actual-username> <key>\n")
        return 1
    expected, actual, blob = argv
    if not expected or not actual or expected != actual or not blob:
        return 0                      # another user: no keys, sshd tries the next method
    try:
        status, body = Api().request("GET", "/authorized_keys", {"key": blob})
    except OSError:
        status, body = 0, None
    if status != 200 or not isinstance(body, dict) or "id" not in body or "key" not in body:
        print(f"# No key was found for {blob}")
        return 0
    command = os.path.join(HERE, "gitlab-shell")
    print(f'command="{command} key-{body["id"]}",{OPTIONS} {body["key"]}')
    return 0


# --- gitlab-shell key-<id> ----------------------------------------------------
# The forced command, with the client's command in SSH_ORIGINAL_COMMAND
# (``git-upload-pack 'group/project.git'``). Asks POST /internal/allowed
# (``changes=_any``) whether the key may run it on that project, then runs git
# there itself (GitLab would hand the stream to Gitaly). Pushes go through
# hooks/pre-receive, which asks again with the real changes (lib/gitlab/checks/tag_check.rb).

GIT_COMMANDS = ("git-upload-pack", "git-receive-pack", "git-upload-archive")
RULE = "=" * 72


def fail(message: str) -> int:
    """gitlab-shell's console.DisplayWarningMessage box, on stderr."""
    sys.stderr.write("remote: \nremote: " + RULE + "\nremote: \nremote: ERROR: " + message +
                     "\n\nremote: \nremote: " + RULE + "\nremote: \n")
    return 1


def shell(argv) -> int:
    if len(argv) != 1 or not argv[0].startswith("key-") or not argv[0][4:].isdigit():
        return fail("Failed to get key id")
    key_id = argv[0][4:]
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        words = shlex.split(original)
    except ValueError:
        words = []
    if not words:
        # `ssh git@host` without a command: GitLab greets the key's user.
        return fail("Interactive sessions are not supported here; use git.") if original else welcome(key_id)
    if words[0] == "git" and len(words) > 1:
        words = [f"git-{words[1]}"] + words[2:]
    if words[0] not in GIT_COMMANDS or len(words) != 2:
        return fail("Unknown command: " + original)
    action, project = words
    check_ip = os.environ.get("SSH_CONNECTION", "").split(" ")[0]
    try:
        status, body = Api().request("POST", "/allowed", body={
            "action": action, "project": project, "changes": "_any", "protocol": "ssh",
            "key_id": key_id, "check_ip": check_ip})
    except OSError as exc:
        return fail(f"Internal API unreachable: {exc}")
    if status != 200 or not isinstance(body, dict) or not body.get("status"):
        return fail(message_of(body, f"API error {status}"))
    env = dict(os.environ, GL_ID=f"key-{key_id}", GL_REPOSITORY=body["gl_repository"],
               GL_PROJECT_PATH=body["gl_project_path"], GL_PROTOCOL="ssh",
               GL_USERNAME=body.get("gl_username") or "")
    cmd = ["git", "-c", "safe.directory=*", "-c", f"core.hooksPath={os.path.join(HERE, 'hooks')}"]
    for option in body.get("git_config_options") or []:
        cmd += ["-c", option]
    cmd += [action[len("git-"):], body["repository_path"]]
    os.execvpe("git", cmd, env)
    return 1


def welcome(key_id: str) -> int:
    try:
        status, body = Api().request("GET", "/discover", {"key_id": key_id})
    except OSError:
        status, body = 0, None
    name = body.get("username") if status == 200 and isinstance(body, dict) else None
    print(f"Welcome to GitLab, @{name}!" if name else "Welcome to GitLab, Anonymous!")
    return 0


# --- hooks/pre-receive ----------------------------------------------------------
# Asks POST /internal/allowed with the real ``<old> <new> <ref>`` lines, as
# Gitaly's hook does, so GitLab's branch and tag rules decide. Refusals are
# printed as GitLab does (``GitLab: <message>``) and reject the whole push.


def pre_receive(argv) -> int:
    changes = sys.stdin.read()
    gl_id = os.environ.get("GL_ID", "")
    if not gl_id:
        print("GitLab: no GL_ID: pushes are only accepted through gitlab-shell")
        return 1
    body = {"action": "git-receive-pack", "changes": changes, "protocol": os.environ.get("GL_PROTOCOL", "ssh"),
            "gl_repository": os.environ.get("GL_REPOSITORY", ""),
            "project": os.environ.get("GL_PROJECT_PATH", ""), "identifier": gl_id}
    if gl_id.startswith("key-"):
        body["key_id"] = gl_id[4:]
    try:
        status, answer = Api().request("POST", "/allowed", body=body)
    except OSError as exc:
        print(f"GitLab: Internal API unreachable: {exc}")
        return 1
    if status == 200 and isinstance(answer, dict) and answer.get("status"):
        return 0
    print("GitLab: " + message_of(answer, f"API error {status}"))
    return 1


COMMANDS = {"authorized-keys-check": authorized_keys_check, "shell": shell, "pre-receive": pre_receive}

if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
