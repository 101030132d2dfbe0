"""A whole scan run: hosts through the pipeline, results recorded as they finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fleetpatch.compliance import PatchState
from fleetpatch.engine.pipeline import ScanContext, scan_host, utcnow
from fleetpatch.engine.runner import run_hosts
from fleetpatch.inventory.model import Host
from fleetpatch.results import HostFailure, HostOutcome, HostResult, RunResult


class Recorder(Protocol):
    """Where results go while the run is in flight (the store)."""

    def save(self, results: Sequence[HostResult]) -> None: ...


@dataclass
class BufferedRecorder:
    """Batches results so the store sees one transaction per batch, not per host."""

    target: Recorder
    batch: int = 200
    interval: float = 2.0
    _pending: list[HostResult] = field(default_factory=list)
    _last: float = field(default_factory=time.monotonic)

    def add(self, result: HostResult) -> None:
        self._pending.append(result)
        now = time.monotonic()
        if len(self._pending) >= self.batch or now - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self.target.save(pending)
        self._last = time.monotonic()


class ResultStore(Protocol):
    """The part of the store a run writes to while it goes."""

    def save_host_results(self, run_id: str, results: Sequence[HostResult]) -> None: ...


@dataclass(frozen=True)
class _RunSink:
    store: ResultStore
    run_id: str

    def save(self, results: Sequence[HostResult]) -> None:
        self.store.save_host_results(self.run_id, results)


def store_recorder(store: ResultStore, run_id: str) -> BufferedRecorder:
    """Finished hosts of ``run_id`` go to ``store`` in small batches (each held result is up
    to ~0.7 MB until it is saved)."""
    return BufferedRecorder(_RunSink(store, run_id), batch=50, interval=1.0)


async def scan_hosts(
    hosts: Sequence[Host],
    ctx: ScanContext,
    *,
    concurrency: int,
    on_result: Callable[[HostResult], None],
) -> tuple[list[HostResult], bool]:
    """Scan ``hosts``; return (results in inventory order, cancelled?).

    Cancellation (Ctrl-C) is absorbed here: hosts that finished are returned and were already
    passed to ``on_result``; the others come back as CANCELLED results.
    """
    finished: dict[str, HostResult] = {}

    def collect(result: HostResult) -> None:
        on_result(result)  # the store (and --save-facts) get the whole result
        finished[result.host] = slim_result(result)

    cancelled = False
    started = utcnow()
    try:
        await run_hosts(
            hosts, lambda h: scan_host(h, ctx), concurrency=concurrency, on_result=collect
        )
    except asyncio.CancelledError:
        cancelled = True
    ordered: list[HostResult] = []
    for host in hosts:
        result = finished.get(host.name)
        if result is None:
            result = cancelled_result(host, started)
            on_result(result)
        ordered.append(result)
    return ordered, cancelled


def slim_result(result: HostResult) -> HostResult:
    """What the run keeps of a host once the store has it: what the report shows. The facts'
    package lists (installed packages, pending updates) and the INSTALLED_OTHER items
    (thousands per host, ~0.7 MB) go; OS, reboot flag, counts, states and the items the report
    lists stay (~0.1 MB per host)."""
    update: dict[str, object] = {}
    if result.facts is not None and (result.facts.installed or result.facts.updates):
        update["facts"] = result.facts.model_copy(update={"installed": (), "updates": ()})
    compliance = result.compliance
    if compliance is not None:
        kept = tuple(i for i in compliance.items if i.state is not PatchState.INSTALLED_OTHER)
        if len(kept) != len(compliance.items):
            update["compliance"] = compliance.model_copy(update={"items": kept})
    return result.model_copy(update=update) if update else result


def cancelled_result(host: Host, started: datetime) -> HostResult:
    return HostResult(
        host=host.name,
        address=host.address,
        outcome=HostOutcome.CANCELLED,
        failure=HostFailure(kind="cancelled", message="run cancelled before this host finished"),
        patch_group=host.patch_group,
        started_at=started,
        finished_at=utcnow(),
    )


def make_run(
    *,
    run_id: str,
    operation: str,
    started_at: datetime,
    inventory: Sequence[str],
    targets: Sequence[str],
    hosts: Sequence[HostResult],
    cancelled: bool,
) -> RunResult:
    return RunResult(
        run_id=run_id,
        operation=operation,
        started_at=started_at,
        finished_at=utcnow(),
        inventory=tuple(inventory),
        targets=tuple(targets),
        hosts=tuple(hosts),
        cancelled=cancelled,
    )
