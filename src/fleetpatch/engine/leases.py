"""What a host's lease says to the person who meets it: who holds it, and whether that
controller is still alive (a lease left by a killed or interrupted controller blocks the host
until its run is resumed, the lease is released, or it expires)."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Literal

from fleetpatch.store.rollouts import Lease

HolderState = Literal["running", "dead", "elsewhere"]


def holder_state(holder: str) -> HolderState:
    """``running``: the holder (``HOSTNAME:PID``) is a fleetpatch process alive on this
    machine; ``dead``: it was on this machine and is gone; ``elsewhere``: another machine's
    (which cannot be checked from here)."""
    name, _, pid_text = holder.rpartition(":")
    if name != socket.gethostname() or not pid_text.isdigit():
        return "elsewhere"
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        return "running"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read()
    except OSError:
        return "running"
    return "running" if b"fleetpatch" in command else "dead"  # the PID was reused


def lease_message(host: str, lease: Lease) -> str:
    """Why ``host`` is not touched, and what to do about it."""
    since = _time(lease.acquired_at)
    if holder_state(lease.holder) == "dead":
        return (
            f"{host} is leased to run {lease.run_id}, whose controller ({lease.holder}) is no "
            f"longer running (killed or interrupted; lease taken {since}, expires "
            f"{_time(lease.expires_at)}). An install it started may still be running on the "
            f"host. Resume that run: fleetpatch run --resume {lease.run_id} (it attaches to "
            f"the install), or, once sure nothing runs there: fleetpatch lease release {host}; "
            "not touched"
        )
    return (
        f"{host} is being patched by run {lease.run_id} ({lease.holder}, since {since}); "
        "not touched"
    )


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
