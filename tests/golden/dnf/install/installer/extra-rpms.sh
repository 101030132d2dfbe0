#!/bin/sh
# Build extra lab RPMs for install golden cases: a long name (wraps dnf's table), dependencies
# (new, upgraded, weak) and an obsolete. Run inside a fleetpatch-lab rocky9/al2023 container.
set -eu
DIST=${1:-.el9}
top=/tmp/fp-extra; rm -rf $top; mkdir -p $top/SPECS
mk() { # name version requires recommends obsoletes
  cat > $top/SPECS/$1-$2.spec <<SPEC
Name: $1
Version: $2
Release: 1$DIST
Summary: fleetpatch lab extra package $1
License: MIT
BuildArch: x86_64
$3
%description
extra
%install
mkdir -p %{buildroot}/usr/share/fleetpatch-lab/$1
echo "$1 $2" > %{buildroot}/usr/share/fleetpatch-lab/$1/$2
%files
/usr/share/fleetpatch-lab/$1/$2
SPEC
  rpmbuild -bb --quiet --define "_topdir $top" --define "_build_id_links none" $top/SPECS/$1-$2.spec >/dev/null 2>&1
}
LONG=fp-a-package-name-much-longer-than-the-name-column-of-dnf
mk $LONG 1.0 ""
mk $LONG 1.1 "Requires: fp-newdep
Requires: fp-crit >= 1.1
Recommends: fp-weakdep
Obsoletes: fp-stable < 2"
mk fp-newdep 1.0 ""
mk fp-weakdep 1.0 ""
mk fp-needsmissing 1.0 ""
mk fp-needsmissing 1.1 "Requires: fp-missing-library"
rpm -i --nodeps $top/RPMS/x86_64/$LONG-1.0-1$DIST.x86_64.rpm $top/RPMS/x86_64/fp-needsmissing-1.0-1$DIST.x86_64.rpm 2>/dev/null
cd /srv/repo
ui=$(ls repodata/*updateinfo* | head -1)
case "$ui" in
  *.gz) gunzip -c "$ui" > /tmp/updateinfo.xml;;
  *.zst) zstd -dc "$ui" > /tmp/updateinfo.xml;;
  *.bz2) bzip2 -dc "$ui" > /tmp/updateinfo.xml;;
  *.xz) xz -dc "$ui" > /tmp/updateinfo.xml;;
  *) cp "$ui" /tmp/updateinfo.xml;;
esac
cp /tmp/fp-extra/RPMS/x86_64/*.rpm /srv/repo/
rm -rf /srv/repo/repodata
createrepo_c --quiet /srv/repo
modifyrepo_c --mdtype=updateinfo /tmp/updateinfo.xml /srv/repo/repodata/ >/dev/null
if command -v dnf >/dev/null 2>&1; then dnf -q makecache >/dev/null 2>&1; else zypper -n -q refresh >/dev/null 2>&1; fi
echo built
