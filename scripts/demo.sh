#!/usr/bin/env bash
# make demo: start a 3-host Debian 12 lab fleet, scan it, show the report, stop the fleet.
# KEEP=1 leaves the fleet running and prints how to reach it.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
FP=.venv/bin/fleetpatch
export TESTCONTAINERS_RYUK_DISABLED=true
export FLEETPATCH_STORE="${FLEETPATCH_STORE:-}"

$PY tests/lab/fleet.py down --prefix demo >/dev/null 2>&1 || true
$PY tests/lab/fleet.py up --image fleetpatch-lab/debian12 --count 3 --prefix demo \
    --inventory inventory/lab.yaml --known-hosts .lab/known_hosts || exit 1

echo
echo "\$ fleetpatch inventory list -i inventory/lab.yaml"
$FP inventory list -i inventory/lab.yaml
echo
echo "\$ fleetpatch scan -i inventory/lab.yaml"
start=$(date +%s%N)
$FP scan -i inventory/lab.yaml
rc=$?
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
printf '\nscan exit code %s (0 compliant, 1 non-compliant, 3 some host failed); took %d.%03d s\n' \
    "$rc" $((ms / 1000)) $((ms % 1000))
echo "results are kept in the store: fleetpatch report  (re-renders the latest run)"

echo
echo "\$ fleetpatch run playbooks/lab-rolling-install.yaml --dry-run   # the plan, nothing changes"
$FP run playbooks/lab-rolling-install.yaml --dry-run | head -40
echo "  ..."
echo
echo "\$ fleetpatch run playbooks/lab-rolling-install.yaml            # canary, then rolling batches"
$FP run playbooks/lab-rolling-install.yaml
install_rc=$?
echo
echo "\$ fleetpatch scan -i inventory/lab.yaml                        # the second report"
$FP scan -i inventory/lab.yaml
rc=$?
echo "install exit code $install_rc, second scan exit code $rc (0 = the fleet is compliant)"

if [ "${KEEP:-}" = "1" ]; then
    echo
    echo "KEEP=1: the fleet is still running. Reach a host with:"
    grep -E '^\s+demo-[0-9]+:' -A0 inventory/lab.yaml | head -3
    echo "  ssh -i .lab/id_ed25519 -o UserKnownHostsFile=.lab/known_hosts -p PORT root@127.0.0.1"
    echo "Stop it with: make clean-lab"
else
    $PY tests/lab/fleet.py down --prefix demo >/dev/null
    echo "lab fleet stopped (KEEP=1 leaves it running)"
fi
case "$rc" in 0|1) exit 0 ;; *) exit "$rc" ;; esac
