"""A whole install run as the CLI starts it: from a request (options or a playbook) to a
stored RunResult, with resume of a run a killed controller left behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fleetpatch.baseline.override import InstallOverrideList, load_install_override
from fleetpatch.engine.aio import run_main
from fleetpatch.engine.connecting import new_connector, with_timeouts
from fleetpatch.engine.context import build_scan_context, load_baseline_choice
from fleetpatch.engine.install import Hooks, InstallContext, RebootOption
from fleetpatch.engine.pipeline import utcnow
from fleetpatch.engine.rollout import (
    Window,
    parse_batch_sizes,
    parse_duration,
    parse_rate,
    parse_window_end,
    plan_batches,
)
from fleetpatch.engine.rollout_run import RolloutOutcome, RolloutSpec, run_rollout
from fleetpatch.engine.scan_run import StoreGuard, make_run
from fleetpatch.errors import InputError
from fleetpatch.inventory.loader import load_inventory
from fleetpatch.inventory.model import Host
from fleetpatch.inventory.targets import select_hosts
from fleetpatch.knowledge import check_max_metadata_ages, max_metadata_age_option
from fleetpatch.platforms.installers import installer_for
from fleetpatch.results import HostResult, RunResult
from fleetpatch.store import Store, new_run_id
from fleetpatch.store.errors import StoreError
from fleetpatch.store.rollouts import FINISHED_STATES, RUNNING, RolloutLedger


@dataclass(frozen=True)
class RolloutRequest:
    """Everything an install run needs, as plain data (stored with the run for resume)."""

    inventory: tuple[str, ...]
    targets: tuple[str, ...] = ()
    baselines: tuple[str, ...] = ()
    patch_groups: str | None = None
    batches: tuple[int | str, ...] = ("100%",)
    max_concurrency: int | str = 50
    max_errors: int | str = 0
    canary: bool = False
    on_failure: str = "continue"
    reboot: str = "if-needed"
    pre_install: str | None = None
    post_install: str | None = None
    on_exit: str | None = None
    health_check: str | None = None
    install_override: str | None = None
    window_end: str | None = None
    cutoff: str | None = None
    dry_run: bool = False
    accept_new_host_keys: bool = False
    refresh: bool = False
    max_metadata_age: str | None = None
    connect_timeout: float | None = None
    command_timeout: float | None = None
    reboot_timeout: float = 600.0
    health_check_timeout: float = 300.0
    lock_timeout: int | None = None
    reconnect_timeout: float = 300.0
    workdir: str | None = None
    playbook: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutRequest:
        values = dict(data)
        for key in ("inventory", "targets", "baselines", "batches"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


@dataclass
class PreparedRollout:
    request: RolloutRequest
    hosts: list[Host]
    plan: list[list[str]]
    ictx: InstallContext
    spec: RolloutSpec
    window: Window | None = None
    warnings: list[str] = field(default_factory=list)


def prepare(
    request: RolloutRequest, *, plan: Sequence[Sequence[str]] | None = None
) -> PreparedRollout:
    """Load and check everything before any host is contacted.

    Raises:
        InputError: any invalid file, option or target (nothing has run, nothing is stored).
    """
    inv = load_inventory([Path(p) for p in request.inventory])
    hosts = [_with_timeouts(h, request) for h in select_hosts(inv, list(request.targets))]
    names = [h.name for h in hosts]
    if plan is None:
        plan = plan_batches(names, parse_batch_sizes(list(request.batches)))
    else:
        missing = sorted({n for b in plan for n in b} - set(names))
        if missing:
            raise InputError(
                f"cannot resume: hosts of the stored plan are no longer in the inventory: "
                f"{', '.join(missing)}"
            )
    choose = load_baseline_choice(
        baselines=request.baselines,
        patch_groups=Path(request.patch_groups) if request.patch_groups else None,
    )
    override: InstallOverrideList | None = (
        load_install_override(request.install_override) if request.install_override else None
    )
    if request.reboot not in ("if-needed", "never", "always"):
        raise InputError(f"--reboot must be if-needed, never or always, got {request.reboot!r}")
    if request.on_failure not in ("continue", "halt"):
        raise InputError(f"--on-failure must be continue or halt, got {request.on_failure!r}")
    window: Window | None = None
    if request.window_end:
        end = parse_window_end(request.window_end).resolve(utcnow().astimezone())
        cutoff = parse_duration(request.cutoff, "cutoff") if request.cutoff else timedelta(0)
        window = Window(end=end, cutoff=cutoff)
    elif request.cutoff:
        raise InputError("--cutoff needs --window-end")
    max_age, max_age_given = max_metadata_age_option(request.max_metadata_age, "max_metadata_age")
    if not max_age_given:
        check_max_metadata_ages(hosts)
    scan_ctx = build_scan_context(
        new_connector(inv, accept_new_host_keys=request.accept_new_host_keys),
        choose=choose,
        refresh=request.refresh,
        max_metadata_age=max_age,
        max_metadata_age_given=max_age_given,
    )
    reboot: RebootOption = request.reboot  # type: ignore[assignment]
    ictx = InstallContext(
        scan=scan_ctx,
        reboot=reboot,
        dry_run=request.dry_run,
        hooks=Hooks(request.pre_install, request.post_install, request.on_exit),
        install_override=override,
        reboot_timeout=request.reboot_timeout,
        reconnect_timeout=request.reconnect_timeout,
        installers=partial(installer_for, lock_timeout=request.lock_timeout),
    )
    spec = RolloutSpec(
        max_concurrency=parse_rate(request.max_concurrency, "max_concurrency"),
        max_errors=parse_rate(request.max_errors, "max_errors"),
        canary=request.canary,
        on_failure=request.on_failure,
        window=window,
        health_check=request.health_check,
        health_check_timeout=request.health_check_timeout,
        workdir=Path(request.workdir) if request.workdir else None,
    )
    return PreparedRollout(request, hosts, [list(b) for b in plan], ictx, spec, window)


def _with_timeouts(host: Host, request: RolloutRequest) -> Host:
    return with_timeouts(host, connect=request.connect_timeout, command=request.command_timeout)


@dataclass
class JobOutcome:
    run: RunResult
    rollout: RolloutOutcome
    plan: list[list[str]]
    resumed: bool = False
    store_error: StoreError | None = None
    """The store failed while the run went: no host was started after that, the results not
    in ``stored_hosts`` were not stored, and the run's end was not recorded."""
    stored_hosts: frozenset[str] = frozenset()
    """Hosts whose result of this run is in the store."""


def execute(
    prepared: PreparedRollout,
    store: Store,
    *,
    on_result: Callable[[HostResult], None],
    resume_run: str | None = None,
    finished: dict[str, bool] | None = None,
    in_flight: set[str] | None = None,
    on_note: Callable[[str, str], None] | None = None,
) -> JobOutcome:
    """Run a prepared rollout, recording progress in ``store`` as it goes.

    ``on_note(host, text)`` hears what a host is waiting for (its package manager's lock).
    A resume (``resume_run``) takes results again even after a Ctrl-C, runs the hosts that
    did not finish, and attaches to the installs ``in_flight`` left running on their hosts.

    Each host's result is stored as it ends. When the store fails once hosts are running (a
    full disk), no further host is started (nothing is patched whose result cannot be
    stored), hosts already installing finish, the run's end is not recorded (the run shows as
    interrupted), and the outcome carries the error and the hosts that were stored: the
    caller reports the run and says what was not stored.

    Raises:
        StoreError: the store failed before any host started (nothing ran).
    """
    request = prepared.request
    operation = "install-dry-run" if request.dry_run else "install"
    started = utcnow()
    ledger = None if request.dry_run else RolloutLedger(store)
    controller = f"{socket.gethostname()}:{os.getpid()}"
    if resume_run is None:
        run_id = new_run_id()
        store.begin_run(
            operation,
            started,
            run_id=run_id,
            inventory=list(request.inventory),
            targets=list(request.targets),
            options={k: v for k, v in request.to_json().items() if v not in (None, (), False)},
            targeted_hosts=sum(len(batch) for batch in prepared.plan),
        )
        if ledger is not None:
            ledger.create(
                run_id,
                {"request": request.to_json(), "batches": prepared.plan},
                prepared.plan,
                controller=controller,
                now=started,
            )
    else:
        run_id = resume_run
        assert ledger is not None
        done = finished or {}
        rerun = [n for b in prepared.plan for n in b if n not in done]
        ledger.reopen(run_id, rerun, now=started, controller=controller)
    prepared.ictx = replace(prepared.ictx, run_id=run_id, notify=on_note)
    guard = StoreGuard(store)
    stored_hosts: set[str] = set(finished or {})

    def record(result: HostResult) -> None:
        if guard.error is None:  # installs are slow and precious: store each as it ends
            guard.save_host_results(run_id, [result])
            if guard.error is None:
                stored_hosts.add(result.host)
        on_result(result)  # progress says a host is done once it is stored
        if guard.error is not None:
            raise guard.error  # the rollout stops starting hosts

    outcome = run_main(_run(prepared, run_id, ledger, record, finished or {}, in_flight or set()))
    error = guard.error or outcome.store_error
    previous: list[HostResult] = []
    if finished:
        try:
            stored = store.load_run(run_id, with_facts=False)
            previous = [r for r in stored.hosts if r.host in finished]
        except StoreError as exc:
            error = error or exc
    by_host = {r.host: r for r in previous + outcome.results}
    ordered = [by_host[n] for b in prepared.plan for n in b if n in by_host]
    run = make_run(
        run_id=run_id,
        operation=operation,
        started_at=started,
        inventory=list(request.inventory),
        targets=list(request.targets),
        hosts=ordered,
        cancelled=outcome.cancelled,
    )
    if error is None:  # else the run stays as begun: shown as interrupted, resumable
        try:
            store.finish_run(run_id, finished_at=run.finished_at, cancelled=outcome.cancelled)
            if ledger is not None:
                state = "cancelled" if outcome.cancelled else "finished"
                ledger.set_state(run_id, state, now=utcnow())
                ledger.set_decisions(run_id, [d.reason for d in outcome.decisions], now=utcnow())
        except StoreError as exc:
            error = exc
    return JobOutcome(
        run,
        outcome,
        prepared.plan,
        resumed=resume_run is not None,
        store_error=error,
        stored_hosts=frozenset(stored_hosts),
    )


async def _run(
    prepared: PreparedRollout,
    run_id: str,
    ledger: RolloutLedger | None,
    record: Callable[[HostResult], None],
    finished: dict[str, bool],
    in_flight: set[str],
) -> RolloutOutcome:
    try:
        return await run_rollout(
            prepared.hosts,
            prepared.plan,
            prepared.ictx,
            prepared.spec,
            run_id=run_id,
            ledger=ledger,
            on_result=record,
            finished=finished,
            in_flight=in_flight,
        )
    finally:
        await prepared.ictx.scan.connector.close()


def load_for_resume(store: Store, run_id: str) -> tuple[PreparedRollout, dict[str, bool], set[str]]:
    """The stored request and plan of ``run_id``, the hosts it already finished, and those
    it had in flight (their install may still run, or have finished, on the host).

    Raises:
        InputError: no such rollout, or it finished already.
    """
    from fleetpatch.store.errors import RunNotFound

    try:
        record = RolloutLedger(store).load(run_id)
    except RunNotFound:
        raise InputError(f"no install run {run_id!r} in the store to resume") from None
    if record.state == "finished":
        raise InputError(f"run {run_id} already finished; nothing to resume")
    request = RolloutRequest.from_json(record.plan["request"])
    plan = record.plan["batches"]
    finished = {h: s == "done" for h, s in record.hosts.items() if s in FINISHED_STATES}
    in_flight = {h for h, s in record.hosts.items() if s == RUNNING}
    return prepare(request, plan=plan), finished, in_flight
