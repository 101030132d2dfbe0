#!/bin/sh
# Runs on the build host: builds the fp-* test packages from packages.spec with
# dpkg-deb and a flat-pool apt repository (apt-ftparchive) from suites.spec.
# Usage: make-repo.sh OUTDIR   -> OUTDIR/repo (to become /srv/repo) and OUTDIR/installed/*.deb
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
arch=$(dpkg --print-architecture)
rm -rf "$out/repo" "$out/installed" "$out/src"
mkdir -p "$out/repo" "$out/installed" "$out/src"

build_deb() { # name version priority section arch flags -> path of .deb
    name=$1 version=$2 prio=$3 section=$4 a=$5 flags=$6
    [ "$a" = native ] && a=$arch
    upstream=${version#*:}
    src="$out/src/${name}_${upstream}_$a"
    if [ ! -d "$src" ]; then
        mkdir -p "$src/DEBIAN" "$src/usr/share/fp-lab" "$src/usr/share/doc/$name"
        printf '%s %s\n' "$name" "$version" > "$src/usr/share/fp-lab/$name.version"
        printf 'fleetpatch lab test package %s, version %s. Public domain.\n' "$name" "$version" \
            > "$src/usr/share/doc/$name/copyright"
        cat > "$src/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: $a
Maintainer: fleetpatch lab <lab@fleetpatch.invalid>
Priority: $prio
Section: $section
Installed-Size: 8
Description: fleetpatch lab test package $name
 Built by tests/lab/build-images.sh for fleetpatch's integration tests.
CTL
        if [ "$flags" = postinst-fail ]; then
            printf '#!/bin/sh\necho "%s %s: postinst fails on purpose (lab)" >&2\nexit 1\n' \
                "$name" "$version" > "$src/DEBIAN/postinst"
            chmod 0755 "$src/DEBIAN/postinst"
        fi
        # Fixed mtimes: same spec, same bytes.
        find "$src" -exec touch -h -d '2024-01-01 00:00:00 UTC' {} +
        SOURCE_DATE_EPOCH=1704067200 dpkg-deb --root-owner-group -Zxz --build "$src" "$src.deb" >/dev/null
    fi
    echo "$src.deb"
}

grep -v '^#' "$here/packages.spec" | grep -v '^[[:space:]]*$' | \
while read -r name version where prio section a flags; do
    deb=$(build_deb "$name" "$version" "$prio" "$section" "$a" "$flags")
    for w in $(echo "$where" | tr ',' ' '); do
        if [ "$w" = installed ]; then
            cp "$deb" "$out/installed/"
        else
            mkdir -p "$out/repo/pool/$w"
            cp "$deb" "$out/repo/pool/$w/"
        fi
    done
done

cd "$out/repo"
grep -v '^#' "$here/suites.spec" | grep -v '^[[:space:]]*$' | \
while read -r suite origin label codename version; do
    d="dists/$suite/main/binary-$arch"
    mkdir -p "$d" "pool/$suite"
    apt-ftparchive packages "pool/$suite" > "$d/Packages" 2>/dev/null
    gzip -9n < "$d/Packages" > "$d/Packages.gz"
    apt-ftparchive \
        -o "APT::FTPArchive::Release::Origin=$origin" \
        -o "APT::FTPArchive::Release::Label=$label" \
        -o "APT::FTPArchive::Release::Suite=$suite" \
        -o "APT::FTPArchive::Release::Codename=$codename" \
        -o "APT::FTPArchive::Release::Version=$version" \
        -o "APT::FTPArchive::Release::Architectures=$arch" \
        -o "APT::FTPArchive::Release::Components=main" \
        -o "APT::FTPArchive::Release::Description=fleetpatch lab repository ($suite)" \
        release "dists/$suite" > "$out/Release.tmp"
    mv "$out/Release.tmp" "dists/$suite/Release"
done
rm -rf "$out/src"
