"""The settings every SQLite connection of the store gets, for both writers (SQLAlchemy's and
the scan's plain ``sqlite3`` one)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

BUSY_TIMEOUT_S = 30.0
"""How long a connection waits for another writer's lock before it gives up."""


def configure_connection(cursor: Any, *, wal: bool) -> None:
    """WAL journaling (files only), foreign keys, a busy timeout, ``synchronous=NORMAL``.

    Switching a new database to WAL takes an exclusive lock, and SQLite answers "database is
    locked" at once, without waiting on the busy timeout, when another connection holds the
    file at that moment (two fleetpatch processes opening a new store together). The switch
    is retried until the busy timeout has passed."""
    if wal:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
