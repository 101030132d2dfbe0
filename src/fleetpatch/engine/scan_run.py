"""A whole scan run: hosts through the pipeline, results recorded as they finish."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fleetpatch.compliance import NON_COMPLIANT_STATES, PatchItem
from fleetpatch.engine.pipeline import ScanContext, scan_host, utcnow
from fleetpatch.engine.runner import run_hosts
from fleetpatch.inventory.model import Host
from fleetpatch.results import HostFailure, HostOutcome, HostResult, RunResult
from fleetpatch.store.errors import StoreError


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


class RunStore(ResultStore, Protocol):
    """The part of the store a run writes to, begin to end."""

    def finish_run(self, run_id: str, finished_at: datetime, cancelled: bool = False) -> None: ...


@dataclass
class StoreGuard:
    """A run's store that cannot stop the run: the first StoreError of a write (a full disk,
    a damaged file) is kept in ``error``, later writes are skipped, and the run goes on to its
    report; the caller says that the results were not stored. ``stored`` counts the hosts
    whose results were written before. A try per batch: nothing per host."""

    store: RunStore
    error: StoreError | None = None
    stored: int = 0

    def save_host_results(self, run_id: str, results: Sequence[HostResult]) -> None:
        if self.error is not None:
            return
        try:
            self.store.save_host_results(run_id, results)
        except StoreError as exc:
            self.error = exc
        else:
            self.stored += len(results)

    def finish_run(self, run_id: str, finished_at: datetime, cancelled: bool = False) -> None:
        if self.error is not None:
            return
        try:
            self.store.finish_run(run_id, finished_at, cancelled)
        except StoreError as exc:
            self.error = exc


def store_recorder(store: ResultStore, run_id: str) -> BufferedRecorder:
    """Finished hosts of ``run_id`` go to ``store`` in small batches (each held result is up
    to ~0.7 MB until it is saved). Small, because the last batch is written after the last
    host has answered, while nothing else runs: 50 hosts were ~40 ms of a 200-host scan's
    wall time, 10 are ~8 ms (docs/benchmarks.md); a batch costs ~0.3 ms beyond its rows."""
    return BufferedRecorder(_RunSink(store, run_id), batch=10, interval=1.0)


GC_EVERY_HOSTS = 50


@dataclass
class CollectorPacer:
    """Cyclic garbage collection paced by finished hosts rather than by allocations.

    Python's collector runs after every 700 net allocations; with dozens of hosts in flight,
    each holding a parsed package list, those passes keep walking the same live objects. While
    a run goes the automatic collector is off and one full collection runs each time ``every``
    more hosts have finished, so the cyclic garbage closed connections leave behind is still
    freed. Measured at 200 hosts: 0.58 -> 0.18 s of collection per run (docs/benchmarks.md)."""

    every: int
    _done: int = 0
    _was_enabled: bool = True

    def __enter__(self) -> CollectorPacer:
        self._was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()

    def host_done(self) -> None:
        self._done += 1
        if self._done % self.every == 0:
            gc.collect()


ItemFilter = Callable[[PatchItem], bool]


def keep_no_items(item: PatchItem) -> bool:
    return False


def keep_non_compliant(item: PatchItem) -> bool:
    return item.state in NON_COMPLIANT_STATES


async def scan_hosts(
    hosts: Sequence[Host],
    ctx: ScanContext,
    *,
    concurrency: int,
    on_result: Callable[[HostResult], None],
    keep_items: ItemFilter = keep_no_items,
) -> tuple[list[HostResult], bool]:
    """Scan ``hosts``; return (results in inventory order, cancelled?).

    ``on_result`` gets each whole result as its host finishes (the store, ``--save-facts``,
    the JSON report's spool); the run then keeps a slim copy with only the patch items
    ``keep_items`` selects (see :func:`slim_result`).

    Cancellation (Ctrl-C) is absorbed here: hosts that finished are returned and were already
    passed to ``on_result``; the others come back as CANCELLED results.
    """
    finished: dict[str, HostResult] = {}
    pacer = CollectorPacer(every=max(GC_EVERY_HOSTS, concurrency))

    def collect(result: HostResult) -> None:
        on_result(result)
        finished[result.host] = slim_result(result, keep_items)
        pacer.host_done()

    cancelled = False
    started = utcnow()
    try:
        with pacer:
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


def slim_result(result: HostResult, keep_items: ItemFilter = keep_no_items) -> HostResult:
    """What the run keeps of a host once the store (and the report spool) have it: the facts
    without their package lists, the rollup with its counts and per-level figures but only the
    items ``keep_items`` selects (by default none). A few KB per host instead of ~0.1-0.7 MB;
    the whole result is in the store (``fleetpatch report --run``)."""
    update: dict[str, object] = {}
    if result.facts is not None and (result.facts.installed or result.facts.updates):
        update["facts"] = result.facts.model_copy(update={"installed": (), "updates": ()})
    compliance = result.compliance
    if compliance is not None and compliance.items:
        kept = () if keep_items is keep_no_items else tuple(filter(keep_items, compliance.items))
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
        targeted_hosts=len(hosts),
    )
