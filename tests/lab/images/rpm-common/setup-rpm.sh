#!/bin/sh
# Shared build step of the rpm lab images (rocky9, al2023, sles15), run inside a container of
# fleetpatch-lab/base:bookworm: $1 = the image's recipe dir (with image.conf, os-release and
# rpm-common/ copied in by build-images.sh).
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
here=$1
. "$here/image.conf"

# 1. rpm, the package manager and createrepo_c from Debian's archive.
apt-get -q -o Dpkg::Use-Pty=0 update >/dev/null
# shellcheck disable=SC2086
apt-get -q -o Dpkg::Use-Pty=0 install -y --no-install-recommends $APT_PACKAGES >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*

# 2. One rpm database at the usual place for rpm, dnf and libzypp alike.
mkdir -p /etc/rpm
echo '%_dbpath /var/lib/rpm' > /etc/rpm/macros
rpm --initdb

# 3. The distro's identity (the Debian files are replaced, apt stays installed).
rm -f /etc/os-release /usr/lib/os-release
cp "$here/os-release" /usr/lib/os-release
ln -s ../usr/lib/os-release /etc/os-release
if [ -n "$SYSTEM_RELEASE" ]; then echo "$SYSTEM_RELEASE" > /etc/system-release; fi

# 4. Test packages, repository, updateinfo.
"$here/rpm-common/make-repo.sh" "$here/rpm-common" "$here/image.conf"

# 5. The package manager's repository configuration and metadata cache.
case $PM in
    dnf)
        mkdir -p /etc/yum.repos.d
        printf '[fp]\nname=fleetpatch lab repository\nbaseurl=file:///srv/repo\nenabled=1\ngpgcheck=0\nmetadata_expire=never\n' \
            > /etc/yum.repos.d/fp.repo
        # Debian's dnf-plugins-core enables the "local" plugin, whose repo does not exist here.
        sed -i 's/^enabled *=.*/enabled = false/' /etc/dnf/plugins/local.conf
        dnf -q makecache
        n=$(dnf -q updateinfo list --updates 2>/dev/null | wc -l)
        u=$(dnf -q repoquery --upgrades --latest-limit=1 2>/dev/null | wc -l)
        echo "lab: dnf sees $u upgradable packages and $n advisory rows (updateinfo list --updates)"
        [ "$n" -gt 0 ] && [ "$u" -gt 0 ] || { echo "dnf sees no updates?!" >&2; exit 1; }
        ;;
    zypper)
        mkdir -p /etc/zypp/repos.d
        printf '[fp]\nname=fleetpatch lab repository\nbaseurl=file:///srv/repo\nenabled=1\nautorefresh=0\ngpgcheck=0\ntype=rpm-md\n' \
            > /etc/zypp/repos.d/fp.repo
        # Kernels are multiversion (install-only), as on SLES.
        printf '[main]\nmultiversion = provides:multiversion(kernel)\nmultiversion.kernels = latest,running\n' \
            > /etc/zypp/zypp.conf
        zypper -n -q refresh
        n=$(zypper -n -q --no-color --xmlout list-patches | grep -c '<update ' || true)
        echo "lab: zypper sees $n needed patches"
        [ "$n" -gt 0 ] || { echo "zypper sees no patches?!" >&2; exit 1; }
        ;;
esac
rm -rf "$here"
