"""Executes a rolling install: batches, error budget, canary, health checks, window, leases,
progress written to the store as it goes so a killed controller can resume."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

from fleetpatch.engine.install import InstallContext, install_host
from fleetpatch.engine.leases import lease_message
from fleetpatch.engine.pipeline import utcnow
from fleetpatch.engine.rollout import Decision, Rate, RolloutState, Window, resolve_rate
from fleetpatch.engine.runner import run_hosts
from fleetpatch.inventory.model import Host
from fleetpatch.results import HostFailure, HostOutcome, HostResult
from fleetpatch.store.errors import StoreError
from fleetpatch.store.rollouts import DONE, FAILED, RUNNING, SKIPPED, RolloutLedger


@dataclass(frozen=True)
class RolloutSpec:
    """How hosts are rolled through: SSM rate control plus batches and a canary."""

    max_concurrency: Rate
    max_errors: Rate
    canary: bool = False
    on_failure: str = "continue"
    window: Window | None = None
    health_check: str | None = None
    health_check_timeout: float = 300.0
    workdir: Path | None = None


@dataclass
class RolloutOutcome:
    results: list[HostResult]
    decisions: list[Decision]
    stopped_reason: str | None
    cancelled: bool = False
    store_error: StoreError | None = None
    """The first store failure met while the rollout went (its progress could not be written,
    or ``on_result`` could not store a result): from then on no new host started."""


@dataclass
class _Ledger:
    """Rollout progress in the store (None for dry runs, which change nothing)."""

    ledger: RolloutLedger | None
    run_id: str
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def set(self, host: str, status: str, detail: str = "") -> None:
        if self.ledger is not None:
            self.ledger.set_host(self.run_id, host, status, now=utcnow(), detail=detail)


def host_on_failure(host: Host) -> bool | None:
    """A host's own ``on_failure`` var (inventory ``vars: {on_failure: halt}``), if any."""
    value = host.facts.get("on_failure")
    if value == "halt":
        return True
    if value == "continue":
        return False
    return None


async def run_rollout(
    hosts: Sequence[Host],
    plan: Sequence[Sequence[str]],
    ictx: InstallContext,
    spec: RolloutSpec,
    *,
    run_id: str,
    ledger: RolloutLedger | None,
    on_result: Callable[[HostResult], None],
    finished: dict[str, bool] | None = None,
    in_flight: set[str] | None = None,
    lease_ttl: timedelta = timedelta(hours=2),
) -> RolloutOutcome:
    """Run the install over ``plan`` (batches of host names).

    ``finished`` names hosts a previous attempt of this run already completed (resume): they
    count towards the budget as they ended and are never installed again. ``in_flight``
    names hosts that attempt had started and not finished: their install job is looked for
    and followed (attached to) before anything else.

    The store failing (a full disk: a StoreError from the ledger, or from ``on_result`` storing
    a result) stops the rollout: no host is started whose result could not be stored, hosts
    already installing finish, and the error is returned in the outcome (never raised).
    """
    by_name = {h.name: h for h in hosts}
    done_before = finished or {}
    state = RolloutState(
        plan,
        max_errors=spec.max_errors,
        canary=spec.canary,
        on_failure="halt" if spec.on_failure == "halt" else "continue",
        window=spec.window,
    )
    book = _Ledger(ledger, run_id)
    attach_to = in_flight or set()
    in_progress: set[str] = set()
    results: dict[str, HostResult] = {}
    cancelled = False
    store_error: StoreError | None = None

    def store_failed(exc: StoreError) -> None:
        nonlocal store_error
        if store_error is None:
            store_error = exc
            state.stop(
                "stopped: the store failed, and no host is started whose result could not be "
                "stored (hosts already installing finish)"
            )

    def record(result: HostResult) -> None:
        results[result.host] = result
        try:
            on_result(result)
        except StoreError as exc:
            store_failed(exc)

    async def worker(host: Host, batch_no: int) -> HostResult:
        state.host_started(host.name)
        lease = None
        try:
            book.set(host.name, RUNNING)
            if ledger is not None and not ictx.dry_run:
                lease = ledger.acquire(
                    host.name, run_id, holder=book.holder, now=utcnow(), ttl=lease_ttl
                )
                if lease is not None:
                    result = _locked(host, lease_message(host.name, lease))
                    book.set(host.name, FAILED, result.failure.message if result.failure else "")
                    return result
        except StoreError as exc:  # nothing ran on the host
            store_failed(exc)
            return _skipped(host, "the store failed before this host started")
        in_progress.add(host.name)
        # cancelled (Ctrl-C): the lease stays, as the install may go on on the host; the
        # resume takes it again and attaches
        result = await install_host(host, ictx, batch=batch_no, attach=host.name in attach_to)
        try:
            if ledger is not None and not ictx.dry_run:
                ledger.release(host.name, run_id)
            book.set(host.name, DONE if result.outcome is HostOutcome.OK else FAILED)
        except StoreError as exc:  # the install is done: its result is still reported
            store_failed(exc)
        return result

    try:
        while (batch := state.next_batch()) is not None:
            batch_no = state.batch_number
            todo: list[Host] = []
            for name in batch:
                if name in done_before:
                    state.host_finished(
                        name, done_before[name], halt=host_on_failure(by_name[name])
                    )
                else:
                    todo.append(by_name[name])
            concurrency = resolve_rate(spec.max_concurrency, len(batch))

            def finished_host(result: HostResult) -> None:
                in_progress.discard(result.host)
                record(result)
                if result.outcome is HostOutcome.SKIPPED:  # never started: not a failure
                    return
                ok = result.outcome is HostOutcome.OK
                state.host_finished(result.host, ok, halt=host_on_failure(by_name[result.host]))

            await run_hosts(
                todo,
                partial(worker, batch_no=batch_no),
                concurrency=concurrency,
                on_result=finished_host,
                should_start=state.may_start_host,
            )
            health_ok, detail, checked = True, "", False
            ran = [n for n in batch if n in results or n in done_before]
            if spec.health_check and ran and not ictx.dry_run:
                checked = True
                health_ok, detail = await run_health_check(
                    spec.health_check,
                    [by_name[n] for n in ran],
                    batch_no=batch_no,
                    run_id=run_id,
                    timeout=spec.health_check_timeout,
                    workdir=spec.workdir,
                )
            state.batch_finished(health_ok, detail, checked=checked)
    except asyncio.CancelledError:
        cancelled = True
        for name in [n for batch in plan for n in batch if n in in_progress]:
            # left RUNNING in the ledger: the resume attaches to its install
            record(_interrupted(by_name[name], run_id))
    reason = state.stopped_reason
    for name in state.skipped_hosts():
        if name in results or name in done_before:
            continue
        skipped = _skipped(by_name[name], "run cancelled" if cancelled else reason)
        if store_error is None:
            try:
                book.set(name, SKIPPED, skipped.failure.message if skipped.failure else "")
            except StoreError as exc:
                store_failed(exc)
        record(skipped)
    ordered = [results[n] for batch in plan for n in batch if n in results]
    return RolloutOutcome(
        ordered, list(state.decisions), state.stopped_reason, cancelled, store_error
    )


async def run_health_check(
    command: str,
    hosts: Sequence[Host],
    *,
    batch_no: int,
    run_id: str,
    timeout: float,
    workdir: Path | None,
) -> tuple[bool, str]:
    """Run the health check on the controller with the batch's hosts in its environment.

    Environment: FLEETPATCH_RUN_ID, FLEETPATCH_BATCH (1-based), FLEETPATCH_BATCH_HOSTS (names,
    space separated) and FLEETPATCH_BATCH_ADDRESSES (address:port). Exit 0 = healthy.
    """
    env = dict(os.environ)
    env.update(
        FLEETPATCH_RUN_ID=run_id,
        FLEETPATCH_BATCH=str(batch_no),
        FLEETPATCH_BATCH_HOSTS=" ".join(h.name for h in hosts),
        FLEETPATCH_BATCH_ADDRESSES=" ".join(f"{h.address}:{h.port}" for h in hosts),
    )
    proc = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        command,
        cwd=str(workdir) if workdir else None,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"health check timed out after {timeout:g}s"
    if proc.returncode == 0:
        return True, ""
    tail = out.decode("utf-8", "replace").strip().splitlines()[-1:] if out else []
    return False, f"health check exit code {proc.returncode}" + (f": {tail[0]}" if tail else "")


def _locked(host: Host, message: str) -> HostResult:
    now = utcnow()
    return HostResult(
        host=host.name,
        address=host.address,
        outcome=HostOutcome.FAILED,
        failure=HostFailure(kind="locked", message=message),
        patch_group=host.patch_group,
        started_at=now,
        finished_at=now,
    )


def _interrupted(host: Host, run_id: str) -> HostResult:
    now = utcnow()
    return HostResult(
        host=host.name,
        address=host.address,
        outcome=HostOutcome.CANCELLED,
        failure=HostFailure(
            kind="cancelled",
            message="interrupted while in flight: an install already started goes on on the "
            f"host; resume with: fleetpatch run --resume {run_id} (it attaches to it)",
        ),
        patch_group=host.patch_group,
        started_at=now,
        finished_at=now,
    )


def _skipped(host: Host, reason: str | None) -> HostResult:
    now = utcnow()
    return HostResult(
        host=host.name,
        address=host.address,
        outcome=HostOutcome.SKIPPED,
        failure=HostFailure(kind="skipped", message=f"not started: {reason or 'rollout stopped'}"),
        patch_group=host.patch_group,
        started_at=now,
        finished_at=now,
    )
