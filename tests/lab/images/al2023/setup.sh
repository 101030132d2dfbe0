#!/bin/sh
# Build step for fleetpatch-lab/al2023: the shared rpm recipe (rpm-common/setup-rpm.sh).
set -eu
exec /bin/sh "$(dirname "$0")/rpm-common/setup-rpm.sh" "$(cd "$(dirname "$0")" && pwd)"
