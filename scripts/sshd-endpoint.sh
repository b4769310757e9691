#!/usr/bin/env bash
# A GitLab git-over-SSH endpoint on loopback: the GitLab test server (as the
# `git` user) plus OpenSSH's sshd authorizing keys the way GitLab Shell does.
# Kept for existing callers; it is scripts/test-endpoints.sh with --ssh.
#
#   scripts/sshd-endpoint.sh start STATE_DIR [--seed FILE] [--admin-token TOKEN]
#   scripts/sshd-endpoint.sh env   STATE_DIR     print the environment file again
#   scripts/sshd-endpoint.sh stop  STATE_DIR     stop both and remove STATE_DIR
#
# `start` prints (and writes to STATE_DIR/env, and as JSON to STATE_DIR/env.json):
#   GITLAB_URL GITLAB_TOKEN GITLAB_SSH_HOST GITLAB_SSH_PORT GITLAB_SSH_HOST_KEY
#   GITLAB_SHELL_SECRET_FILE
# Needs root; STATE_DIR must not be under /tmp (see scripts/test-endpoints.sh).
set -euo pipefail
endpoints="$(cd "$(dirname "$0")" && pwd)/test-endpoints.sh"
export ENDPOINT_SCRIPT_NAME=sshd-endpoint.sh
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$#" -ge 2 ] || usage
cmd="$1"; state="$2"; shift 2
case "$cmd" in
  start) exec "$endpoints" start "$state" --ssh "$@" ;;
  env|stop) exec "$endpoints" "$cmd" "$state" "$@" ;;
  *) usage ;;
esac
