#!/usr/bin/env bash
# Test endpoints on loopback, for the tests and the demo: ONE GitLab test
# server (REST API, git smart HTTP) plus, as asked,
#   --ssh       OpenSSH's sshd authorizing keys the way GitLab Shell does
#               (AuthorizedKeysCommand -> GET /api/v4/internal/authorized_keys,
#               forced command -> POST /api/v4/internal/allowed, pre-receive
#               hook with the real changes; see tests/gitshell/ and spec §5-6);
#   --registry  Debian's docker-registry (distribution 2.8) with token auth
#               against the server's registry token service (GET /jwt/auth,
#               RS256 JWTs).
#
#   scripts/test-endpoints.sh start STATE_DIR [--ssh] [--registry] [--seed FILE] [--admin-token TOKEN]
#   scripts/test-endpoints.sh env   STATE_DIR     print the environment file again
#   scripts/test-endpoints.sh push-image STATE_DIR REPOSITORY:TAG
#                                    push a tiny image as the admin (e.g. fleet/apps/api/base:1)
#   scripts/test-endpoints.sh stop  STATE_DIR     stop everything and remove STATE_DIR
#
# `start` prints (and writes to STATE_DIR/env, and as JSON to STATE_DIR/env.json):
#   GITLAB_URL GITLAB_TOKEN
#   with --ssh:      GITLAB_SSH_HOST GITLAB_SSH_PORT GITLAB_SSH_HOST_KEY GITLAB_SHELL_SECRET_FILE
#   with --registry: GITLAB_REGISTRY (127.0.0.1:<port>, plain HTTP: clients need
#                    --tls-verify=false or an `insecure = true` registries.conf entry)
#
# With --ssh the server and GitLab Shell run as the `git` user (created here if
# missing), as in GitLab, so that git writes the repositories as their owner;
# this needs root, and STATE_DIR must not be under /tmp: sshd requires every
# directory above its AuthorizedKeysCommand to be root-owned and not
# group/world-writable (use /run/... or /var/lib/...). Without --ssh the
# server runs as the caller. Secrets (the admin token, the shell secret, the
# registry's token signing key, sshd's host key) are generated at start, never
# passed to a command line except the server's own --admin-token, and removed
# at stop. `stop` only stops what the pidfiles in STATE_DIR name.
# Needs python3 with python3-yaml and python3-cryptography, and as enabled
# openssh-server, docker-registry, openssl, skopeo: scripts/install-system-deps.sh.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
me="${ENDPOINT_SCRIPT_NAME:-test-endpoints.sh}"
die() { echo "$me: $*" >&2; exit 1; }

usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$#" -ge 2 ] || usage
cmd="$1"; state="$2"; shift 2
case "$state" in /*) ;; *) die "STATE_DIR must be an absolute path" ;; esac
case "$state" in */) state="${state%/}" ;; esac
case "$state" in ""|/) die "STATE_DIR must not be /" ;; esac

git_user=git
python=/usr/bin/python3
sshd=/usr/sbin/sshd
registry=/usr/bin/docker-registry
marker="$state/.runnercreds-test-endpoint"
# State dirs made by the scripts this one replaced (same layout): still stopped.
old_markers=("$state/.runnercreds-sshd-endpoint" "$state/.runnercreds-registry-endpoint")

stop_pidfile() {   # pidfile
  local pid
  [ -s "$1" ] || return 0
  pid="$(cat "$1")"
  case "$pid" in ''|*[!0-9]*) die "$1 does not hold a pid" ;; esac
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

is_endpoint_dir() {
  [ -e "$marker" ] || [ -e "${old_markers[0]}" ] || [ -e "${old_markers[1]}" ]
}

do_stop() {
  [ -d "$state" ] || return 0
  is_endpoint_dir || die "$state was not created by $me; not touching it"
  stop_pidfile "$state/sshd/sshd.pid"
  stop_pidfile "$state/registry.pid"
  stop_pidfile "$state/server.pid"
  if [ "${KEEP_ENDPOINT_LOGS:-0}" = 1 ]; then
    # Logs and data stay; generated secrets do not.
    rm -f "$state/registry.key" "$state/registry.yml" "$state/shell_secret" \
      "$state/sshd/ssh_host_ed25519_key" "$state/env" "$state/env.json"
    echo "$me: logs kept in $state" >&2
  else
    rm -rf --one-file-system "$state"
  fi
}

check_safe_path() {   # every component root-owned and not writable by group/others
  local p="$1"
  while :; do
    if [ -e "$p" ]; then
      local owner mode
      owner="$(stat -c %u "$p")"; mode="$(stat -c %a "$p")"
      [ "$owner" = 0 ] || die "$p is not owned by root (sshd refuses AuthorizedKeysCommand below it)"
      (( (8#$mode & 8#022) == 0 )) || die "$p is group/world-writable (sshd refuses AuthorizedKeysCommand below it); choose another STATE_DIR"
    fi
    [ "$p" = / ] && break
    p="$(dirname "$p")"
  done
}

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {   # port pidfile log what
  for _ in $(seq 1 100); do
    "$python" -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    kill -0 "$(cat "$2")" 2>/dev/null || { cat "$3" >&2; die "$4 exited"; }
    sleep 0.1
  done
  cat "$3" >&2; die "$4 did not start"
}

random_hex() {   # bytes
  head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
}

ensure_git_user() {
  if ! getent passwd "$git_user" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/runnercreds-git --create-home \
      --shell /bin/sh --comment "GitLab Shell (runnercreds tests)" "$git_user"
    # '*' (no password) rather than '!' (locked): sshd without PAM refuses locked accounts.
    usermod -p '*' "$git_user"
  fi
  local shell
  shell="$(getent passwd "$git_user" | cut -d: -f7)"
  case "$shell" in */nologin|*/false|"") die "user $git_user has shell '$shell'; sshd runs the forced command through it" ;; esac
}

start_server() {   # admin_token seed  -> sets $url
  local admin_token="$1" seed="$2"
  # A copy the git user can read whatever the checkout's location (it may be under /root).
  install -d -m 0755 "$state/server" "$state/server/bin"
  cp -R "$repo/tests/gitlab_server" "$state/server/"
  rm -rf "$state/server/gitlab_server/__pycache__" "$state/server/gitlab_server/routes/__pycache__"
  install -m 0755 "$repo/tests/bin/gitlab-test-server" "$state/server/bin/"
  if [ -n "$seed" ]; then install -m 0644 "$seed" "$state/server/seed.yml"; seed="$state/server/seed.yml"; fi
  chmod -R go-w,a+rX "$state/server"

  local args=(--host 127.0.0.1 --port 0 --data-dir "$state/data" --admin-token "$admin_token")
  [ -n "$seed" ] && args+=(--seed "$seed")
  [ "$with_ssh" = 1 ] && args+=(--shell-secret-file "$state/shell_secret")
  [ "$with_registry" = 1 ] && args+=(--registry-key "$state/registry.key")
  local as=()
  [ "$with_ssh" = 1 ] && as=(setpriv --reuid="$git_user" --regid="$git_user" --init-groups --reset-env)
  # Detached: stdin/stdout/stderr not inherited.
  setsid "${as[@]}" "$python" "$state/server/bin/gitlab-test-server" "${args[@]}" \
    </dev/null >"$state/server.out" 2>"$state/server.log" &
  echo $! >"$state/server.pid"
  url=""
  for _ in $(seq 1 150); do
    url="$(sed -n 's/^GITLAB_URL=//p' "$state/server.out" 2>/dev/null | head -n1)"
    [ -n "$url" ] && break
    kill -0 "$(cat "$state/server.pid")" 2>/dev/null || { cat "$state/server.log" >&2; die "the test server exited"; }
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$state/server.log" >&2; die "the test server did not start"; }
}

start_sshd() {   # url -> sets $ssh_port $host_key
  local url="$1"
  # GitLab Shell stand-in: a root-owned copy with its config.
  install -d -m 0755 "$state/sshd" "$state/gitshell" "$state/gitshell/hooks"
  install -m 0644 "$repo/tests/gitshell/gitshell.py" "$state/gitshell/"
  install -m 0755 "$repo/tests/gitshell/gitlab-shell" "$repo/tests/gitshell/gitlab-shell-authorized-keys-check" \
    "$state/gitshell/"
  install -m 0755 "$repo/tests/gitshell/hooks/pre-receive" "$state/gitshell/hooks/"
  printf '{"gitlab_url": "%s", "secret_file": "%s"}\n' "$url" "$state/shell_secret" >"$state/gitshell/config.json"
  chmod 0644 "$state/gitshell/config.json"

  # sshd: own host key and config, loopback only, keys from the API only.
  ssh-keygen -q -t ed25519 -N "" -C "runnercreds-endpoint" -f "$state/sshd/ssh_host_ed25519_key"
  ssh_port="$(free_port)"
  cat >"$state/sshd/sshd_config" <<EOF
# Generated by scripts/test-endpoints.sh: GitLab's git SSH endpoint on loopback.
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $state/sshd/ssh_host_ed25519_key
PidFile $state/sshd/sshd.pid
UsePAM no
AllowUsers $git_user
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile none
# GitLab's fast SSH key lookup (doc/administration/operations/fast_ssh_key_lookup.md)
AuthorizedKeysCommand $state/gitshell/gitlab-shell-authorized-keys-check $git_user %u %k
AuthorizedKeysCommandUser $git_user
PermitUserEnvironment no
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
StrictModes yes
# Many runners connect at once in the tests.
MaxStartups 200:30:400
MaxSessions 50
LogLevel VERBOSE
EOF
  "$sshd" -t -f "$state/sshd/sshd_config" || die "sshd rejected $state/sshd/sshd_config"
  "$sshd" -f "$state/sshd/sshd_config" -E "$state/sshd/sshd.log"
  for _ in $(seq 1 50); do
    [ -s "$state/sshd/sshd.pid" ] && "$python" -c "import socket; socket.create_connection(('127.0.0.1', $ssh_port), 1)" 2>/dev/null && break
    sleep 0.1
  done
  [ -s "$state/sshd/sshd.pid" ] || { cat "$state/sshd/sshd.log" >&2; die "sshd did not start"; }
  host_key="$(cut -d' ' -f1,2 "$state/sshd/ssh_host_ed25519_key.pub")"
}

start_registry() {   # url -> sets $registry_port
  local url="$1"
  install -d -m 0700 "$state/registry-data"
  registry_port="$(free_port)"
  ( umask 077
    cat >"$state/registry.yml" <<YAML
# Generated by scripts/test-endpoints.sh: GitLab's container registry on loopback.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $state/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$registry_port
  secret: $(random_hex 16)
auth:
  token:
    realm: $url/jwt/auth
    service: container_registry
    issuer: gitlab-issuer
    rootcertbundle: $state/registry.crt
YAML
  )
  setsid "$registry" serve "$state/registry.yml" </dev/null >"$state/registry.log" 2>&1 &
  echo $! >"$state/registry.pid"
  wait_port "$registry_port" "$state/registry.pid" "$state/registry.log" "docker-registry"
}

write_env() {   # the values come through the environment, never argv
  local umask_was
  umask_was="$(umask)"; umask 077
  local secret_file="" registry_addr=""
  [ "$with_ssh" = 1 ] && secret_file="$state/shell_secret"
  [ "$with_registry" = 1 ] && registry_addr="127.0.0.1:$registry_port"
  E_GITLAB_URL="$url" E_GITLAB_TOKEN="$admin_token" \
  E_GITLAB_SSH_PORT="$ssh_port" E_GITLAB_SSH_HOST_KEY="$host_key" \
  E_GITLAB_SHELL_SECRET_FILE="$secret_file" E_GITLAB_REGISTRY="$registry_addr" \
  "$python" - "$state" <<'PY'
import json, os, shlex, sys
state = sys.argv[1]
e = lambda k: os.environ.get("E_" + k, "")
env = {"GITLAB_URL": e("GITLAB_URL"), "GITLAB_TOKEN": e("GITLAB_TOKEN")}
if e("GITLAB_SSH_PORT"):
    env.update(GITLAB_SSH_HOST="127.0.0.1", GITLAB_SSH_PORT=int(e("GITLAB_SSH_PORT")),
               GITLAB_SSH_HOST_KEY=e("GITLAB_SSH_HOST_KEY"),
               GITLAB_SHELL_SECRET_FILE=e("GITLAB_SHELL_SECRET_FILE"))
if e("GITLAB_REGISTRY"):
    env["GITLAB_REGISTRY"] = e("GITLAB_REGISTRY")
def write(name, text):
    path = os.path.join(state, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(text)
# Shell-sourceable lines (quoted only where needed), and the same as JSON for
# Ansible (lookup('file', ...) | from_json).
write("env", "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in env.items()))
write("env.json", json.dumps(env, indent=1) + "\n")
PY
  umask "$umask_was"
}

start_failed() {   # EXIT trap while starting: stop what runs, remove the state dir
  local rc=$?
  [ "$rc" = 0 ] || { do_stop >/dev/null 2>&1 || true; }
}

do_start() {
  local seed=""
  with_ssh=0; with_registry=0; admin_token=""
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --ssh) with_ssh=1; shift ;;
      --registry) with_registry=1; shift ;;
      --seed) [ "$#" -ge 2 ] || usage; seed="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
      --admin-token) [ "$#" -ge 2 ] || usage; admin_token="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  "$python" -c 'import yaml, cryptography' 2>/dev/null \
    || die "$python lacks yaml/cryptography (apt-get install python3-yaml python3-cryptography)"
  if [ "$with_ssh" = 1 ]; then
    [ "$(id -u)" -eq 0 ] || die "--ssh must run as root (sshd on loopback, the $git_user account)"
    [ -x "$sshd" ] || die "no $sshd (apt-get install openssh-server)"
  fi
  if [ "$with_registry" = 1 ]; then
    [ -x "$registry" ] || die "no $registry (apt-get install docker-registry)"
    command -v openssl >/dev/null || die "no openssl"
  fi
  if [ -e "$state" ]; then
    if is_endpoint_dir; then do_stop; else die "$state exists and is not an endpoint state dir"; fi
  fi
  # From here on a failure stops what already runs and removes the state dir.
  trap start_failed EXIT

  local server_owner
  if [ "$with_ssh" = 1 ]; then
    check_safe_path "$(dirname "$state")"
    ensure_git_user
    install -d -m 0755 -o root -g root "$state"
    touch "$marker"
    install -d -m 0755 /run/sshd    # sshd's privilege separation directory
    server_owner="$git_user"
  else
    install -d -m 0700 "$state"
    touch "$marker"
    server_owner="$(id -un)"
  fi
  install -d -m 0700 -o "$server_owner" -g "$(id -gn "$server_owner")" "$state/data"
  [ -n "$admin_token" ] || admin_token="glpat-endpoint-$(random_hex 15)"

  if [ "$with_ssh" = 1 ]; then
    # The shared secret (.gitlab_shell_secret): readable by the server and GitLab Shell only.
    install -m 0640 -o root -g "$git_user" /dev/null "$state/shell_secret"
    random_hex 32 >"$state/shell_secret"
  fi
  if [ "$with_registry" = 1 ]; then
    # The token signing key (server) and its certificate (registry's rootcertbundle).
    ( umask 077
      openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=gitlab-issuer" \
        -keyout "$state/registry.key" -out "$state/registry.crt" 2>/dev/null ) || die "openssl failed"
    chmod 0644 "$state/registry.crt"
    # The server reads the key as its own user (git with --ssh): root-owned, group-readable by it only.
    if [ "$with_ssh" = 1 ]; then chgrp "$git_user" "$state/registry.key"; chmod 0640 "$state/registry.key"; fi
  fi

  start_server "$admin_token" "$seed"
  ssh_port=""; host_key=""; registry_port=""
  [ "$with_ssh" = 1 ] && start_sshd "$url"
  [ "$with_registry" = 1 ] && start_registry "$url"
  write_env
  trap - EXIT
  cat "$state/env"
}

do_push_image() {   # REPOSITORY:TAG, as the admin (root + personal access token)
  [ "$#" -eq 1 ] || usage
  is_endpoint_dir || die "$state is not a running endpoint"
  [ -s "$state/registry.pid" ] || die "$state has no registry (start it with --registry)"
  command -v skopeo >/dev/null || die "no skopeo (apt-get install skopeo)"
  local ref="$1" work
  case "$ref" in *:*) ;; *) die "give REPOSITORY:TAG" ;; esac
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  # The admin's credentials go into a 0600 auth file, never into skopeo's arguments.
  "$python" - "$state/env.json" "$work/auth.json" <<'PY'
import base64, json, os, sys
env = json.load(open(sys.argv[1]))
auth = base64.b64encode(f"root:{env['GITLAB_TOKEN']}".encode()).decode()
with open(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
    json.dump({"auths": {env["GITLAB_REGISTRY"]: {"auth": auth}}}, fh)
PY
  "$python" "$repo/tests/support/oci_layout.py" "$work/oci" "${ref##*:}" >/dev/null
  local registry_addr
  registry_addr="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["GITLAB_REGISTRY"])' "$state/env.json")"
  skopeo copy --quiet --dest-tls-verify=false --dest-authfile "$work/auth.json" \
    "oci:$work/oci:${ref##*:}" "docker://$registry_addr/$ref"
  echo "pushed $registry_addr/$ref"
}

case "$cmd" in
  start) do_start "$@" ;;
  stop) [ "$#" -eq 0 ] || usage; do_stop ;;
  env) [ "$#" -eq 0 ] || usage; cat "$state/env" ;;
  push-image) do_push_image "$@" ;;
  *) usage ;;
esac
