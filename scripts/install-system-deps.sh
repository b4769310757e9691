#!/usr/bin/env bash
# Installs the Debian packages the tests need, and only those that are missing.
#
# Idempotent and fast on the second run: dpkg-query decides what is missing, and
# apt-get (update, then install) runs only when something is. Non-interactive.
# Runs as root, or through sudo for a user that has it.
#
# What the packages are for:
#   podman runc uidmap  runner-host containers (runc: crun fails on this hybrid
#                       cgroup machine; see .config/containers.conf)
#   debootstrap         builds the runner image (scripts/build-runner-image.sh)
#   openssh-server      the git SSH endpoint the tests authorize deploy keys on
#   openssh-client git  git over SSH, key generation
#   skopeo              registry client for deploy-token tests
#   docker-registry     the registry (token auth) those tests push to
#   ca-certificates     the Debian mirror and PyPI over HTTPS
#   python3 python3-venv  `python3 -m venv .venv` (Debian splits ensurepip out
#                       into python3-venv); ansible-test's --venv sanity
#                       virtualenvs bootstrap pip with ensurepip as well
#   python3-yaml python3-cryptography  the test server when it runs as the
#                       `git` user behind sshd (tests/support/endpoints.py
#                       --ssh): that user cannot read the venv under /root, so
#                       it uses the system python3 with Debian's packages
#   (shellcheck)        ansible-test's shellcheck sanity test (skipped with
#                       only a warning when the program is missing)
set -euo pipefail

packages=(
  podman
  runc
  uidmap
  debootstrap
  openssh-server
  openssh-client
  git
  skopeo
  docker-registry
  ca-certificates
  python3
  python3-venv
  python3-yaml
  python3-cryptography
  shellcheck
)

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
  # "ii " = desired install, currently installed, no error flag.
  if [ "$status" != "ii " ]; then
    missing+=("$pkg")
  fi
done

# molecule/runner_packages copies the controller's node and npm into a runner container (Debian's npm
# would add ~360 packages to the image): Debian's nodejs and npm when the machine has no npm at all.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present (${packages[*]})"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-system-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

echo "system packages: installing ${missing[*]}"

# Packages with services (openssh-server, docker-registry) must not start them:
# the tests start their own instances on 127.0.0.1, and a registry or sshd
# listening on every interface is not wanted. If the machine has no
# policy-rc.d, put a temporary one in place that refuses all starts (101).
policy=/usr/sbin/policy-rc.d
policy_added=""
cleanup() {
  if [ -n "$policy_added" ]; then "${sudo[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from runnercreds scripts/install-system-deps.sh\nexit 101\n' \
    | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 0755 "$policy"
  policy_added=1
fi

apt_opts=(-y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# runc is in the same request, so it satisfies podman's "crun | runc" and crun
# is not pulled in.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"

# A service that the package did start anyway (e.g. a machine whose
# policy-rc.d allows it) is left alone: it is the machine's business.
echo "system packages: done"
