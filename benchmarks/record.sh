#!/usr/bin/env bash
# Record the answer every benchmark target replays: the stdout of fleetpatch's own rendered scan
# script, run once with `sh -s` inside a fresh fleetpatch-lab/debian12 container (a real
# Debian 12 with pending security updates; build it with `make lab-images`).
#
#   benchmarks/record.sh            # writes benchmarks/recorded/debian12-scan.out (+ .meta)
#
# The recording is committed, so `make bench` does not need Docker. Re-record when the scan
# script's output format changes (the harness checks that fleetpatch parses the recording).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-fleetpatch-lab/debian12}
OUT=benchmarks/recorded/debian12-scan.out
PY=${PY:-.venv/bin/python}
name="fpbench-record-$$"
script=$(mktemp)
trap 'rm -f "$script"; docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
"$PY" -c 'from fleetpatch.platforms.render import scan_script; print(scan_script(), end="")' \
    >"$script"
docker run -d --rm --name "$name" "$IMAGE" sleep 600 >/dev/null
docker exec -i "$name" sh -s <"$script" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
{
    echo "image: $IMAGE $(docker image inspect "$IMAGE" --format '{{.Id}}')"
    echo "recorded_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "script_sha256: $(sha256sum "$script" | cut -d' ' -f1)"
    echo "output_bytes: $(wc -c <"$OUT")"
} >"$OUT.meta"
cat "$OUT.meta"
