#!/usr/bin/python
# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_auth_info
short_description: Which registries a Docker or containers auth file holds credentials for, and as whom
version_added: 0.1.0
description:
  - Reads a Docker client configuration (C(~/.docker/config.json)) or a containers auth file (C(auth.json)) on the
    host and returns, per registry of its C(auths), the username stored there.
  - Never returns a secret, nor the C(auth) value that encodes it.
  - Used by the runner_deploy_token role to tell whether a host already holds the live deploy token.
extends_documentation_fragment:
  - runnercreds.gitlab._attributes
  - runnercreds.gitlab._attributes.info_module
options:
  path:
    description: The auth file. A missing file is not an error (RV(exists=false)).
    type: path
    required: true
  registries:
    description: Only these registries (default all).
    type: list
    elements: str
seealso:
  - module: runnercreds.gitlab.registry_auth
author:
  - runnercreds.gitlab contributors (@runnercreds)
"""

EXAMPLES = r"""
- name: Which deploy token is the runner logged in with?
  runnercreds.gitlab.registry_auth_info:
    path: /home/gitlab-runner/.docker/config.json
    registries: [registry.gitlab.example.com]
  register: auth_info

- name: Show it
  ansible.builtin.debug:
    msg: "{{ auth_info.auths['registry.gitlab.example.com'].username | default('not logged in') }}"
"""

RETURN = r"""
exists:
  description: Whether the file exists.
  returned: always
  type: bool
auths:
  description: Registry -> C({username}); only registries with an entry are listed.
  returned: always
  type: dict
  sample:
    registry.gitlab.example.com:
      username: gitlab+deploy-token-42
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runnercreds.gitlab.plugins.module_utils import _auth_file


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), registries=dict(type="list", elements="str")),
        supports_check_mode=True,
    )
    try:
        for index, registry in enumerate(module.params["registries"] or ()):
            _auth_file.check_registry(registry, f"registries[{index}]")
        content = _auth_file.read(module.params["path"])
    except _auth_file.AuthFileError as exc:
        module.fail_json(msg=f"registry_auth_info: {exc}")
    wanted = module.params["registries"]
    auths = {}
    for registry, entry in ((content or {}).get("auths") or {}).items():
        if wanted is None or registry in wanted:
            auths[registry] = {"username": _auth_file.entry_username(entry)}
    module.exit_json(changed=False, exists=content is not None, auths=auths)


if __name__ == "__main__":
    main()
