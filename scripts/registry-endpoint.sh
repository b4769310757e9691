#!/usr/bin/env bash
# A GitLab container registry and git-over-HTTP endpoint on loopback: the
# GitLab test server (REST API, git smart HTTP, registry token service
# GET /jwt/auth) plus Debian's docker-registry with token auth against it.
# Kept for existing callers; it is scripts/test-endpoints.sh with --registry.
#
#   scripts/registry-endpoint.sh start STATE_DIR [--seed FILE] [--admin-token TOKEN]
#   scripts/registry-endpoint.sh env   STATE_DIR     print the environment file again
#   scripts/registry-endpoint.sh push-image STATE_DIR REPOSITORY:TAG
#                                    push a tiny image as the admin (e.g. fleet/apps/api/base:1)
#   scripts/registry-endpoint.sh stop  STATE_DIR     stop both and remove STATE_DIR
#
# `start` prints (and writes to STATE_DIR/env, and as JSON to STATE_DIR/env.json):
#   GITLAB_URL GITLAB_TOKEN GITLAB_REGISTRY (127.0.0.1:<port>, plain HTTP)
set -euo pipefail
endpoints="$(cd "$(dirname "$0")" && pwd)/test-endpoints.sh"
export ENDPOINT_SCRIPT_NAME=registry-endpoint.sh
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$#" -ge 2 ] || usage
cmd="$1"; state="$2"; shift 2
case "$cmd" in
  start) exec "$endpoints" start "$state" --registry "$@" ;;
  env|stop|push-image) exec "$endpoints" "$cmd" "$state" "$@" ;;
  *) usage ;;
esac
