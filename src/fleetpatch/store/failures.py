"""What went wrong with the store, in words an operator can act on.

Every database or file-system error a store operation meets (SQLite through ``sqlite3`` or
SQLAlchemy, PostgreSQL through SQLAlchemy, creating the store's directory) becomes a
:class:`StoreUnavailable` naming the store, the cause (``full``, ``read-only``, ``corrupt``,
``locked``, ``unreachable`` or ``failed``) and what to do. The CLI prints it and exits 2.

Only the error path runs here: classifying costs nothing while the store works.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from fleetpatch.store.errors import StoreError

_OTHER_STORE = "or give another store with --store or FLEETPATCH_STORE"


class StoreUnavailable(StoreError):
    """The store could not be read or written. ``cause`` is one of ``full``, ``read-only``,
    ``corrupt``, ``locked``, ``unreachable``, ``unreadable`` (a read-only open that cannot
    read the write-ahead log), ``failed``; nothing was changed by the call that failed (its
    transaction was rolled back)."""

    def __init__(self, where: str, cause: str, detail: str, advice: str):
        self.where = where
        self.cause = cause
        self.detail = detail
        self.advice = advice
        super().__init__(f"the store {where} {_WHAT[cause]} ({detail}): {advice}")


_WHAT = {
    "full": "cannot be written: the disk holding it is full",
    "read-only": "cannot be written",
    "corrupt": "is damaged or is not a fleetpatch store",
    "locked": "is locked by another process",
    "unreachable": "cannot be reached",
    "unreadable": "cannot be read",
    "failed": "failed",
}


def is_database_error(exc: BaseException) -> bool:
    """An error of a database driver or of SQLAlchemy (not one of fleetpatch's own)."""
    if isinstance(exc, sqlite3.Error):
        return True
    module = type(exc).__module__
    return module.startswith(("sqlalchemy", "psycopg"))


def store_unavailable(exc: BaseException, where: str, path: str | None) -> StoreUnavailable:
    """Classify ``exc`` (a driver, SQLAlchemy or OS error) met by the store at ``where`` (its
    URL, password masked); ``path`` is the SQLite file, None for a server database."""
    orig = getattr(exc, "orig", None) or exc
    name = getattr(orig, "sqlite_errorname", "") or ""
    detail = _first_line(orig)
    if isinstance(orig, OSError) and not isinstance(orig, sqlite3.Error):
        return _os_error(orig, where, path, detail)
    if name == "SQLITE_FULL" or (name.startswith("SQLITE_IOERR") and _disk_full(path)):
        return StoreUnavailable(where, "full", detail, f"free space there, {_OTHER_STORE}")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreUnavailable(where, "read-only", detail, _not_writable(path))
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreUnavailable(where, "corrupt", detail, _damaged(path))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreUnavailable(
            where, "locked", detail, f"try again once the other fleetpatch is done, {_OTHER_STORE}"
        )
    if path is None and type(exc).__name__ in ("OperationalError", "InterfaceError"):
        return StoreUnavailable(
            where,
            "unreachable",
            detail,
            f"check that the database server is up and the URL is right, {_OTHER_STORE}",
        )
    return StoreUnavailable(where, "failed", detail, f"check the store, {_OTHER_STORE}")


def _os_error(exc: OSError, where: str, path: str | None, detail: str) -> StoreUnavailable:
    if exc.errno == errno.ENOSPC:
        return StoreUnavailable(where, "full", detail, f"free space there, {_OTHER_STORE}")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreUnavailable(where, "read-only", detail, _not_writable(path))
    return StoreUnavailable(where, "failed", detail, f"check the store's path, {_OTHER_STORE}")


def _not_writable(path: str | None) -> str:
    if path is None:
        return f"give the database user the rights it needs, {_OTHER_STORE}"
    file = Path(path).expanduser()
    directory = file.parent
    if file.exists() and not os.access(file, os.W_OK):
        what = f"{file} is read-only"
    elif directory.exists() and not os.access(directory, os.W_OK | os.X_OK):
        what = f"its directory {directory} is not writable"
    else:
        what = "it or its directory is not writable (or on a read-only file system)"
    return (
        f"{what}; make the file and its directory writable (SQLite keeps {file.name}-wal and "
        f"{file.name}-shm beside it), {_OTHER_STORE}"
    )


def _damaged(path: str | None) -> str:
    if path is None:
        return f"check the database, {_OTHER_STORE}"
    return (
        f"it was left as it is; restore {path} from a backup, or move it aside to start a new "
        f"store (sqlite3's .recover command may save its rows), {_OTHER_STORE}"
    )


def _disk_full(path: str | None) -> bool:
    """Whether the file system holding ``path`` has no room left (SQLite reports a full disk
    as an I/O error when it cannot grow the ``-shm`` file)."""
    if path is None:
        return False
    try:
        return shutil.disk_usage(Path(path).expanduser().parent).free < 64 * 1024
    except OSError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
