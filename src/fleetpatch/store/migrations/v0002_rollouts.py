"""Migration 2: rollout state (plan, per-host progress) and per-host leases.

FROZEN once released: carries its own copy of the table definitions.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.engine import Connection

from fleetpatch.store.types import UtcDateTime

metadata = MetaData()

rollouts = Table(
    "rollouts",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("plan", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("controller", String(255), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

rollout_hosts = Table(
    "rollout_hosts",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("batch", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_rollout_hosts_run_batch", "run_id", "batch", "position"),
)

host_leases = Table(
    "host_leases",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)


def upgrade(conn: Connection) -> None:
    """Create the rollout and lease tables; host results get the install summary."""
    metadata.create_all(conn)
    conn.execute(text("ALTER TABLE host_results ADD COLUMN install_summary JSON"))
