"""Turning results into rows, inserted in bulk (one executemany per table per call)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from fleetpatch.compliance import HostCompliance, PatchItem, PatchState
from fleetpatch.memo import RunMemo
from fleetpatch.results import CommandRecord, HostResult
from fleetpatch.store.codec import EncodedFacts, InstalledBlob, encode_facts, encode_other_items
from fleetpatch.store.errors import StoreError
from fleetpatch.store.schema import COUNT_COLUMNS, audit, facts_blobs, host_results, patch_states

_IN_CHUNK = 500
_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "private_key", "credential")


def require_aware(value: datetime, what: str) -> datetime:
    """Refuse naive datetimes: the store keeps instants, and a naive time is not one."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value


def refuse_secret_options(options: Mapping[str, Any] | None) -> None:
    """Run options are stored verbatim, so nothing that looks like a secret may be among them."""
    for key in options or {}:
        lowered = key.lower()
        if any(word in lowered for word in _SECRET_WORDS):
            raise StoreError(f"run option {key!r} looks like a secret; secrets are never stored")


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
        _host_row(run_id, first_seq + n, result, enc, memo)
        for n, (result, enc) in enumerate(zip(results, encoded, strict=True))
    ]
    conn.execute(insert(host_results), rows)
    ids = _ids_by_seq(conn, run_id, first_seq, first_seq + len(rows) - 1)
    state_rows: list[tuple[Any, ...]] = []
    driver_json = _uses_driver_insert(conn)
    audit_rows: list[dict[str, Any]] = []
    interned = memo is not None and driver_json  # row tails per item, row lists per items
    tails = memo.identity("store.patch_state") if memo is not None else None
    tails_by_items = memo.identity("store.patch_states") if memo is not None else None
    for host_result_id, result in zip(ids, results, strict=True):
        if result.compliance is None:
            pass
        elif not interned or tails is None or tails_by_items is None:
            state_rows.extend(
                _patch_state_row(host_result_id, position, item, driver_json)
                for position, item in enumerate(result.compliance.items)
                if item.state is not PatchState.INSTALLED_OTHER
            )
        else:
            items = result.compliance.items
            item_rows = tails_by_items.get(items)  # hosts with the same (interned) items tuple
            if item_rows is None:
                item_rows = []
                for position, item in enumerate(items):
                    if item.state is PatchState.INSTALLED_OTHER:
                        continue
                    tail = tails.get(item)
                    if tail is None:
                        tail = tails.put(item, _patch_state_row(0, 0, item, driver_json)[2:])
                    item_rows.append((position, *tail))
                tails_by_items.put(items, item_rows)
            state_rows.extend((host_result_id, *row) for row in item_rows)
        audit_rows.extend(
            _audit_row(run_id, host_result_id, result.host, position, command)
            for position, command in enumerate(result.commands)
        )
    if state_rows:
        _insert_rows(conn, patch_states, _PATCH_STATE_COLUMNS, state_rows)
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


def _host_row(
    run_id: str,
    seq: int,
    result: HostResult,
    encoded: EncodedFacts | None,
    memo: RunMemo | None = None,
) -> dict[str, Any]:
    facts = result.facts
    compliance = result.compliance
    failure = result.failure
    counts = compliance.counts.model_dump() if compliance is not None else {}
    other_blob = _other_items_blob(compliance, memo)
    row: dict[str, Any] = {
        "run_id": run_id,
        "seq": seq,
        "host": result.host,
        "address": result.address,
        "patch_group": result.patch_group,
        "outcome": result.outcome.value,
        "failure_kind": failure.kind if failure else None,
        "failure_message": failure.message if failure else None,
        "failure_step": failure.step if failure else None,
        "platform_product": facts.os.product if facts else None,
        "platform_family": facts.os.family if facts else None,
        "baseline": compliance.baseline if compliance else None,
        "compliance_status": compliance.status.value if compliance else None,
        "overall_severity": (
            compliance.overall_severity.value
            if compliance and compliance.overall_severity
            else None
        ),
        "reboot_required": facts.reboot_required if facts else None,
        "metadata_age_seconds": facts.metadata_age_seconds if facts else None,
        "started_at": require_aware(result.started_at, f"{result.host}: started_at"),
        "finished_at": require_aware(result.finished_at, f"{result.host}: finished_at"),
        "other_items": other_blob,
        "facts": encoded.rest if encoded else None,
        "installed_digest": encoded.installed.digest if encoded and encoded.installed else None,
        "install_summary": result.install.model_dump(mode="json") if result.install else None,
    }
    for column in COUNT_COLUMNS:
        row[column] = counts.get(column.removesuffix("_count"), 0)
    return row


def _other_items_blob(compliance: HostCompliance | None, memo: RunMemo | None) -> bytes | None:
    """The INSTALLED_OTHER items of ``compliance`` encoded; with a memo, once per items tuple
    (hosts with the same interned items share it)."""
    if compliance is None:
        return None
    table = memo.identity("store.other_blob") if memo is not None else None
    if table is not None:
        hit: tuple[bytes | None] | None = table.get(compliance.items)
        if hit is not None:
            return hit[0]
    other = [(i, item) for i, item in enumerate(compliance.items) if _is_other(item)]
    blob = encode_other_items(other, memo)
    if table is not None:
        table.put(compliance.items, (blob,))
    return blob


def _is_other(item: PatchItem) -> bool:
    return item.state is PatchState.INSTALLED_OTHER


_PATCH_STATE_COLUMNS = (
    "host_result_id",
    "position",
    "patch_id",
    "arch",
    "title",
    "installed_version",
    "candidate_version",
    "state",
    "classification",
    "severity",
    "compliance_level",
    "security",
    "cves",
    "advisory_ids",
    "reason",
    "message",
)


def _patch_state_row(
    host_result_id: int, position: int, item: PatchItem, driver_json: bool
) -> tuple[Any, ...]:
    """A ``patch_states`` row in :data:`_PATCH_STATE_COLUMNS` order; JSON columns as JSON text
    for the driver (``driver_json``, see :func:`_insert_rows`) or as lists for SQLAlchemy."""
    json_list = _json_list if driver_json else list
    return (
        host_result_id,
        position,
        item.id,
        item.arch,
        item.title,
        item.installed_version,
        item.candidate_version,
        item.state.value,
        item.classification,
        item.severity,
        item.compliance_level.value,
        item.security,
        json_list(item.cves),
        json_list(item.advisory_ids),
        item.reason,
        item.message,
    )


def _json_list(values: tuple[str, ...]) -> str:
    return json.dumps(list(values)) if values else "[]"


def _audit_row(
    run_id: str, host_result_id: int, host: str, position: int, command: CommandRecord
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "host_result_id": host_result_id,
        "position": position,
        "host": host,
        "operation": command.operation,
        "digest": command.digest,
        "exit_code": command.exit_code,
        "started_at": require_aware(command.started_at, f"{host}: command started_at"),
        "duration": command.duration,
    }
