"""What a host's lease says to the person who meets it: who holds it, and whether that
controller is still alive (a lease left by a killed or interrupted controller blocks the host
until its run is resumed, the lease is released, or it expires).

Alive is decided as for a run's controller (:func:`fleetpatch.store.liveness.controller_alive`):
the holder's pid exists on this machine and that process started before it took the lease (a
process started later holds the pid by reuse). One rule for ``fleetpatch runs``, ``report``,
``lease list``, ``lease release`` and the message a blocked install prints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fleetpatch.store.liveness import controller_alive
from fleetpatch.store.rollouts import Lease

HolderState = Literal["running", "dead", "elsewhere"]


def holder_state(lease: Lease) -> HolderState:
    """``running``: the holder (``HOSTNAME:PID``) is alive on this machine and started before
    it took the lease; ``dead``: it was on this machine and is gone, or its pid now belongs to
    a later process; ``elsewhere``: another machine's (which cannot be checked from here)."""
    alive = controller_alive(lease.holder, lease.acquired_at)
    if alive is None:
        return "elsewhere"
    return "running" if alive else "dead"


def lease_message(host: str, lease: Lease) -> str:
    """Why ``host`` is not touched, and what to do about it."""
    since = _time(lease.acquired_at)
    if holder_state(lease) == "dead":
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
