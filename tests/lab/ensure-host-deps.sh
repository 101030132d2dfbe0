#!/bin/sh
# Install on the controller (Debian 12, root) what building and using the lab
# needs, only if missing: mmdebstrap, apt-utils (apt-ftparchive; dpkg-deb comes
# with dpkg), openssh-client (ssh, ssh-keygen), openssh-server (its sshd binary for
# the benchmark smoke test; the service is never started), debian-archive-keyring.
# `apt-get update` runs only when something is missing; its failures for
# unreachable third-party sources are tolerated (the install step decides).
set -eu

need=""
have_cmd() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}
want() { # package [command]
    if [ -n "${2:-}" ] && have_cmd "$2" && pkg_installed "$1"; then return 0; fi
    pkg_installed "$1" || need="$need $1"
}

want mmdebstrap mmdebstrap
want apt-utils apt-ftparchive
want openssh-client ssh
# the benchmark smoke test runs its own sshd binary (never the system service)
want openssh-server sshd
want debian-archive-keyring
# mmdebstrap (root mode) uses these; they are normally present already.
want mount mount
want gpgv gpgv
have_cmd docker || echo "ensure-host-deps: WARNING: docker CLI not found; the lab needs a Docker engine" >&2

if [ -z "$need" ]; then
    echo "ensure-host-deps: all present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "ensure-host-deps: missing:$need — run as root (or: sudo apt-get install$need)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "ensure-host-deps: installing:$need"
# Unreachable extra sources make `apt-get update` exit 100 while the Debian
# lists are still refreshed: do not stop here, let the install decide.
apt-get update -q || echo "ensure-host-deps: apt-get update reported errors (continuing)" >&2
# Maintainer scripts must not start services on the controller (openssh-server would start
# the system sshd): a temporary policy-rc.d says no, unless the machine has one of its own.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy=yes
fi
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need || status=$?
[ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
[ "${status:-0}" = 0 ] || exit "$status"
echo "ensure-host-deps: done"
