#!/usr/bin/env bash
# `make bench`: set up what the benchmark needs (from a fresh clone), then run it.
#
#   benchmarks/run.sh                                  # N = 50, 200; 3 reps; all tools
#   benchmarks/run.sh --sizes 50,200,500 --reps 5      # any bench.py option
#   BENCH_SIMULATOR=1 benchmarks/run.sh                # then also the 1k/10k simulator run
#
# * openssh-server (Debian's /usr/sbin/sshd) is installed if missing; the system's ssh service
#   is NOT started: the harness runs its own sshd with its own config on a high port.
# * .bench/venv (separate from fleetpatch's .venv) gets pyinfra and ansible-core.
# * fleetpatch's own .venv is made by `make install` (the bench target depends on it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BENCH_VENV=.bench/venv
PYINFRA_SPEC=${PYINFRA_SPEC:-pyinfra>=3,<4}
ANSIBLE_SPEC=${ANSIBLE_SPEC:-ansible-core>=2.17,<2.20}

if [ ! -x /usr/sbin/sshd ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "benchmarks/run.sh: /usr/sbin/sshd is missing; install openssh-server (needs root)" >&2
        exit 2
    fi
    echo "installing openssh-server (the harness starts its own sshd; the service stays off)"
    # policy-rc.d exit 101 = maintainer scripts must not start services; only if none exists.
    created_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server \
        || { apt-get update && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends openssh-server; }
    [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x "$BENCH_VENV/bin/pyinfra" ] || [ ! -x "$BENCH_VENV/bin/ansible-playbook" ]; then
    echo "creating $BENCH_VENV with pyinfra and ansible-core"
    test -x "$BENCH_VENV/bin/python" || "$PYTHON" -m venv "$BENCH_VENV"
    "$BENCH_VENV/bin/pip" install -q --upgrade pip
    "$BENCH_VENV/bin/pip" install -q "$PYINFRA_SPEC" "$ANSIBLE_SPEC"
fi

.venv/bin/python benchmarks/bench.py "$@"
if [ -n "${BENCH_SIMULATOR:-}" ]; then
    # SIM_ARGS: more simulator options, e.g. SIM_ARGS="--fleet varied"
    # shellcheck disable=SC2086
    .venv/bin/python benchmarks/simulator.py --sizes "${SIM_SIZES:-1000,10000}" \
        --tools fleetpatch,fleetpatch-patched,raw ${SIM_ARGS:-}
fi
