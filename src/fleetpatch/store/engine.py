"""Where the store lives and how we connect to it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url

from fleetpatch.store.sqlite_setup import BUSY_TIMEOUT_S, configure_connection, connect_read_only

STORE_ENV = "FLEETPATCH_STORE"
WRITE_OPTION = "fleetpatch_write"
"""Execution option: a transaction that will write (SQLite takes the write lock at BEGIN)."""


def default_store_url() -> str:
    """``$FLEETPATCH_STORE`` when set, else the SQLite file in the user's data directory
    (``platformdirs.user_data_dir("fleetpatch")/fleetpatch.db``)."""
    override = os.environ.get(STORE_ENV, "").strip()
    if override:
        return override
    path = Path(platformdirs.user_data_dir("fleetpatch")) / "fleetpatch.db"
    return URL.create("sqlite", database=str(path)).render_as_string()


def display_url(url: str | URL) -> str:
    """The URL with any password masked, for messages (as given when it does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: mask what looks like user:password@
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def sqlite_path(url: str | URL) -> str | None:
    """The database file of a SQLite URL; None for a server database or in-memory SQLite."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file::memory:") else database


def create_store_engine(url: str | URL) -> Engine:
    """Create an engine for ``url``. For SQLite: the parent directory is created, and every
    connection gets WAL journaling, foreign keys, ``synchronous=NORMAL`` and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
    _install_sqlite_hooks(engine, wal=not in_memory)
    return engine


def create_read_only_engine(url: str | URL) -> Engine:
    """An engine that only reads the SQLite file of ``url``, through
    :func:`~fleetpatch.store.sqlite_setup.connect_read_only` (``mode=ro``, else
    ``immutable=1``): for a store whose directory cannot be written or whose disk is full.

    Raises:
        ValueError: ``url`` is not a SQLite file.
    """
    path = sqlite_path(url)
    if path is None:
        raise ValueError(f"a read-only open needs a SQLite file, got {display_url(url)}")
    engine = create_engine(make_url(url), creator=lambda: connect_read_only(path))
    _install_sqlite_hooks(engine, wal=False)
    return engine


def _install_sqlite_hooks(engine: Engine, *, wal: bool) -> None:
    """Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (the
    SQLAlchemy-documented recipe), so DDL is transactional and writers BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            configure_connection(cursor, wal=wal)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = bool(conn.get_execution_options().get(WRITE_OPTION))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
