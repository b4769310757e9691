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
    secret is never readable by others. The file ends up with mode C(0600); missing parent directories are created
    with mode C(0700).
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _auth_file


def _ids(module, owner, group):
    uid = gid = -1
    try:
        if owner:
            entry = pwd.getpwnam(owner)
            uid, gid = entry.pw_uid, entry.pw_gid
        if group:
            gid = grp.getgrnam(group).gr_gid
    except KeyError as exc:
        module.fail_json(msg=f"registry_auth: no such user or group: {exc.args[0]}")
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
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
    return True


def run(module) -> dict:
    p = module.params
    path, registry, state = p["path"], p["registry"], p["state"]
    uid, gid = _ids(module, p["owner"], p["group"])
    content = _auth_file.read(path)
    before_entry = (content or {}).get("auths", {}).get(registry)
    before_user = _auth_file.entry_username(before_entry) if before_entry is not None else None
    result = {"changed": False, "registry": registry, "username": before_user, "previous_username": before_user}

    if state == "absent":
        remove = before_entry is not None and (p["username"] is None or before_user == p["username"])
        if remove:
            result.update(changed=True, username=None)
            if not module.check_mode:
                st = os.stat(path)
                _auth_file.write_atomic(path, _auth_file.without(content, registry), module.atomic_move,
                                        st.st_uid, st.st_gid)
    else:
        if p["password"] is None:
            if not module.check_mode:
                module.fail_json(msg="registry_auth: password is required with state=present", registry=registry)
            result.update(changed=True, username=p["username"])
        else:
            new = _auth_file.merged(content, registry, p["username"], p["password"])
            if content is None or new != content:
                result.update(changed=True, username=p["username"])
                if not module.check_mode:
                    _ensure_dir(os.path.dirname(path), uid, gid, False)
                    if content is None:
                        owner = (uid, gid)
                    else:
                        st = os.stat(path)
                        owner = (uid if uid != -1 else st.st_uid, gid if gid != -1 else st.st_gid)
                    _auth_file.write_atomic(path, new, module.atomic_move, *owner)

    # Owner and mode of a file that did not need new content.
    if os.path.exists(path) and not (module.check_mode and result["changed"]):
        st = os.stat(path)
        want_uid = uid if uid != -1 else st.st_uid
        want_gid = gid if gid != -1 else st.st_gid
        if (st.st_mode & 0o7777) != 0o600 or st.st_uid != want_uid or st.st_gid != want_gid:
            result["changed"] = True
            if not module.check_mode:
                os.chown(path, want_uid, want_gid)
                os.chmod(path, 0o600)
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
        result = run(module)
    except _auth_file.AuthFileError as exc:
        module.fail_json(msg=f"registry_auth: {exc}", registry=module.params["registry"])
    except OSError as exc:
        module.fail_json(msg=f"registry_auth: cannot write {module.params['path']}: {exc.strerror}",
                         registry=module.params["registry"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
