"""A scan's store on SQLite through the standard ``sqlite3`` module, without SQLAlchemy.

A scan writes four things: the run (begin and finish), host results with their patch states,
facts blobs and audit rows. Importing SQLAlchemy alone costs ~0.15 s of CPU, as much as
scanning 30 hosts (docs/benchmarks.md), so when the store is a SQLite file whose schema is
current (or a new file), :func:`open_scan_store` returns a :class:`SqliteScanStore` that
writes the very rows :class:`~fleetpatch.store.store.Store` writes (the same row builders in
``store.rows``; ``tests/unit/store/test_sqlite_scan.py`` compares the two databases). Anything
else -- PostgreSQL, a URL with options, a schema that needs a migration, reading pending
reboots when the store holds installs -- goes through SQLAlchemy as before.

A new file gets the schema from :data:`SCHEMA_SQL`: the exact ``CREATE`` statements SQLite
keeps for a database migrated to :data:`SCHEMA_VERSION` (the tests check they match; a new
migration must refresh them).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetpatch.memo import RunMemo
from fleetpatch.results import HostResult
from fleetpatch.store.codec import InstalledBlob, encode_facts
from fleetpatch.store.errors import RunNotFound, StoreError, StoreSchemaTooNew
from fleetpatch.store.failures import StoreUnavailable, store_unavailable
from fleetpatch.store.ids import new_run_id
from fleetpatch.store.liveness import Heartbeat, this_controller
from fleetpatch.store.rows import (
    COUNT_COLUMNS,
    PATCH_STATE_COLUMNS,
    audit_row,
    host_row,
    patch_state_rows,
    refuse_secret_options,
    require_aware,
)
from fleetpatch.store.sqlite_setup import BUSY_TIMEOUT_S, configure_connection

if TYPE_CHECKING:
    from fleetpatch.store.store import Store

STORE_ENV = "FLEETPATCH_STORE"  # the same variable as store.engine.STORE_ENV

SCHEMA_VERSION = 3
SCHEMA_STEPS = (
    (1, "initial schema"),
    (2, "rollout state and host leases"),
    (3, "run controller, heartbeat and targeted hosts"),
)
"""(version, description) of every migration step up to :data:`SCHEMA_VERSION`."""

SCHEMA_SQL: tuple[str, ...] = (
    "CREATE TABLE schema_version (\n\tversion INTEGER NOT NULL, \n\tdescription VARCHAR(255) "
    "NOT NULL, \n\tapplied_at DATETIME NOT NULL, \n\tPRIMARY KEY (version)\n)",
    "CREATE TABLE runs (\n\tid VARCHAR(64) NOT NULL, \n\toperation VARCHAR(32) NOT NULL, \n\t"
    "started_at DATETIME NOT NULL, \n\tfinished_at DATETIME, \n\tinventory JSON NOT NULL, \n\t"
    "targets JSON NOT NULL, \n\tstatus VARCHAR(16) NOT NULL, \n\toptions JSON, \n\tcancelled "
    "BOOLEAN NOT NULL, controller VARCHAR(255), heartbeat_at DATETIME, targeted_hosts INTEGER, "
    "\n\tPRIMARY KEY (id)\n)",
    "CREATE INDEX ix_runs_started_at ON runs (started_at)",
    "CREATE TABLE facts_blobs (\n\tdigest VARCHAR(64) NOT NULL, \n\tdata BLOB NOT NULL, \n\t"
    "raw_size INTEGER NOT NULL, \n\tPRIMARY KEY (digest)\n)",
    "CREATE TABLE host_results (\n\tid INTEGER NOT NULL, \n\trun_id VARCHAR(64) NOT NULL, \n\t"
    "seq INTEGER NOT NULL, \n\thost VARCHAR(255) NOT NULL, \n\taddress VARCHAR(255) NOT NULL, "
    "\n\tpatch_group VARCHAR(256), \n\toutcome VARCHAR(16) NOT NULL, \n\tfailure_kind "
    "VARCHAR(32), \n\tfailure_message TEXT, \n\tfailure_step VARCHAR(255), \n\t"
    "platform_product VARCHAR(64), \n\tplatform_family VARCHAR(16), \n\tbaseline VARCHAR(255), "
    "\n\tcompliance_status VARCHAR(16), \n\toverall_severity VARCHAR(16), \n\tinstalled_count "
    "INTEGER NOT NULL, \n\tinstalled_other_count INTEGER NOT NULL, \n\t"
    "installed_pending_reboot_count INTEGER NOT NULL, \n\tinstalled_rejected_count INTEGER NOT "
    "NULL, \n\tmissing_count INTEGER NOT NULL, \n\tfailed_count INTEGER NOT NULL, \n\t"
    "not_applicable_count INTEGER NOT NULL, \n\tavailable_security_update_count INTEGER NOT "
    "NULL, \n\tcritical_non_compliant_count INTEGER NOT NULL, \n\tsecurity_non_compliant_count "
    "INTEGER NOT NULL, \n\tother_non_compliant_count INTEGER NOT NULL, \n\treboot_required "
    "BOOLEAN, \n\tmetadata_age_seconds INTEGER, \n\tstarted_at DATETIME NOT NULL, \n\t"
    "finished_at DATETIME NOT NULL, \n\tother_items BLOB, \n\tfacts BLOB, \n\tinstalled_digest "
    "VARCHAR(64), install_summary JSON, \n\tPRIMARY KEY (id), \n\tCONSTRAINT "
    "uq_host_results_run_seq UNIQUE (run_id, seq), \n\tFOREIGN KEY(run_id) REFERENCES runs (id) "
    "ON DELETE CASCADE, \n\tFOREIGN KEY(installed_digest) REFERENCES facts_blobs (digest)\n)",
    "CREATE INDEX ix_host_results_host_finished ON host_results (host, finished_at)",
    "CREATE TABLE patch_states (\n\tid INTEGER NOT NULL, \n\thost_result_id INTEGER NOT NULL, "
    "\n\tposition INTEGER NOT NULL, \n\tpatch_id VARCHAR(255) NOT NULL, \n\tarch VARCHAR(32) "
    "NOT NULL, \n\ttitle TEXT NOT NULL, \n\tinstalled_version VARCHAR(255), \n\t"
    "candidate_version VARCHAR(255), \n\tstate VARCHAR(32) NOT NULL, \n\tclassification "
    "VARCHAR(64), \n\tseverity VARCHAR(64), \n\tcompliance_level VARCHAR(16) NOT NULL, \n\t"
    "security BOOLEAN NOT NULL, \n\tcves JSON NOT NULL, \n\tadvisory_ids JSON NOT NULL, \n\t"
    "reason TEXT NOT NULL, \n\tmessage TEXT NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN "
    "KEY(host_result_id) REFERENCES host_results (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_patch_states_patch_id ON patch_states (patch_id)",
    "CREATE INDEX ix_patch_states_host_result ON patch_states (host_result_id, position)",
    "CREATE TABLE audit (\n\tid INTEGER NOT NULL, \n\trun_id VARCHAR(64) NOT NULL, \n\t"
    "host_result_id INTEGER NOT NULL, \n\tposition INTEGER NOT NULL, \n\thost VARCHAR(255) NOT "
    "NULL, \n\toperation VARCHAR(64) NOT NULL, \n\tdigest VARCHAR(64) NOT NULL, \n\texit_code "
    "INTEGER, \n\tstarted_at DATETIME NOT NULL, \n\tduration FLOAT NOT NULL, \n\tPRIMARY KEY "
    "(id), \n\tFOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE, \n\tFOREIGN "
    "KEY(host_result_id) REFERENCES host_results (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_audit_host_result ON audit (host_result_id, position)",
    "CREATE INDEX ix_audit_host_started ON audit (host, started_at)",
    "CREATE INDEX ix_audit_run_id ON audit (run_id)",
    'CREATE TABLE rollouts (\n\trun_id VARCHAR(64) NOT NULL, \n\t"plan" JSON NOT NULL, \n\t'
    "state VARCHAR(16) NOT NULL, \n\tcontroller VARCHAR(255) NOT NULL, \n\tupdated_at DATETIME "
    "NOT NULL, \n\tPRIMARY KEY (run_id)\n)",
    "CREATE TABLE rollout_hosts (\n\trun_id VARCHAR(64) NOT NULL, \n\thost VARCHAR(255) NOT "
    "NULL, \n\tbatch INTEGER NOT NULL, \n\tposition INTEGER NOT NULL, \n\tstatus VARCHAR(16) NOT "
    "NULL, \n\tdetail TEXT NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (run_id, "
    "host)\n)",
    "CREATE INDEX ix_rollout_hosts_run_batch ON rollout_hosts (run_id, batch, position)",
    "CREATE TABLE host_leases (\n\thost VARCHAR(255) NOT NULL, \n\trun_id VARCHAR(64) NOT NULL,"
    " \n\tholder VARCHAR(255) NOT NULL, \n\tacquired_at DATETIME NOT NULL, \n\texpires_at "
    "DATETIME NOT NULL, \n\tPRIMARY KEY (host)\n)",
)

_HOST_COLUMNS = (
    "run_id",
    "seq",
    "host",
    "address",
    "patch_group",
    "outcome",
    "failure_kind",
    "failure_message",
    "failure_step",
    "platform_product",
    "platform_family",
    "baseline",
    "compliance_status",
    "overall_severity",
    *COUNT_COLUMNS,
    "reboot_required",
    "metadata_age_seconds",
    "started_at",
    "finished_at",
    "other_items",
    "facts",
    "installed_digest",
    "install_summary",
)
_AUDIT_COLUMNS = (
    "run_id",
    "host_result_id",
    "position",
    "host",
    "operation",
    "digest",
    "exit_code",
    "started_at",
    "duration",
)
_IN_CHUNK = 500


def sqlite_file(url: str | None) -> str | None:
    """The database file of a plain SQLite URL (``sqlite:///relative.db``,
    ``sqlite:////absolute.db``; None means the default store), or None when SQLAlchemy should
    interpret the URL (another backend or driver, a query string, escapes, in-memory)."""
    if url is None:
        override = os.environ.get(STORE_ENV, "").strip()
        if override:
            return sqlite_file(override)
        import platformdirs

        return str(Path(platformdirs.user_data_dir("fleetpatch")) / "fleetpatch.db")
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix) :]
    if not path or path == ":memory:" or any(c in path for c in "?%#") or path.startswith("file:"):
        return None
    return path


def open_scan_store(url: str | None, *, store_facts: bool = True) -> SqliteScanStore | Store:
    """The store a scan writes to: a :class:`SqliteScanStore` when ``url`` is a SQLite file
    whose schema is current or new, else SQLAlchemy's :func:`~fleetpatch.store.open_store`.

    Raises:
        StoreSchemaTooNew: the database was written by a newer fleetpatch.
        StoreUnavailable: the database cannot be opened (read-only, full, damaged, ...).
    """
    path = sqlite_file(url)
    if path is not None:
        lite = SqliteScanStore.open(path, store_facts=store_facts)
        if lite is not None:
            return lite
    from fleetpatch.store.store import open_store

    return open_store(url, store_facts=store_facts)


class SqliteScanStore:
    """The writing half of :class:`~fleetpatch.store.store.Store` a scan uses, on ``sqlite3``:
    one transaction (``BEGIN IMMEDIATE``) per call, the same rows. Every method raises
    :class:`~fleetpatch.store.failures.StoreUnavailable` when the file cannot be read or
    written (full disk, read-only, damaged), with nothing of that call written."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, store_facts: bool = True):
        self._conn = conn
        self._path = path
        self._store_facts = store_facts
        self._known_digests: set[str] = set()
        self._memo = RunMemo()
        self._heartbeat: Heartbeat | None = None

    @property
    def where(self) -> str:
        """The store's URL, for messages."""
        return f"sqlite:///{self._path}"

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        """``exc`` (an sqlite3 or OS error met by this store) in an operator's words."""
        return store_unavailable(exc, self.where, self._path)

    @classmethod
    def open(cls, path: str, *, store_facts: bool = True) -> SqliteScanStore | None:
        """Open ``path`` (creating it with the current schema when new); None when the schema
        is older than this code's (a migration is due: SQLAlchemy's path does it).

        Raises:
            StoreSchemaTooNew: the database was written by a newer fleetpatch.
            StoreUnavailable: the file cannot be opened or created.
        """
        try:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise store_unavailable(exc, f"sqlite:///{path}", path) from exc
        try:
            configure_connection(conn, wal=True)
            version = _version(conn)
            if version == 0:
                version = _create(conn)
            if version > SCHEMA_VERSION:
                raise StoreSchemaTooNew(f"sqlite:///{path}", version, SCHEMA_VERSION)
        except (OSError, sqlite3.Error) as exc:
            conn.close()
            raise store_unavailable(exc, f"sqlite:///{path}", path) from exc
        except BaseException:
            conn.close()
            raise
        if version < SCHEMA_VERSION:
            conn.close()
            return None
        return cls(conn, path, store_facts=store_facts)

    def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._conn.close()

    def begin_run(
        self,
        operation: str,
        started_at: datetime,
        *,
        run_id: str | None = None,
        inventory: Sequence[str] = (),
        targets: Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
        targeted_hosts: int | None = None,
    ) -> str:
        """As :meth:`Store.begin_run <fleetpatch.store.store.Store.begin_run>`."""
        refuse_secret_options(options)
        run_id = run_id or new_run_id(started_at)
        began = _instant(require_aware(started_at, "run started_at"))
        with _Write(self) as cur:
            if cur.execute("SELECT id FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise StoreError(f"run {run_id!r} is already stored; runs are never overwritten")
            cur.execute(
                "INSERT INTO runs (id, operation, started_at, finished_at, inventory, targets, "
                "status, options, cancelled, controller, heartbeat_at, targeted_hosts) "
                "VALUES (?, ?, ?, NULL, ?, ?, 'running', ?, 0, ?, ?, ?)",
                (
                    run_id,
                    operation,
                    began,
                    json.dumps(list(inventory)),
                    json.dumps(list(targets)),
                    json.dumps(dict(options) if options is not None else None),
                    this_controller(),
                    _instant(datetime.now(UTC)),
                    targeted_hosts,
                ),
            )
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(lambda: _renew(self._path, run_id), run_id=run_id).start()
        return run_id

    def save_host_results(self, run_id: str, results: Sequence[HostResult]) -> None:
        """As :meth:`Store.save_host_results <fleetpatch.store.store.Store.save_host_results>`."""
        if not results:
            with _Write(self) as cur:
                _require_running(cur, run_id)
            return
        memo = self._memo
        encoded = [
            encode_facts(r.facts, memo) if self._store_facts and r.facts is not None else None
            for r in results
        ]
        blobs = {e.installed.digest: e.installed for e in encoded if e and e.installed}
        with _Write(self) as cur:
            _require_running(cur, run_id)
            _insert_missing_blobs(
                cur, [b for d, b in blobs.items() if d not in self._known_digests]
            )
            row = cur.execute(
                "SELECT coalesce(max(seq), -1) FROM host_results WHERE run_id = ?", (run_id,)
            ).fetchone()
            first = int(row[0]) + 1
            cur.executemany(
                _insert_sql("host_results", _HOST_COLUMNS),
                [
                    _host_tuple(host_row(run_id, first + n, result, enc, memo))
                    for n, (result, enc) in enumerate(zip(results, encoded, strict=True))
                ],
            )
            ids = [
                int(i)
                for (i,) in cur.execute(
                    "SELECT id FROM host_results WHERE run_id = ? AND seq BETWEEN ? AND ? "
                    "ORDER BY seq",
                    (run_id, first, first + len(results) - 1),
                )
            ]
            if len(ids) != len(results):
                raise StoreError(f"run {run_id!r}: host results changed while being saved")
            state_rows: list[tuple[Any, ...]] = []
            audit_rows: list[tuple[Any, ...]] = []
            for host_result_id, result in zip(ids, results, strict=True):
                if result.compliance is not None:
                    state_rows.extend(
                        patch_state_rows(host_result_id, result.compliance, memo, True)
                    )
                for position, command in enumerate(result.commands):
                    a = audit_row(run_id, host_result_id, result.host, position, command)
                    a["started_at"] = _instant(a["started_at"])
                    audit_rows.append(tuple(a[c] for c in _AUDIT_COLUMNS))
            if state_rows:
                cur.executemany(_insert_sql("patch_states", PATCH_STATE_COLUMNS), state_rows)
            if audit_rows:
                cur.executemany(_insert_sql("audit", _AUDIT_COLUMNS), audit_rows)
        self._known_digests.update(blobs)

    def finish_run(self, run_id: str, finished_at: datetime, cancelled: bool = False) -> None:
        """As :meth:`Store.finish_run <fleetpatch.store.store.Store.finish_run>`."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        finished = _instant(require_aware(finished_at, "run finished_at"))
        with _Write(self) as cur:
            _require_running(cur, run_id)
            cur.execute(
                "UPDATE runs SET finished_at = ?, status = ?, cancelled = ?, heartbeat_at = ? "
                "WHERE id = ?",
                (
                    finished,
                    "cancelled" if cancelled else "finished",
                    int(cancelled),
                    _instant(datetime.now(UTC)),
                    run_id,
                ),
            )

    def pending_reboots(self, hosts: Sequence[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """As :meth:`Store.pending_reboots <fleetpatch.store.store.Store.pending_reboots>`;
        a store that never recorded an install has none (read through SQLAlchemy otherwise)."""
        try:
            found = self._conn.execute(
                "SELECT 1 FROM runs WHERE operation = 'install' LIMIT 1"
            ).fetchone()
        except sqlite3.Error as exc:
            raise self.unavailable(exc) from exc
        if found is None:
            return {}
        from fleetpatch.store.store import open_store

        with open_store(f"sqlite:///{self._path}") as store:
            return store.pending_reboots(hosts)


class _Write:
    """``with`` block: a cursor in a ``BEGIN IMMEDIATE`` transaction, committed on success,
    rolled back otherwise; sqlite3 errors (in the block too) leave it as StoreUnavailable."""

    def __init__(self, store: SqliteScanStore):
        self._store = store
        self._conn = store._conn
        self._cur: sqlite3.Cursor | None = None

    def __enter__(self) -> sqlite3.Cursor:
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            cur.close()
            raise self._store.unavailable(exc) from exc
        self._cur = cur
        return cur

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, *rest: object
    ) -> None:
        cur = self._cur
        assert cur is not None
        self._cur = None
        try:
            if exc_type is None:
                cur.execute("COMMIT")
            elif self._conn.in_transaction:  # SQLite rolls back by itself on a full disk
                cur.execute("ROLLBACK")
        except sqlite3.Error as failed:
            if exc is None:
                raise self._store.unavailable(failed) from failed
        finally:
            cur.close()
        if isinstance(exc, (sqlite3.Error, OSError)):
            raise self._store.unavailable(exc) from exc


def _renew(path: str, run_id: str) -> None:
    """The heartbeat of a running run, on a connection of the heartbeat's own thread."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(
            "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
            (_instant(datetime.now(UTC)), run_id),
        )
    finally:
        conn.close()


def _version(conn: sqlite3.Connection) -> int:
    known = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if known is None:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def _create(conn: sqlite3.Connection) -> int:
    """Create the current schema in an empty database, as the migrations would (under the
    write lock: a concurrent opener finds it done). Returns the version now present."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)
        if version == 0:
            for statement in SCHEMA_SQL:
                conn.execute(statement)
            now = _instant(datetime.now(UTC))
            conn.executemany(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                [(v, d, now) for v, d in SCHEMA_STEPS],
            )
            version = SCHEMA_VERSION
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


def _require_running(cur: sqlite3.Cursor, run_id: str) -> None:
    row = cur.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id)
    if row[0] != "running":
        raise StoreError(f"run {run_id!r} is {row[0]}; only a running run takes new results")


def _insert_missing_blobs(cur: sqlite3.Cursor, blobs: Sequence[InstalledBlob]) -> None:
    if not blobs:
        return
    present: set[str] = set()
    digests = [b.digest for b in blobs]
    for start in range(0, len(digests), _IN_CHUNK):
        chunk = digests[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        present.update(
            d
            for (d,) in cur.execute(
                f"SELECT digest FROM facts_blobs WHERE digest IN ({marks})", chunk
            )
        )
    rows = [(b.digest, b.compressed(), len(b.raw)) for b in blobs if b.digest not in present]
    if rows:
        cur.executemany(
            "INSERT INTO facts_blobs (digest, data, raw_size) VALUES (?, ?, ?) "
            "ON CONFLICT (digest) DO NOTHING",
            rows,
        )


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _instant(value: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite: naive UTC, microseconds."""
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}."
        f"{v.microsecond:06d}"
    )


def _host_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    row["started_at"] = _instant(row["started_at"])
    row["finished_at"] = _instant(row["finished_at"])
    reboot = row["reboot_required"]
    row["reboot_required"] = None if reboot is None else int(reboot)
    row["install_summary"] = json.dumps(row["install_summary"])
    return tuple(row[c] for c in _HOST_COLUMNS)
