"""Migration 3: who runs a run and whether it is still alive.

``runs.controller`` (``host:pid`` of the process that began the run), ``runs.heartbeat_at``
(renewed while it goes) and ``runs.targeted_hosts`` (how many hosts it set out to do), so that
a reader can tell a run whose controller died (``interrupted``) from one still ``running``
(fleetpatch.store.liveness). Older rows keep nulls.

FROZEN once released.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, text
from sqlalchemy.engine import Connection

from fleetpatch.store.types import UtcDateTime


def upgrade(conn: Connection) -> None:
    """Add the three nullable columns to ``runs``."""
    for name, kind in (
        ("controller", String(255)),
        ("heartbeat_at", UtcDateTime()),
        ("targeted_hosts", Integer()),
    ):
        ddl_type = kind.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE runs ADD COLUMN {name} {ddl_type}"))
