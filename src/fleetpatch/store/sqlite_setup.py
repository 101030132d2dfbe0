"""The settings every SQLite connection of the store gets, for both writers (SQLAlchemy's and
the scan's plain ``sqlite3`` one), and the read-only connection a reader falls back to."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def connect_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection to the SQLite store ``path``, for reading a store whose
    directory cannot be written or whose disk is full (a WAL database's ``-shm`` file cannot
    be created there, so a plain open fails).

    First ``mode=ro``: SQLite still reads the write-ahead log, so what a writer committed and
    did not yet checkpoint is seen, and a live writer is no problem; it needs the ``-shm``
    file to exist or to be creatable. Else, when the ``-wal`` file is absent or empty (the
    database file holds every commit), ``immutable=1``: SQLite reads the file without locks
    and without the WAL. That is correct because nothing can be missed (no log content) and
    no writer can be at work: a writer needs a log, and the directory or the disk where it
    would write one is exactly what failed. A log with content that cannot be read is never
    skipped: that is an error (the newest commits would silently be missing).

    Raises:
        StoreUnavailable: the file cannot be read (cause ``unreadable`` for an unreadable log;
            else as classified by :func:`~fleetpatch.store.failures.store_unavailable`).
    """
    from fleetpatch.store.failures import StoreUnavailable, store_unavailable

    where = f"sqlite:///{path}"
    file = Path(path).expanduser().absolute()
    uri = f"file:{quote(str(file))}"
    try:
        return _open_uri(f"{uri}?mode=ro")
    except sqlite3.Error as exc:
        first = exc
    wal = file.with_name(f"{file.name}-wal")
    try:
        logged = wal.stat().st_size > 0
    except FileNotFoundError:
        logged = False
    except OSError as exc:
        raise store_unavailable(exc, where, path) from exc
    if logged:
        raise StoreUnavailable(
            where,
            "unreadable",
            str(first),
            f"its write-ahead log {wal} holds changes that SQLite reads only through "
            f"{file.name}-shm, which it cannot create there; make the directory writable or "
            "free space there and read it again (reading the file without the log would miss "
            "those changes), or give another store with --store or FLEETPATCH_STORE",
        ) from first
    try:
        return _open_uri(f"{uri}?immutable=1")
    except sqlite3.Error as exc:
        raise store_unavailable(exc, where, path) from exc


def _open_uri(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL index
    except BaseException:
        conn.close()
        raise
    return conn
