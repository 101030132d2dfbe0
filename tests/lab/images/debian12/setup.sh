#!/bin/sh
# Build step for fleetpatch-lab/debian12, run inside a container of
# fleetpatch-lab/base:bookworm (whose sources list only the bookworm release).
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
apt_q="-q -o Dpkg::Use-Pty=0"

# 1. Install the package set from the bookworm release only.
apt-get $apt_q update
pkgs=$(grep -v '^#' "$here/packages.txt" | grep -v '^$' | tr '\n' ' ')
# shellcheck disable=SC2086
apt-get $apt_q install -y --no-install-recommends $pkgs
apt-get clean

# 2. Now make it a normal Debian 12: release + security + updates.
cat > /etc/apt/sources.list <<'LIST'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
apt-get $apt_q update

# 3. Pre-download every pending update so later installs work offline.
apt-get $apt_q -y -d dist-upgrade

pending=$(apt-get -s -o Debug::NoLocking=1 dist-upgrade | grep -c '^Inst ' || true)
security=$(apt-get -s -o Debug::NoLocking=1 dist-upgrade | grep '^Inst ' | grep -c 'Debian-Security:' || true)
echo "lab: $pending pending updates, $security from Debian-Security"
mkdir -p /etc/fleetpatch-lab
printf 'pending=%s\nsecurity=%s\nbuilt=%s\n' "$pending" "$security" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    > /etc/fleetpatch-lab/debian12-build-state
[ "$pending" -gt 0 ] && [ "$security" -gt 0 ] || { echo "no pending security updates?!" >&2; exit 1; }
rm -rf "$here"
