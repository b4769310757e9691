# Copyright (c) runnercreds.gitlab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This doc fragment is PRIVATE to the collection: it may change at any time.
# Other collections must not use it.

from __future__ import annotations


class ModuleDocFragment:
    # The connection and authentication options, written once for every module.
    # Names follow community.general's gitlab modules so playbooks migrate as-is.
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the GitLab instance, for example V(https://gitlab.example.com), with its scheme.
      - A URL ending in C(/api/v4) is accepted and means the same.
      - If not set, the value of the E(GITLAB_URL) environment variable is used. One of them is required.
      - An empty value (an undefined or empty variable) is refused before any request; the token is never
        sent to a default host.
    type: str
  api_token:
    description:
      - A personal, project or group access token, sent as the C(PRIVATE-TOKEN) header.
      - If none of O(api_token), O(api_oauth_token) and O(api_job_token) is set, the value of the
        E(GITLAB_TOKEN) environment variable is used as O(api_token).
      - Deploy keys, deploy tokens and protected tags need the Maintainer role on each project
        (Owner on a group for group deploy tokens), so the token's user must have it and the
        token the C(api) scope.
      - Mutually exclusive with O(api_oauth_token) and O(api_job_token).
    type: str
  api_oauth_token:
    description:
      - "An OAuth 2 access token, sent as C(Authorization: Bearer)."
      - Mutually exclusive with O(api_token) and O(api_job_token).
    type: str
  api_job_token:
    description:
      - A CI/CD job token (C(CI_JOB_TOKEN)), sent as the C(JOB-TOKEN) header.
      - GitLab accepts job tokens on few endpoints; the deploy key, deploy token and protected
        tag endpoints are not among them, so prefer O(api_token).
      - Mutually exclusive with O(api_token) and O(api_oauth_token).
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of the GitLab server.
      - Turn off only for test instances on a private network.
    type: bool
    default: true
  ca_path:
    description:
      - Path to a CA bundle (PEM) to verify the GitLab server's certificate with, instead of
        the system store. Ignored when O(validate_certs=false). It must exist on the controller.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP response before treating it as a transient failure. Greater than 0.
    type: float
    default: 30
  max_retries:
    description:
      - How many times one request is retried after HTTP 429 (waiting as long as GitLab's
        C(Retry-After) header says), HTTP 500, 502, 503, 504, a timeout or a dropped connection.
      - V(0) disables retries.
    type: int
    default: 5
  concurrency:
    description:
      - How many projects or groups one task works on at the same time, over one shared
        connection pool and one authenticated session.
      - Lower it when GitLab answers with HTTP 429 (rate limited).
    type: int
    default: 8
"""
