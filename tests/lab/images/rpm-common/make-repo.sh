#!/bin/sh
# Build the lab's test RPMs and repository inside the build container (rpmbuild, createrepo_c
# and modifyrepo_c from Debian's archive). Usage: make-repo.sh RECIPE_DIR IMAGE_CONF
#   installs the old versions into the rpm db (rpm -i --nodeps), writes /srv/repo with
#   repodata + updateinfo.xml, and /etc/fleetpatch-lab/advisories.tsv (what was published).
set -eu
here=$1
. "$2"
work=$(mktemp -d)
now=$(date -u +%s)
mkdir -p /srv/repo /etc/fleetpatch-lab

kernel_sub() { sed "s/@KERNEL/$KERNEL/g"; }

build() { # name arch epoch version-release
    _n=$1; _a=$2; _v=${4%%-*}; _r=${4#*-}.$DIST; _p=$(provides "$1")
    set -- "$@" --define "_topdir $work/top" --define "_rpmdir $work/rpms" \
        --define "fp_name $1" --define "fp_arch $2" --define "fp_version $_v" \
        --define "fp_release $_r" --define "fp_epoch $3"
    if [ -n "$_p" ]; then set -- "$@" --define "fp_provides $_p"; fi
    shift 4
    rpmbuild -bb --quiet "$here/fp.spec" "$@" >/dev/null
    echo "$work/rpms/$_a/$_n-$_v-$_r.$_a.rpm"
}
provides() {
    case $1 in
        "$KERNEL") echo "installonlypkg(kernel) multiversion(kernel)" ;;
        "$RELEASE_PKG") echo "system-release system-release(releasever) = $RELEASEVER" ;;
        *) echo "" ;;
    esac
}

# 1. The release package (dnf reads $releasever from its system-release(releasever)).
rpm_release=$(build "$RELEASE_PKG" noarch 0 "$RELEASE_VER-1")
rpm -i --nodeps "$rpm_release" 2>/dev/null
cp "$rpm_release" /srv/repo/

# 2. Test packages: installed versions into the rpm db, every version into the repository.
grep -v '^#' "$here/packages.txt" | kernel_sub | while read -r name arch epoch inst repo; do
    [ -n "$name" ] || continue
    for vr in $(echo "$inst" | tr ',' ' '); do
        [ "$vr" = - ] && continue
        f=$(build "$name" "$arch" "$epoch" "$vr")
        rpm -i --nodeps "$f" 2>/dev/null
        cp "$f" /srv/repo/
    done
    for vr in $(echo "$repo" | tr ',' ' '); do
        [ "$vr" = - ] && continue
        cp "$(build "$name" "$arch" "$epoch" "$vr")" /srv/repo/
    done
done
createrepo_c --quiet /srv/repo

# 3. updateinfo.xml. Dates: "YYYY-MM-DD HH:MM:SS" (RHEL/AL style) or epoch seconds (SUSE).
stamp() {
    if [ "$DATE_STYLE" = epoch ]; then echo "$1"
    else date -u -d "@$1" '+%Y-%m-%d %H:%M:%S'; fi
}
arch_of() { grep -v '^#' "$here/packages.txt" | kernel_sub | awk -v n="$1" '$1 == n {print $2}'; }
ui=$work/updateinfo.xml
printf '<?xml version="1.0" encoding="UTF-8"?>\n<updates>\n' > "$ui"
: > /etc/fleetpatch-lab/advisories.tsv
n=0
grep -v '^#' "$here/advisories.txt" | kernel_sub | while read -r key type sev days pkgs refs images; do
    [ -n "$key" ] || continue
    n=$((n + 1))
    case ",$images," in *",all,"*|*",$IMAGE,"*) ;; *) continue ;; esac
    eval "id=\$ID_$type"; id=$(printf "$id" "$n")
    eval "utype=\$TYPE_$type"
    eval "usev=\$SEV_$sev"
    issued=$((now - days * 86400)); updated=$((issued + 3600))
    title="$sev: $pkgs $type update"
    {
        printf ' <update from="lab@fleetpatch.invalid" status="stable" type="%s" version="1">\n' "$utype"
        printf '  <id>%s</id>\n  <title>%s</title>\n' "$id" "$title"
        [ -n "$usev" ] && printf '  <severity>%s</severity>\n' "$usev"
        printf '  <release>%s</release>\n' "$PRETTY"
        printf '  <issued date="%s"/>\n  <updated date="%s"/>\n' "$(stamp $issued)" "$(stamp $updated)"
        printf '  <references>\n'
        for ref in $(echo "$refs" | tr ',' ' '); do
            case $ref in
                -) ;;
                CVE-*) printf '   <reference href="https://www.cve.org/CVERecord?id=%s" id="%s" type="cve" title="%s"/>\n' "$ref" "$ref" "$ref" ;;
                *) printf '   <reference href="https://bugzilla.fleetpatch.invalid/%s" id="%s" type="bugzilla" title="lab bug %s"/>\n' "$ref" "$ref" "$ref" ;;
            esac
        done
        printf '  </references>\n  <description>fleetpatch lab advisory %s (%s).</description>\n' "$key" "$type"
        printf '  <pkglist><collection short="%s"><name>%s</name>\n' "$DIST" "$PRETTY"
        for p in $(echo "$pkgs" | tr ',' ' '); do
            # name-[epoch:]version-release
            rel=${p##*-}; rest=${p%-*}; ver=${rest##*-}; name=${rest%-*}
            epoch=0; case $ver in *:*) epoch=${ver%%:*}; ver=${ver#*:} ;; esac
            arch=$(arch_of "$name")
            printf '   <package name="%s" epoch="%s" version="%s" release="%s.%s" arch="%s" src="%s-%s-%s.%s.src.rpm">\n' \
                "$name" "$epoch" "$ver" "$rel" "$DIST" "$arch" "$name" "$ver" "$rel" "$DIST"
            printf '    <filename>%s-%s-%s.%s.%s.rpm</filename>\n' "$name" "$ver" "$rel" "$DIST" "$arch"
            case $name in "$KERNEL") printf '    <reboot_suggested>True</reboot_suggested>\n' ;; esac
            printf '   </package>\n'
        done
        printf '  </collection></pkglist>\n </update>\n'
    } >> "$ui"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$utype" "$usev" "$issued" "$updated" "$pkgs" \
        >> /etc/fleetpatch-lab/advisories.tsv
done
printf '</updates>\n' >> "$ui"
modifyrepo_c --mdtype=updateinfo "$ui" /srv/repo/repodata/ >/dev/null
echo "lab: $(ls /srv/repo/*.rpm | wc -l) rpms in /srv/repo, $(wc -l < /etc/fleetpatch-lab/advisories.tsv) advisories"
rm -rf "$work"
