#!/usr/bin/env bash
# A GitLab git-over-SSH endpoint on loopback, for tests and the demo: the
# GitLab test server plus OpenSSH's sshd authorizing keys the way GitLab Shell
# does (AuthorizedKeysCommand -> GET /api/v4/internal/authorized_keys, forced
# command -> POST /api/v4/internal/allowed, pre-receive hook with the real
# changes; see tests/gitshell/ and spec §5-6).
#
#   scripts/sshd-endpoint.sh start STATE_DIR [--seed FILE] [--admin-token TOKEN]
#   scripts/sshd-endpoint.sh env   STATE_DIR     print the environment file again
#   scripts/sshd-endpoint.sh stop  STATE_DIR     stop both and remove STATE_DIR
#
# `start` prints (and writes to STATE_DIR/env, and as JSON to STATE_DIR/env.json) shell-sourceable lines:
#   GITLAB_URL GITLAB_TOKEN GITLAB_SSH_HOST GITLAB_SSH_PORT GITLAB_SSH_HOST_KEY
#   GITLAB_SHELL_SECRET_FILE
#
# Needs root (sshd, the `git` account it serves, created here if missing) and
# the system python3 with python3-yaml and python3-cryptography: the server and
# GitLab Shell run as `git`, as in GitLab, so that git writes the repositories
# as their owner. sshd requires every directory above its AuthorizedKeysCommand
# to be root-owned and not group/world-writable, so STATE_DIR must not be under
# /tmp (use /run/... or /var/lib/...). Host keys and the shared secret are
# generated at start and removed at stop.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
me="sshd-endpoint.sh"
die() { echo "$me: $*" >&2; exit 1; }

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$#" -ge 2 ] || usage
cmd="$1"; state="$2"; shift 2
case "$state" in /*) ;; *) die "STATE_DIR must be an absolute path" ;; esac

git_user=git
python=/usr/bin/python3
sshd=/usr/sbin/sshd
marker="$state/.runnercreds-sshd-endpoint"

stop_pidfile() {   # pidfile
  local pid
  [ -s "$1" ] || return 0
  pid="$(cat "$1")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

do_stop() {
  [ -d "$state" ] || return 0
  [ -e "$marker" ] || die "$state was not created by $me; not touching it"
  stop_pidfile "$state/sshd/sshd.pid"
  stop_pidfile "$state/server.pid"
  if [ "${KEEP_ENDPOINT_LOGS:-0}" = 1 ]; then
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

do_start() {
  local seed="" admin_token=""
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --seed) seed="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
      --admin-token) admin_token="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  [ "$(id -u)" -eq 0 ] || die "must run as root (sshd on loopback, the $git_user account)"
  [ -x "$sshd" ] || die "no $sshd (apt-get install openssh-server)"
  "$python" -c 'import yaml, cryptography' 2>/dev/null \
    || die "$python lacks yaml/cryptography (apt-get install python3-yaml python3-cryptography)"
  if [ -e "$state" ]; then
    if [ -e "$marker" ]; then do_stop; else die "$state exists and is not an endpoint state dir"; fi
  fi
  check_safe_path "$(dirname "$state")"
  ensure_git_user
  install -d -m 0755 -o root -g root "$state" "$state/sshd"
  touch "$marker"
  install -d -m 0755 /run/sshd    # sshd's privilege separation directory

  # The shared secret (.gitlab_shell_secret): readable by the server and GitLab Shell only.
  install -m 0640 -o root -g "$git_user" /dev/null "$state/shell_secret"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/shell_secret"
  [ -n "$admin_token" ] || admin_token="glpat-endpoint-$(head -c 15 /dev/urandom | od -An -tx1 | tr -d ' \n')"

  # Copies the git user can read whatever the checkout's location (it may be under /root).
  install -d -m 0755 "$state/server" "$state/server/bin"
  cp -R "$repo/tests/gitlab_server" "$state/server/"
  install -m 0755 "$repo/tests/bin/gitlab-test-server" "$state/server/bin/"
  if [ -n "$seed" ]; then install -m 0644 "$seed" "$state/server/seed.yml"; seed="$state/server/seed.yml"; fi
  chmod -R go-w,a+rX "$state/server"
  install -d -m 0700 -o "$git_user" -g "$git_user" "$state/data"

  # The server, as git, detached (stdin/stdout/stderr not inherited).
  local args=(--host 127.0.0.1 --port 0 --data-dir "$state/data" --admin-token "$admin_token"
              --shell-secret-file "$state/shell_secret")
  [ -n "$seed" ] && args+=(--seed "$seed")
  setsid setpriv --reuid="$git_user" --regid="$git_user" --init-groups --reset-env \
    "$python" "$state/server/bin/gitlab-test-server" "${args[@]}" \
    </dev/null >"$state/server.out" 2>"$state/server.log" &
  echo $! >"$state/server.pid"
  local url=""
  for _ in $(seq 1 150); do
    url="$(sed -n 's/^GITLAB_URL=//p' "$state/server.out" 2>/dev/null | head -n1)"
    [ -n "$url" ] && break
    kill -0 "$(cat "$state/server.pid")" 2>/dev/null || { cat "$state/server.log" >&2; die "the test server exited"; }
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$state/server.log" >&2; die "the test server did not start"; }

  # GitLab Shell stand-in: a root-owned copy with its config.
  install -d -m 0755 "$state/gitshell" "$state/gitshell/hooks"
  install -m 0644 "$repo/tests/gitshell/gitshell.py" "$state/gitshell/"
  install -m 0755 "$repo/tests/gitshell/gitlab-shell" "$repo/tests/gitshell/gitlab-shell-authorized-keys-check" \
    "$state/gitshell/"
  install -m 0755 "$repo/tests/gitshell/hooks/pre-receive" "$state/gitshell/hooks/"
  printf '{"gitlab_url": "%s", "secret_file": "%s"}\n' "$url" "$state/shell_secret" >"$state/gitshell/config.json"
  chmod 0644 "$state/gitshell/config.json"

  # sshd: own host key and config, loopback only, keys from the API only.
  ssh-keygen -q -t ed25519 -N "" -C "runnercreds-endpoint" -f "$state/sshd/ssh_host_ed25519_key"
  local port
  port="$(free_port)"
  cat >"$state/sshd/sshd_config" <<EOF
# Generated by scripts/sshd-endpoint.sh: GitLab's git SSH endpoint on loopback.
ListenAddress 127.0.0.1
Port $port
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
    [ -s "$state/sshd/sshd.pid" ] && "$python" -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
    sleep 0.1
  done
  [ -s "$state/sshd/sshd.pid" ] || { cat "$state/sshd/sshd.log" >&2; die "sshd did not start"; }

  local host_key
  host_key="$(cut -d' ' -f1,2 "$state/sshd/ssh_host_ed25519_key.pub")"
  {
    echo "GITLAB_URL=$url"
    echo "GITLAB_TOKEN=$admin_token"
    echo "GITLAB_SSH_HOST=127.0.0.1"
    echo "GITLAB_SSH_PORT=$port"
    echo "GITLAB_SSH_HOST_KEY='$host_key'"
    echo "GITLAB_SHELL_SECRET_FILE=$state/shell_secret"
  } >"$state/env"
  chmod 0600 "$state/env"
  # The same as JSON, for Ansible (lookup('file', ...) | from_json).
  "$python" - "$state/env.json" "$url" "$admin_token" "$port" "$host_key" "$state/shell_secret" <<'PY'
import json, os, sys
path, url, token, port, host_key, secret = sys.argv[1:]
with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
    json.dump({"GITLAB_URL": url, "GITLAB_TOKEN": token, "GITLAB_SSH_HOST": "127.0.0.1",
               "GITLAB_SSH_PORT": int(port), "GITLAB_SSH_HOST_KEY": host_key,
               "GITLAB_SHELL_SECRET_FILE": secret}, fh, indent=1)
PY
  cat "$state/env"
}

case "$cmd" in
  start) do_start "$@" ;;
  stop) do_stop ;;
  env) cat "$state/env" ;;
  *) usage ;;
esac
