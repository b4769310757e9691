#!/bin/sh
# Runs inside the debootstrap tree (chroot) after the packages are installed.
# Makes the tree a small, quiet container image: no services, no caches, no docs.
set -eu

# Full apt sources, so a test may still apt-get something (host networking,
# Debian mirror reachable). No package lists are shipped in the image. The
# suite is the tree's own (one recipe for bookworm and trixie), in the deb822
# format both apt versions read and trixie's apt prefers to sources.list.
. /etc/os-release
suite="${VERSION_CODENAME:?/etc/os-release names no VERSION_CODENAME}"
rm -f /etc/apt/sources.list
cat >/etc/apt/sources.list.d/debian.sources <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# Services must never start inside these containers (no init system runs).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

# Keep later apt-get installs small, like the official Debian images.
cat >/etc/dpkg/dpkg.cfg.d/runnercreds-nodoc <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
cat >/etc/apt/apt.conf.d/runnercreds-slim <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
APT

# Packages whose maintainer scripts need a complete system: debootstrap's
# first stage cannot configure them (golang-github-containers-common fails
# there), so they are installed here, inside the finished tree.
# skopeo: the registry client the deploy-token scenario verifies with.
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo >/dev/null

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
  /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/*

# The container's hostname and resolver come from podman (host networking).
: >/etc/hostname
rm -f /etc/machine-id /var/lib/dbus/machine-id
: >/etc/machine-id
