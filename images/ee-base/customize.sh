#!/bin/sh
# Runs inside the debootstrap tree (chroot) of the Execution Environment base
# image after its packages are installed (scripts/build-ee-base-image.sh).
set -eu

# Full apt sources: ansible-builder installs bindep.txt's packages with apt-get
# during the EE build (Debian mirror reachable, host networking).
cat >/etc/apt/sources.list <<'SOURCES'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES

# Services must never start inside these containers (no init system runs).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

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

# ansible-builder's scripts (assemble, install-from-bindep) call the package
# manager with dnf's syntax: `$PKGMGR install -y [opts] PKG...` and
# `$PKGMGR clean all`. apt-get needs its lists first (none are shipped) and
# reads `clean all` differently, so the EE definition's
# options.package_manager_path points here instead of at apt-get.
cat >/usr/local/sbin/ee-apt-get <<'PKGMGR'
#!/bin/sh
# dnf-style front end to apt-get for ansible-builder (see images/ee-base/customize.sh).
set -eu
command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  install)
    # -y and any dnf-only options ansible-builder may pass are apt-get's concern
    # no more: apt-get always runs non-interactively here.
    pkgs=""
    for arg in "$@"; do
      case "$arg" in -*) ;; *) pkgs="$pkgs $arg" ;; esac
    done
    [ -n "$pkgs" ] || exit 0
    apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs
    ;;
  clean)
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    ;;
  *)
    echo "ee-apt-get: only 'install' and 'clean' are supported (got '$command')" >&2
    exit 2
    ;;
esac
PKGMGR
chmod 0755 /usr/local/sbin/ee-apt-get

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
  /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/*

: >/etc/hostname
rm -f /etc/machine-id /var/lib/dbus/machine-id
: >/etc/machine-id
