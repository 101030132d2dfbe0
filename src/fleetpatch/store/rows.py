"""Result -> row conversion for the store's tables, free of any database library.

Both writers use it: SQLAlchemy's (``store.write``, every backend) and the scan's SQLite
writer on the standard ``sqlite3`` module (``store.sqlite_scan``), so the two write the same
rows. With a :class:`~fleetpatch.memo.RunMemo`, what hosts share (interned patch items, their
rows, the encoded INSTALLED_OTHER items) is converted once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fleetpatch.compliance import HostCompliance, PatchItem, PatchState
from fleetpatch.memo import RunMemo
from fleetpatch.results import CommandRecord, HostResult
from fleetpatch.store.codec import EncodedFacts, encode_other_items
from fleetpatch.store.errors import StoreError

COUNT_COLUMNS = (
    "installed_count",
    "installed_other_count",
    "installed_pending_reboot_count",
    "installed_rejected_count",
    "missing_count",
    "failed_count",
    "not_applicable_count",
    "available_security_update_count",
    "critical_non_compliant_count",
    "security_non_compliant_count",
    "other_non_compliant_count",
)

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


def host_row(
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
    table = memo.identity("store.other_blob", per_host=True) if memo is not None else None
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


PATCH_STATE_COLUMNS = (
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


def patch_state_row(
    host_result_id: int, position: int, item: PatchItem, driver_json: bool
) -> tuple[Any, ...]:
    """A ``patch_states`` row in :data:`PATCH_STATE_COLUMNS` order; JSON columns as JSON text
    for the driver (``driver_json``, see ``write._insert_rows``) or as lists for SQLAlchemy."""
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


def audit_row(
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


def patch_state_rows(
    host_result_id: int,
    compliance: HostCompliance,
    memo: RunMemo | None,
    driver_json: bool,
) -> list[tuple[Any, ...]]:
    """The ``patch_states`` rows of one host (every item but INSTALLED_OTHER). With a memo
    and ``driver_json``, each interned item is converted once and the rows of an items tuple
    another host had are reused."""
    items = compliance.items
    if memo is None or not driver_json:
        return [
            patch_state_row(host_result_id, position, item, driver_json)
            for position, item in enumerate(items)
            if item.state is not PatchState.INSTALLED_OTHER
        ]
    tails = memo.identity("store.patch_state")
    by_items = memo.identity("store.patch_states", per_host=True)
    item_rows: list[tuple[Any, ...]] | None = by_items.get(items)
    if item_rows is None:  # the first host with this (interned) items tuple
        item_rows = []
        for position, item in enumerate(items):
            if item.state is PatchState.INSTALLED_OTHER:
                continue
            tail = tails.get(item)
            if tail is None:
                tail = tails.put(item, patch_state_row(0, 0, item, driver_json)[2:])
            item_rows.append((position, *tail))
        by_items.put(items, item_rows)
    return [(host_result_id, *row) for row in item_rows]
