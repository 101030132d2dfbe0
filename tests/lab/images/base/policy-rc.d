#!/bin/sh
# fleetpatch lab: containers have no init system. Never let maintainer scripts
# start/restart services (restarting ssh would kill the container's PID 1 sshd).
exit 101
