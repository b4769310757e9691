#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_auth
short_description: Put one registry's credentials into a Docker or containers auth file, keeping everything else
version_added: 0.1.0
description:
  - Sets the C(auths) entry of O(registry) in a Docker client configuration (C(~/.docker/config.json)) or a
    containers auth file (C(auth.json), read by podman, skopeo and buildah) to O(username) and O(password), as
    C(docker login --password-stdin) would, or removes that entry with O(state=absent).
  - Every other entry and every other key of the file (C(credHelpers), C(psFormat), proxies, ...) is kept as it is.
  - The file is written atomically (a temporary file in the same directory, mode C(0600) and owned by O(owner)
    before the secret is written to it, then renamed over the file), so readers never see a partial file and the
    secret is never readable by others, not even for an instant. The file ends up with mode C(0600); missing parent
    directories are created with mode C(0700).
  - If O(path) is a symlink, the file it points to is updated (atomically, in that file's directory) and the link
    stays a link. A link loop, or a dangling link into a directory that does not exist, is refused.
  - The module runs on the host that holds the file and needs no client (no C(docker), C(podman) or C(skopeo)).
  - It never returns or logs the secret, nor the C(auth) value that encodes it; results and the diff carry the
    username only.
attributes:
  check_mode:
    support: full
    details:
      - Without O(password) (for example when the secret does not exist yet in a check run) it reports a change
        unless O(state=absent).
  diff_mode:
    support: full
    details:
      - Shows the registry and username before and after, never the secret.
  idempotent:
    support: full
extends_documentation_fragment:
  - runnercreds.gitlab._attributes
options:
  path:
    description:
      - The auth file, for example C(/home/gitlab-runner/.docker/config.json) or
        C(/home/gitlab-runner/.config/containers/auth.json).
      - A symlink is followed; its target must be a regular file or not exist yet in an existing directory.
    type: path
    required: true
  registry:
    description:
      - The registry as clients name it, the key of the C(auths) entry, for example V(registry.gitlab.example.com)
        or V(127.0.0.1:5000). No scheme and no path.
    type: str
    required: true
  username:
    description:
      - The username, for a GitLab deploy token its C(username) (C(gitlab+deploy-token-<id>) by default).
      - Required with O(state=present).
      - With O(state=absent), if given, the entry is removed only when it holds this username, so credentials
        somebody else put there stay.
    type: str
  password:
    description:
      - The password or token. Required with O(state=present) outside check mode.
    type: str
  owner:
    description:
      - The user who owns the file (and the directories the module creates). Default is the user the module runs as.
    type: str
  group:
    description:
      - The file's group. Default is the primary group of O(owner).
    type: str
  state:
    description:
      - V(present) sets the entry; V(absent) removes it. The file itself is never removed.
    type: str
    choices: [present, absent]
    default: present
notes:
  - "Set C(no_log: true) on the task anyway: Ansible hides O(password) from the module's output, but not from a
    C(loop) label or a failed templating message."
  - C(docker) keeps credentials in a credential store instead when the file names a C(credsStore); with one,
    C(docker) ignores C(auths) entries for other registries only if a C(credHelpers) entry names the registry.
    This module writes the C(auths) entry in any case.
seealso:
  - module: runnercreds.gitlab.registry_auth_info
  - module: runnercreds.gitlab.deploy_token
  - name: containers-auth.json(5)
    description: Where podman, skopeo and buildah look for credentials, and the file format.
    link: https://github.com/containers/image/blob/main/docs/containers-auth.json.5.md
author:
  - runnercreds.gitlab contributors (@runnercreds)
"""

EXAMPLES = r"""
- name: Log the runner user into the GitLab registry with a deploy token
  runnercreds.gitlab.registry_auth:
    path: /home/gitlab-runner/.docker/config.json
    registry: registry.gitlab.example.com
    username: "{{ token.deploy_token.username }}"
    password: "{{ token.deploy_token.token }}"
    owner: gitlab-runner
  no_log: true

- name: Log it out again, only if it still holds that token
  runnercreds.gitlab.registry_auth:
    path: /home/gitlab-runner/.docker/config.json
    registry: registry.gitlab.example.com
    username: gitlab+deploy-token-42
    state: absent
"""

RETURN = r"""
registry:
  description: The registry, as given.
  returned: always
  type: str
  sample: registry.gitlab.example.com
username:
  description: The username the entry holds after the run; V(null) if there is no entry.
  returned: always
  type: str
  sample: gitlab+deploy-token-42
previous_username:
  description: The username the entry held before the run; V(null) if there was none.
  returned: always
  type: str
  sample: gitlab+deploy-token-17
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _auth_file


def _ids(module, owner, group):
    """uid and gid of ``owner``/``group`` (-1: keep or use the caller's)."""
    uid = gid = -1
    try:
        if owner:
            entry = pwd.getpwnam(owner)
            uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        module.fail_json(msg=f"registry_auth: owner {owner!r} is not a user on this host", registry=module.params["registry"])
    try:
        if group:
            gid = grp.getgrnam(group).gr_gid
    except KeyError:
        module.fail_json(msg=f"registry_auth: group {group!r} is not a group on this host", registry=module.params["registry"])
    return uid, gid


def _ensure_dir(directory: str, uid: int, gid: int, check_mode: bool) -> bool:
    """Create missing parents (0700, owned like the file); True if any was made."""
    missing = []
    current = directory
    while current and not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    if check_mode or not missing:
        return bool(missing)
    for path in reversed(missing):
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)      # whatever the umask
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
    return True


def _mover(module):
    """Rename the temporary file over the file, keeping the old file's SELinux
    context as ``atomic_move`` would, but never its mode or owner: the
    temporary file is already 0600 and owned right, and must stay so."""
    def move(src, dest):
        if module.selinux_enabled():
            if os.path.exists(dest):
                context = module.selinux_context(dest)
            else:
                context = module.selinux_default_context(dest)
            module.set_context_if_different(src, context, False)
        os.replace(src, dest)
    return move


def run(module) -> dict:
    p = module.params
    path, registry, state = p["path"], p["registry"], p["state"]
    uid, gid = _ids(module, p["owner"], p["group"])
    # A symlink is followed: ``real`` is the file that is read, written, chowned and chmodded.
    real = _auth_file.resolve(path)
    content = _auth_file.read(path)     # through the link, so messages name ``path``
    before_entry = (content or {}).get("auths", {}).get(registry)
    before_user = _auth_file.entry_username(before_entry) if before_entry is not None else None
    result = {"changed": False, "registry": registry, "username": before_user, "previous_username": before_user}

    if state == "absent":
        remove = before_entry is not None and (p["username"] is None or before_user == p["username"])
        if remove:
            result.update(changed=True, username=None)
            if not module.check_mode:
                st = os.stat(real)
                _auth_file.write_atomic(real, _auth_file.without(content, registry), _mover(module),
                                        uid if uid != -1 else st.st_uid, gid if gid != -1 else st.st_gid)
    else:
        if p["password"] is None:
            if not module.check_mode:
                module.fail_json(msg="registry_auth: password is required with state=present", registry=registry)
            _auth_file.resolve_for_write(path)
            result.update(changed=True, username=p["username"])
        else:
            new = _auth_file.merged(content, registry, p["username"], p["password"])
            if content is None or new != content:
                # Refuses (in check mode too) a dangling link into a missing directory.
                _auth_file.resolve_for_write(path)
                result.update(changed=True, username=p["username"])
                if not module.check_mode:
                    if real == path:
                        _ensure_dir(os.path.dirname(path), uid, gid, False)
                    if content is None:
                        owner = (uid, gid)
                    else:
                        st = os.stat(real)
                        owner = (uid if uid != -1 else st.st_uid, gid if gid != -1 else st.st_gid)
                    _auth_file.write_atomic(real, new, _mover(module), *owner)

    # Owner and mode of a file that did not need new content (mode first: a
    # file is never handed to a new owner or group while others may read it).
    if os.path.exists(real) and not (module.check_mode and result["changed"]):
        st = os.stat(real)
        want_uid = uid if uid != -1 else st.st_uid
        want_gid = gid if gid != -1 else st.st_gid
        if stat.S_IMODE(st.st_mode) != 0o600 or st.st_uid != want_uid or st.st_gid != want_gid:
            result["changed"] = True
            if not module.check_mode:
                os.chmod(real, 0o600)
                os.chown(real, want_uid, want_gid)
    if module._diff:
        result["diff"] = {
            "before": {"registry": registry, "username": before_user} if before_user is not None else {},
            "after": {"registry": registry, "username": result["username"]} if result["username"] is not None else {},
            "before_header": path, "after_header": path,
        }
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            registry=dict(type="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ["username"])],
        supports_check_mode=True,
    )
    try:
        _auth_file.check_login(module.params)
    except _auth_file.AuthFileError as exc:
        # Nothing echoed: a malformed registry may hold credentials by mistake.
        module.fail_json(msg=f"registry_auth: {exc}. Nothing was changed.")
    try:
        result = run(module)
    except _auth_file.AuthFileError as exc:
        module.fail_json(msg=f"registry_auth: {exc}", registry=module.params["registry"])
    except OSError as exc:
        module.fail_json(msg=f"registry_auth: cannot update {module.params['path']}: {exc.strerror}",
                         registry=module.params["registry"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
