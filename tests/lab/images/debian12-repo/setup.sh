#!/bin/sh
# Build step for fleetpatch-lab/debian12-repo, run inside a container of
# fleetpatch-lab/base:bookworm. The build host already ran make-repo.sh into
# this directory (repo/ and installed/).
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)

# Old versions, installed with dpkg directly (they are not in any suite).
dpkg -i "$here"/installed/*.deb

rm -rf /srv/repo
mkdir -p /srv
cp -a "$here/repo" /srv/repo

# Only the local repository: no real archive, fully offline and deterministic.
rm -f /etc/apt/sources.list.d/*
cat > /etc/apt/sources.list <<'LIST'
deb [trusted=yes] file:/srv/repo local main
deb [trusted=yes] file:/srv/repo local-security main
deb [trusted=yes] file:/srv/repo local-updates main
LIST
rm -rf /var/lib/apt/lists/*
apt-get -q update
apt-get -s -o Debug::NoLocking=1 dist-upgrade | grep '^Inst ' > /etc/fleetpatch-lab-expected-inst.txt
n=$(grep -c '^Inst ' /etc/fleetpatch-lab-expected-inst.txt || true)
[ "$n" -eq 5 ] || { echo "expected 5 pending fp-* updates, got $n" >&2; exit 1; }
sed 's/^/lab: /' /etc/fleetpatch-lab-expected-inst.txt
rm -f /etc/fleetpatch-lab-expected-inst.txt
rm -rf "$here"
