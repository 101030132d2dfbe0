"""Our own small migration runner: an ordered list of steps and a ``schema_version`` table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Integer, MetaData, String, Table, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from fleetpatch.store.engine import WRITE_OPTION, display_url
from fleetpatch.store.errors import StoreSchemaTooNew
from fleetpatch.store.migrations import LATEST_VERSION, MIGRATIONS
from fleetpatch.store.types import UtcDateTime

_version_metadata = MetaData()
schema_version = Table(
    "schema_version",
    _version_metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(255), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

_PG_MIGRATION_LOCK = 0x666C7470  # "fltp": serialises concurrent migrators on PostgreSQL


def current_version(conn: Connection) -> int:
    """The schema version of the database; 0 for an empty database."""
    if not inspect(conn).has_table(schema_version.name):
        return 0
    return int(
        conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one()
    )


def migrate(engine: Engine) -> int:
    """Bring the database up to :data:`LATEST_VERSION`; return the version it is at.

    All pending steps run in one transaction (SQLite and PostgreSQL have transactional DDL),
    under the write lock (SQLite) or an advisory lock (PostgreSQL), so two processes opening a
    fresh store at once do not both migrate.

    Raises:
        StoreSchemaTooNew: the database is newer than this code; nothing is changed.
    """
    with engine.connect() as conn:
        found = current_version(conn)
        conn.rollback()
    _refuse_newer(engine, found)
    if found == LATEST_VERSION:
        return found
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            found = current_version(conn)
            _refuse_newer(engine, found)
            schema_version.create(conn, checkfirst=True)
            for step in MIGRATIONS:
                if step.version <= found:
                    continue
                step.upgrade(conn)
                conn.execute(
                    schema_version.insert().values(
                        version=step.version,
                        description=step.description,
                        applied_at=datetime.now(UTC),
                    )
                )
    return LATEST_VERSION


def _refuse_newer(engine: Engine, found: int) -> None:
    if found > LATEST_VERSION:
        raise StoreSchemaTooNew(display_url(engine.url), found, LATEST_VERSION)
