#!/usr/bin/env bash
# Build fleetpatch's lab images from Debian's archive only (no registry needed).
#
#   tests/lab/build-images.sh [IMAGE...]      IMAGE: base debian12 debian12-repo postgres
#                                             rocky9 al2023 sles15
#   FORCE=1 tests/lab/build-images.sh         rebuild even if up to date
#   LAB_MIRROR=http://... tests/lab/build-images.sh
#
# Idempotent: every image carries the label fleetpatch.lab.recipe=<sha256 of its
# recipe (this script, its recipe directory, the mirror, its parent's recipe hash)>;
# (images deliberately do NOT carry fleetpatch.lab=1: containers inherit image labels, and
# that label marks containers started by tests/lab/fleet.py);
# an image whose label matches is skipped. Derived images build on top of
# fleetpatch-lab/base:bookworm with `docker create` + `docker cp` + `docker start`
# + `docker commit` (no Dockerfile, no BuildKit needed).
# Needs: root, docker, mmdebstrap, dpkg-deb, apt-ftparchive (tests/lab/ensure-host-deps.sh).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPES=$LAB_DIR/images
SCRIPT=$LAB_DIR/build-images.sh
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
FORCE=${FORCE:-0}
LABEL_KEY=fleetpatch.lab.recipe
BASE_TAG=fleetpatch-lab/base:bookworm
LOG_DIR=${LAB_LOG_DIR:-/var/tmp/fleetpatch-lab-logs}

ALL_IMAGES=(base debian12 debian12-repo postgres rocky9 al2023 sles15)
declare -A TAG=(
    [base]=$BASE_TAG
    [debian12]=fleetpatch-lab/debian12:latest
    [debian12-repo]=fleetpatch-lab/debian12-repo:latest
    [postgres]=fleetpatch-lab/postgres:latest
    [rocky9]=fleetpatch-lab/rocky9:latest
    [al2023]=fleetpatch-lab/al2023:latest
    [sles15]=fleetpatch-lab/sles15:latest
)
declare -A CMD=(
    [debian12]='["/usr/local/sbin/lab-init"]'
    [debian12-repo]='["/usr/local/sbin/lab-init"]'
    [postgres]='["/usr/local/sbin/pg-init"]'
    [rocky9]='["/usr/local/sbin/lab-init"]'
    [al2023]='["/usr/local/sbin/lab-init"]'
    [sles15]='["/usr/local/sbin/lab-init"]'
)
declare -A EXPOSE=([debian12]=22 [debian12-repo]=22 [postgres]=5432 [rocky9]=22 [al2023]=22 [sles15]=22)
# Recipe directories shared by several images: copied into the stage as <dir>/, part of the hash.
declare -A SHARED=([rocky9]=rpm-common [al2023]=rpm-common [sles15]=rpm-common)

log() { printf '[lab-build] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=
CONTAINER=
cleanup() {
    if [ -n "$CONTAINER" ]; then docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

recipe_hash() { # NAME -> hash of everything that defines the image
    local name=$1 parent_hash=
    if [ "$name" != base ]; then parent_hash=$(recipe_hash base); fi
    {
        echo "mirror=$MIRROR suite=$SUITE parent=$parent_hash name=$name"
        cat "$SCRIPT"
        (cd "$RECIPES/$name" && find . -type f | LC_ALL=C sort | while read -r f; do
            echo "== $f"; cat "$f"; done)
        if [ -n "${SHARED[$name]:-}" ]; then
            (cd "$RECIPES/${SHARED[$name]}" && find . -type f | LC_ALL=C sort | while read -r f; do
                echo "== shared $f"; cat "$f"; done)
        fi
    } | sha256sum | cut -d' ' -f1
}

image_label() { # TAG -> recipe label of the existing image, or empty
    docker image inspect -f "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

up_to_date() { # NAME: same recipe, and (derived images) built on the current base image
    local name=$1 want have
    want=$(recipe_hash "$name")
    have=$(image_label "${TAG[$name]}")
    [ -n "$have" ] && [ "$have" = "$want" ] || return 1
    if [ "$name" != base ]; then
        have=$(docker image inspect -f '{{ index .Config.Labels "fleetpatch.lab.parent" }}' \
            "${TAG[$name]}" 2>/dev/null || true)
        [ "$have" = "$(image_id "$BASE_TAG")" ] || return 1
    fi
}

prune_old() { # remove untagged leftovers of earlier builds of our images
    docker image prune -f --filter "label=$LABEL_KEY" >/dev/null 2>&1 || true
}

build_base() {
    local hash tar
    hash=$(recipe_hash base)
    WORK=$(mktemp -d /var/tmp/fleetpatch-lab.XXXXXX)
    tar=$WORK/rootfs.tar
    log "base: mmdebstrap $SUITE from $MIRROR"
    mmdebstrap --quiet \
        --variant=minbase \
        --components=main \
        --include=openssh-server,sudo,ca-certificates,procps \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --skip=chroot/policy-rc.d \
        --extract-hook="install -D -m 0755 '$RECIPES/base/policy-rc.d' \"\$1/usr/sbin/policy-rc.d\"" \
        --customize-hook="'$RECIPES/base/customize.sh' \"\$1\"" \
        "$SUITE" "$tar" "$MIRROR"
    docker import \
        --change 'CMD ["/usr/local/sbin/lab-init"]' \
        --change 'EXPOSE 22' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $LABEL_KEY=$hash fleetpatch.lab.image=base" \
        "$tar" "$BASE_TAG" >/dev/null
    rm -rf "$WORK"; WORK=
}

build_derived() { # NAME
    local name=$1 hash stage rc
    hash=$(recipe_hash "$name")
    WORK=$(mktemp -d /var/tmp/fleetpatch-lab.XXXXXX)
    stage=$WORK/stage
    cp -a "$RECIPES/$name" "$stage"
    if [ -n "${SHARED[$name]:-}" ]; then cp -a "$RECIPES/${SHARED[$name]}" "$stage/${SHARED[$name]}"; fi
    if [ -x "$stage/make-repo.sh" ]; then
        log "$name: building test packages and repository on the host"
        "$stage/make-repo.sh" "$stage"
    fi
    CONTAINER=fp-lab-build-$name-$$
    docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    # No labels on the build container: `docker commit` would copy them into the image.
    docker create --name "$CONTAINER" \
        "$BASE_TAG" /bin/sh /tmp/lab-build/setup.sh >/dev/null
    docker cp "$stage/." "$CONTAINER:/tmp/lab-build"
    log "$name: running setup.sh in a container of $BASE_TAG (log: $LOG_DIR/$name.log)"
    mkdir -p "$LOG_DIR"
    docker start -a "$CONTAINER" > "$LOG_DIR/$name.log" 2>&1 || true
    rc=$(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")
    if [ "$rc" != 0 ]; then
        tail -n 40 "$LOG_DIR/$name.log" >&2
        die "$name: setup.sh failed (exit $rc), full log: $LOG_DIR/$name.log"
    fi
    # Summary lines the setup scripts print for humans start with "lab:".
    grep '^lab:' "$LOG_DIR/$name.log" | sed "s/^lab:/[lab-build] $name:/" >&2 || true
    docker commit \
        --change "CMD ${CMD[$name]}" \
        --change "EXPOSE ${EXPOSE[$name]}" \
        --change "LABEL $LABEL_KEY=$hash fleetpatch.lab.parent=$(image_id "$BASE_TAG") fleetpatch.lab.image=$name" \
        "$CONTAINER" "${TAG[$name]}" >/dev/null
    docker rm -f "$CONTAINER" >/dev/null; CONTAINER=
    rm -rf "$WORK"; WORK=
}

main() {
    local wanted=("$@") name t0 t1 size
    [ ${#wanted[@]} -gt 0 ] || wanted=("${ALL_IMAGES[@]}")
    [ "$(id -u)" = 0 ] || die "run as root (mmdebstrap root mode)"
    command -v docker >/dev/null || die "docker not found"
    docker info >/dev/null 2>&1 || die "docker daemon not reachable"
    for name in "${wanted[@]}"; do
        [ -n "${TAG[$name]:-}" ] || die "unknown image '$name' (known: ${ALL_IMAGES[*]})"
    done
    # A derived image needs a current base.
    for name in "${wanted[@]}"; do
        if [ "$name" != base ] && ! up_to_date base; then wanted=(base "${wanted[@]}"); break; fi
    done
    local done_base=0
    for name in "${wanted[@]}"; do
        if [ "$name" = base ] && [ $done_base = 1 ]; then continue; fi
        if [ "$FORCE" != 1 ] && up_to_date "$name"; then
            log "$name: up to date (${TAG[$name]})"
            continue
        fi
        t0=$(date +%s)
        if [ "$name" = base ]; then build_base; done_base=1; else build_derived "$name"; fi
        t1=$(date +%s)
        size=$(docker image inspect -f '{{.Size}}' "${TAG[$name]}")
        log "$name: built ${TAG[$name]} in $((t1 - t0)) s ($((size / 1000000)) MB)"
    done
    prune_old
}

main "$@"
