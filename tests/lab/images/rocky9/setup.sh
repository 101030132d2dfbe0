#!/bin/sh
# Build step for fleetpatch-lab/rocky9: the shared rpm recipe (rpm-common/setup-rpm.sh).
set -eu
exec /bin/sh "$(dirname "$0")/rpm-common/setup-rpm.sh" "$(cd "$(dirname "$0")" && pwd)"
