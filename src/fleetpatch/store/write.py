"""Turning results into rows, inserted in bulk (one executemany per table per call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from fleetpatch.memo import RunMemo
from fleetpatch.results import HostResult
from fleetpatch.store.codec import InstalledBlob, encode_facts
from fleetpatch.store.errors import StoreError
from fleetpatch.store.rows import (
    PATCH_STATE_COLUMNS,
    audit_row,
    host_row,
    patch_state_rows,
    refuse_secret_options,
    require_aware,
)
from fleetpatch.store.schema import audit, facts_blobs, host_results, patch_states

__all__ = ["insert_host_results", "refuse_secret_options", "require_aware"]

_IN_CHUNK = 500


def insert_host_results(
    conn: Connection,
    run_id: str,
    results: Sequence[HostResult],
    *,
    store_facts: bool,
    known_digests: frozenset[str],
    memo: RunMemo | None = None,
) -> set[str]:
    """Insert host results with their patch states and audit rows. Returns the digests of the
    installed-package blobs now present (to remember once the transaction has committed).

    ``memo`` (the store's, see :mod:`fleetpatch.memo`) remembers the encodings of package
    lists, items and rows already written for other hosts; the rows are the same without it.
    """
    if not results:
        return set()
    encoded = [
        encode_facts(result.facts, memo) if store_facts and result.facts is not None else None
        for result in results
    ]
    blobs = {e.installed.digest: e.installed for e in encoded if e and e.installed}
    _insert_missing_blobs(conn, [b for d, b in blobs.items() if d not in known_digests])
    first_seq = _next_seq(conn, run_id)
    rows = [
        host_row(run_id, first_seq + n, result, enc, memo)
        for n, (result, enc) in enumerate(zip(results, encoded, strict=True))
    ]
    conn.execute(insert(host_results), rows)
    ids = _ids_by_seq(conn, run_id, first_seq, first_seq + len(rows) - 1)
    state_rows: list[tuple[Any, ...]] = []
    driver_json = _uses_driver_insert(conn)
    audit_rows: list[dict[str, Any]] = []
    for host_result_id, result in zip(ids, results, strict=True):
        if result.compliance is not None:
            state_rows.extend(
                patch_state_rows(host_result_id, result.compliance, memo, driver_json)
            )
        audit_rows.extend(
            audit_row(run_id, host_result_id, result.host, position, command)
            for position, command in enumerate(result.commands)
        )
    if state_rows:
        _insert_rows(conn, patch_states, PATCH_STATE_COLUMNS, state_rows)
    if audit_rows:
        conn.execute(insert(audit), audit_rows)
    return set(blobs)


def _uses_driver_insert(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _insert_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """``INSERT`` many rows given as tuples in ``columns`` order (JSON columns already
    serialised). On SQLite the statement is compiled once and the tuples go straight to the
    driver's executemany: SQLAlchemy's per-row parameter processing cost more than the insert
    itself (~60 rows per host). Other databases take the ordinary path."""
    if not _uses_driver_insert(conn):
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positiontup is not None and tuple(compiled.positiontup) != columns:
        index = [columns.index(k) for k in compiled.positiontup]
        rows = [tuple(row[i] for i in index) for row in rows]
    conn.exec_driver_sql(str(compiled), rows)


def _next_seq(conn: Connection, run_id: str) -> int:
    query = select(func.coalesce(func.max(host_results.c.seq), -1)).where(
        host_results.c.run_id == run_id
    )
    return int(conn.execute(query).scalar_one()) + 1


def _ids_by_seq(conn: Connection, run_id: str, first: int, last: int) -> list[int]:
    """The ids of just-inserted host results, in seq order. (A plain executemany plus this
    one SELECT: RETURNING with guaranteed row order would make SQLite insert row by row.)"""
    query = (
        select(host_results.c.id)
        .where(host_results.c.run_id == run_id, host_results.c.seq.between(first, last))
        .order_by(host_results.c.seq)
    )
    ids = list(conn.execute(query).scalars())
    if len(ids) != last - first + 1:
        raise StoreError(f"run {run_id!r}: host results changed while being saved")
    return ids


def _insert_missing_blobs(conn: Connection, blobs: Sequence[InstalledBlob]) -> None:
    if not blobs:
        return
    present: set[str] = set()
    digests = [b.digest for b in blobs]
    for start in range(0, len(digests), _IN_CHUNK):
        chunk = digests[start : start + _IN_CHUNK]
        query = select(facts_blobs.c.digest).where(facts_blobs.c.digest.in_(chunk))
        present.update(conn.execute(query).scalars())
    rows = [
        {"digest": b.digest, "data": b.compressed(), "raw_size": len(b.raw)}
        for b in blobs
        if b.digest not in present
    ]
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.execute(sqlite.insert(facts_blobs).on_conflict_do_nothing(), rows)
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # imported only by PostgreSQL stores

        conn.execute(postgresql.insert(facts_blobs).on_conflict_do_nothing(), rows)
    else:
        conn.execute(insert(facts_blobs), rows)
