"""Rows back into results: the inverse of :mod:`fleetpatch.store.write`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.engine import Connection

from fleetpatch.compliance import (
    ComplianceLevel,
    ComplianceStatus,
    HostCompliance,
    PatchItem,
    PatchState,
    StateCounts,
)
from fleetpatch.facts import InstalledPackage
from fleetpatch.results import (
    CommandRecord,
    HostFailure,
    HostOutcome,
    HostResult,
    InstallSummary,
)
from fleetpatch.store.codec import decode_facts, decode_installed, decode_other_items
from fleetpatch.store.rows import COUNT_COLUMNS
from fleetpatch.store.schema import audit, facts_blobs, host_results, patch_states


def load_host_results(
    conn: Connection, where: ColumnElement[bool], *, with_facts: bool
) -> list[HostResult]:
    """Every host result matching ``where``, in run and save order, complete with patch items,
    commands and (when asked and stored) facts."""
    ids = select(host_results.c.id).where(where)
    query = select(host_results).where(where).order_by(host_results.c.run_id, host_results.c.seq)
    rows = conn.execute(query).all()
    items = _items_by_host_result(conn, ids)
    commands = _commands_by_host_result(conn, ids)
    installed = _installed_by_digest(conn, where) if with_facts else {}
    return [
        host_result_from_row(
            row,
            items.get(row.id, []),
            commands.get(row.id, ()),
            installed if with_facts else None,
        )
        for row in rows
    ]


def host_result_from_row(
    row: Row[Any],
    rows_items: list[tuple[int, PatchItem]],
    commands: tuple[CommandRecord, ...],
    installed: dict[str, tuple[InstalledPackage, ...]] | None,
) -> HostResult:
    failure = None
    if row.failure_kind is not None:
        failure = HostFailure(
            kind=row.failure_kind, message=row.failure_message or "", step=row.failure_step or ""
        )
    facts = None
    if installed is not None and row.facts is not None:
        facts = decode_facts(row.facts, installed.get(row.installed_digest or "", ()))
    return HostResult(
        host=row.host,
        address=row.address,
        outcome=HostOutcome(row.outcome),
        failure=failure,
        patch_group=row.patch_group,
        facts=facts,
        compliance=_compliance_from_row(row, rows_items),
        commands=commands,
        install=(
            InstallSummary.model_validate(row.install_summary)
            if row.install_summary is not None
            else None
        ),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def counts_from_row(row: Row[Any]) -> StateCounts:
    mapping = row._mapping
    return StateCounts(**{c.removesuffix("_count"): mapping[c] for c in COUNT_COLUMNS})


def _compliance_from_row(
    row: Row[Any], rows_items: list[tuple[int, PatchItem]]
) -> HostCompliance | None:
    if row.compliance_status is None:
        return None
    merged = sorted(rows_items + decode_other_items(row.other_items), key=lambda pair: pair[0])
    return HostCompliance(
        baseline=row.baseline or "",
        status=ComplianceStatus(row.compliance_status),
        overall_severity=(
            ComplianceLevel(row.overall_severity) if row.overall_severity is not None else None
        ),
        counts=counts_from_row(row),
        items=tuple(item for _, item in merged),
    )


def _items_by_host_result(conn: Connection, ids: Any) -> dict[int, list[tuple[int, PatchItem]]]:
    query = (
        select(patch_states)
        .where(patch_states.c.host_result_id.in_(ids))
        .order_by(patch_states.c.host_result_id, patch_states.c.position)
    )
    grouped: dict[int, list[tuple[int, PatchItem]]] = defaultdict(list)
    for r in conn.execute(query):
        item = PatchItem(
            id=r.patch_id,
            arch=r.arch,
            title=r.title,
            installed_version=r.installed_version,
            candidate_version=r.candidate_version,
            state=PatchState(r.state),
            classification=r.classification,
            severity=r.severity,
            compliance_level=ComplianceLevel(r.compliance_level),
            security=r.security,
            cves=tuple(r.cves),
            advisory_ids=tuple(r.advisory_ids),
            reason=r.reason,
            message=r.message,
        )
        grouped[r.host_result_id].append((r.position, item))
    return grouped


def _commands_by_host_result(conn: Connection, ids: Any) -> dict[int, tuple[CommandRecord, ...]]:
    query = (
        select(audit)
        .where(audit.c.host_result_id.in_(ids))
        .order_by(audit.c.host_result_id, audit.c.position)
    )
    grouped: dict[int, list[CommandRecord]] = defaultdict(list)
    for r in conn.execute(query):
        grouped[r.host_result_id].append(
            CommandRecord(
                operation=r.operation,
                digest=r.digest,
                exit_code=r.exit_code,
                started_at=r.started_at,
                duration=r.duration,
            )
        )
    return {key: tuple(value) for key, value in grouped.items()}


def _installed_by_digest(
    conn: Connection, where: ColumnElement[bool]
) -> dict[str, tuple[InstalledPackage, ...]]:
    digests = select(host_results.c.installed_digest).where(where)
    query = select(facts_blobs.c.digest, facts_blobs.c.data).where(
        facts_blobs.c.digest.in_(digests)
    )
    return {digest: decode_installed(data) for digest, data in conn.execute(query)}
