"""The ordered list of migration steps. Append only; never edit a released step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from fleetpatch.store.migrations import v0001_initial, v0002_rollouts, v0003_run_liveness


@dataclass(frozen=True)
class Migration:
    """One step: after it has run, the schema is at ``version``."""

    version: int
    description: str
    upgrade: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", v0001_initial.upgrade),
    Migration(2, "rollout state and host leases", v0002_rollouts.upgrade),
    Migration(3, "run controller, heartbeat and targeted hosts", v0003_run_liveness.upgrade),
)

LATEST_VERSION = MIGRATIONS[-1].version
