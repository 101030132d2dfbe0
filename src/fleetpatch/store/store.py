"""The compliance store: every run kept, the latest result per host is current compliance."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import and_, case, func, select, true, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from fleetpatch.compliance import ComplianceLevel, ComplianceStatus
from fleetpatch.memo import RunMemo
from fleetpatch.results import HostFailure, HostOutcome, HostResult, RunResult
from fleetpatch.store.engine import (
    WRITE_OPTION,
    create_read_only_engine,
    create_store_engine,
    default_store_url,
    display_url,
    sqlite_path,
)
from fleetpatch.store.errors import RunNotFound, StoreError, StoreSchemaTooNew
from fleetpatch.store.failures import StoreUnavailable, store_unavailable
from fleetpatch.store.ids import new_run_id
from fleetpatch.store.liveness import Heartbeat, run_status, this_controller
from fleetpatch.store.migrate import current_version, migrate
from fleetpatch.store.migrations import LATEST_VERSION
from fleetpatch.store.models import HostHistoryEntry, RunStatus, RunSummary
from fleetpatch.store.read import counts_from_row, load_host_results
from fleetpatch.store.schema import host_results, runs
from fleetpatch.store.write import insert_host_results, refuse_secret_options, require_aware

_DRIVER_ERRORS = (SQLAlchemyError, sqlite3.Error, OSError, ImportError)
"""What a database driver, SQLAlchemy or the file system raise; the store turns them into
:class:`~fleetpatch.store.failures.StoreUnavailable`."""


def open_store(
    url: str | None = None, *, store_facts: bool = True, read_only: bool = False
) -> Store:
    """Open (creating and migrating forward as needed) the store at ``url``; default
    :func:`default_store_url`. ``read_only`` (SQLite files only): open it for reading
    without writing anything, not even SQLite's ``-wal``/``-shm`` files (see
    :func:`~fleetpatch.store.sqlite_setup.connect_read_only`); a write then fails as
    ``read-only``. Readers use :func:`open_store_for_reading`.

    Raises:
        StoreSchemaTooNew: the database was written by a newer fleetpatch.
        StoreUnavailable: the store cannot be opened (read-only, full, damaged, unreachable;
            read-only: a store of an older schema, which would need a migration); the message
            says what to do.
    """
    url = url or default_store_url()
    engine: Engine | None = None
    try:
        if read_only:
            engine = create_read_only_engine(url)
            _require_current(engine, url)
        else:
            engine = create_store_engine(url)
            migrate(engine)
    except _DRIVER_ERRORS as exc:
        if engine is not None:
            engine.dispose()
        raise store_unavailable(exc, display_url(url), sqlite_path(url)) from exc
    except BaseException:
        if engine is not None:
            engine.dispose()
        raise
    return Store(engine, store_facts=store_facts)


def open_store_for_reading(url: str | None = None) -> Store:
    """:func:`open_store` for a command that only reads (``report``, ``runs``, ``lease
    list``): when the SQLite file cannot be opened for writing because its directory is not
    writable or its disk is full, it is opened read-only instead, and read all the same.

    Raises:
        StoreSchemaTooNew, StoreUnavailable: as :func:`open_store`; when the read-only open
            fails too, its error (it says why the file cannot even be read).
    """
    url = url or default_store_url()
    try:
        return open_store(url)
    except StoreUnavailable as exc:
        path = sqlite_path(url)
        if exc.cause not in ("read-only", "full") or path is None:
            raise
        if not Path(path).expanduser().is_file():
            raise
    return open_store(url, read_only=True)


def _require_current(engine: Engine, url: str) -> None:
    """A read-only store must already have this fleetpatch's schema (it cannot be migrated).

    Raises:
        StoreSchemaTooNew: newer than this fleetpatch.
        StoreUnavailable: older (or no store at all).
    """
    with engine.connect() as conn:
        found = current_version(conn)
    if found > LATEST_VERSION:
        raise StoreSchemaTooNew(display_url(url), found, LATEST_VERSION)
    if found < LATEST_VERSION:
        raise StoreUnavailable(
            display_url(url),
            "read-only",
            f"schema version {found}, this fleetpatch needs {LATEST_VERSION}",
            "it must be migrated before it can be read, which needs writing: make the file "
            "and its directory writable (or free space there) and run any fleetpatch command "
            "once, or give another store with --store or FLEETPATCH_STORE",
        )


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _translated(
    method: Callable[Concatenate[Store, _P], _T],
) -> Callable[Concatenate[Store, _P], _T]:
    """A store method whose driver and file-system errors become StoreUnavailable."""

    def wrapper(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(self, *args, **kwargs)
        except _DRIVER_ERRORS as exc:
            raise self.unavailable(exc) from exc

    functools.update_wrapper(wrapper, method)
    return wrapper


class Store:
    """Runs, host results, patch states, facts and the audit log, in one SQL database.

    Each write method is one transaction. Use :func:`open_store` rather than the constructor,
    which expects an already migrated engine.
    """

    def __init__(self, engine: Engine, *, store_facts: bool = True):
        self._engine = engine
        self._store_facts = store_facts
        self._known_digests: frozenset[str] = frozenset()
        # encodings of the shared package lists, items and rows of the hosts written so far
        self._memo = RunMemo()
        self._heartbeats: dict[str, Heartbeat] = {}

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def where(self) -> str:
        """The store's URL for messages (password masked)."""
        return display_url(self._engine.url)

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        """``exc`` (a driver or file-system error met by this store) in an operator's words."""
        return store_unavailable(exc, self.where, sqlite_path(self._engine.url))

    def close(self) -> None:
        for beat in self._heartbeats.values():
            beat.stop()
        self._heartbeats.clear()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    @_translated
    def save_run(self, run: RunResult, *, options: Mapping[str, Any] | None = None) -> None:
        """Store a complete run, its hosts, patch states, facts and audit rows in ONE
        transaction. Raises StoreError if the run id is already stored."""
        refuse_secret_options(options)
        with self._write() as conn:
            self._refuse_existing(conn, run.run_id)
            conn.execute(
                runs.insert().values(
                    id=run.run_id,
                    operation=run.operation,
                    started_at=require_aware(run.started_at, "run started_at"),
                    finished_at=require_aware(run.finished_at, "run finished_at"),
                    inventory=list(run.inventory),
                    targets=list(run.targets),
                    status="cancelled" if run.cancelled else "finished",
                    options=dict(options) if options is not None else None,
                    cancelled=run.cancelled,
                    controller=run.controller or this_controller(),
                    heartbeat_at=datetime.now(UTC),
                    targeted_hosts=run.targeted_hosts,
                )
            )
            added = self._insert_hosts(conn, run.run_id, run.hosts)
        self._remember(added)

    @_translated
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
        """Record a run that has started; returns its id (a new sortable id unless given).

        The run is this process's (``runs.controller``) and its heartbeat is renewed by a
        thread until :meth:`finish_run` or :meth:`close` (fleetpatch.store.liveness)."""
        refuse_secret_options(options)
        run_id = run_id or new_run_id(started_at)
        with self._write() as conn:
            self._refuse_existing(conn, run_id)
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    operation=operation,
                    started_at=require_aware(started_at, "run started_at"),
                    finished_at=None,
                    inventory=list(inventory),
                    targets=list(targets),
                    status="running",
                    options=dict(options) if options is not None else None,
                    cancelled=False,
                    controller=this_controller(),
                    heartbeat_at=datetime.now(UTC),
                    targeted_hosts=targeted_hosts,
                )
            )
        self._beat_for(run_id)
        return run_id

    @_translated
    def claim_run(self, run_id: str) -> None:
        """Make this process the controller of a run it is about to resume (``fleetpatch run
        --resume``: a run whose controller died, or one cancelled with Ctrl-C, which the
        rollout ledger re-opens); its heartbeat is renewed from now on.

        Raises:
            RunNotFound: no such run.
            StoreError: the run finished; there is nothing to resume.
        """
        with self._write() as conn:
            status = conn.execute(
                select(runs.c.status).where(runs.c.id == run_id).with_for_update()
            ).scalar_one_or_none()
            if status is None:
                raise RunNotFound(run_id)
            if status == "finished":
                raise StoreError(f"run {run_id!r} is finished; there is nothing to resume")
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(controller=this_controller(), heartbeat_at=datetime.now(UTC))
            )
        self._beat_for(run_id)

    @_translated
    def save_host_results(self, run_id: str, results: Sequence[HostResult]) -> None:
        """Append finished hosts to a running run, in one transaction per call (call it per
        batch, or every few seconds, not per host when scanning thousands)."""
        with self._write() as conn:
            self._require_running(conn, run_id)
            added = self._insert_hosts(conn, run_id, results)
        self._remember(added)

    @_translated
    def finish_run(self, run_id: str, finished_at: datetime, cancelled: bool = False) -> None:
        """Mark a running run finished (or cancelled, after Ctrl-C)."""
        beat = self._heartbeats.pop(run_id, None)
        if beat is not None:
            beat.stop()
        with self._write() as conn:
            self._require_running(conn, run_id)
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    finished_at=require_aware(finished_at, "run finished_at"),
                    status="cancelled" if cancelled else "finished",
                    cancelled=cancelled,
                    heartbeat_at=datetime.now(UTC),
                )
            )

    # -- reading -------------------------------------------------------------------------

    @_translated
    def load_run(self, run_id: str, *, with_facts: bool = True) -> RunResult:
        """The run as saved, with its status (``running`` or ``interrupted`` for a run that
        did not finish: fleetpatch.store.liveness). A run never finished gets ``finished_at``
        = its last host's finish (or its start). Raises RunNotFound."""
        with self._engine.connect() as conn:
            run = conn.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
            if run is None:
                raise RunNotFound(run_id)
            hosts = load_host_results(conn, host_results.c.run_id == run_id, with_facts=with_facts)
        finished = run.finished_at
        if finished is None:
            finished = max((h.finished_at for h in hosts), default=run.started_at)
        status = run_status(
            run.status,
            controller=run.controller,
            heartbeat_at=run.heartbeat_at,
            started_at=run.started_at,
        )
        return RunResult(
            run_id=run.id,
            operation=run.operation,
            started_at=run.started_at,
            finished_at=finished,
            inventory=tuple(run.inventory),
            targets=tuple(run.targets),
            hosts=tuple(hosts),
            cancelled=run.cancelled,
            status=status,
            controller=None if status in ("finished", "cancelled") else run.controller,
            targeted_hosts=run.targeted_hosts,
        )

    @_translated
    def latest_run_id(self, operation: str | None = None) -> str | None:
        query = select(runs.c.id).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
        if operation is not None:
            query = query.where(runs.c.operation == operation)
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    @_translated
    def list_runs(self, limit: int = 20) -> list[RunSummary]:
        """The newest ``limit`` runs, newest first."""
        tallies = (
            select(
                host_results.c.run_id,
                func.count().label("hosts"),
                _count_if(host_results.c.compliance_status == ComplianceStatus.COMPLIANT.value),
                _count_if(host_results.c.compliance_status == ComplianceStatus.NON_COMPLIANT.value),
                _count_if(
                    host_results.c.outcome.in_(
                        [HostOutcome.FAILED.value, HostOutcome.UNSUPPORTED.value]
                    )
                ),
            )
            .group_by(host_results.c.run_id)
            .subquery()
        )
        cols = list(tallies.c)
        query = (
            select(runs, *cols[1:])
            .outerjoin(tallies, tallies.c.run_id == runs.c.id)
            .order_by(runs.c.started_at.desc(), runs.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_run_summary(row) for row in rows]

    @_translated
    def current_compliance(
        self, *, include_failed: bool = False, with_facts: bool = False
    ) -> list[HostResult]:
        """The latest result per host across all runs, sorted by host.

        By default only results that carry a compliance verdict count, as in SSM, where a
        scan that fails uploads nothing and the last good scan stays current. With
        ``include_failed`` the latest result of any outcome counts (an unreachable host then
        shows as failed). Earlier results stay in the store untouched.
        """
        condition = true() if include_failed else host_results.c.compliance_status.is_not(None)
        latest = _latest_per_host(condition)
        with self._engine.connect() as conn:
            found = load_host_results(conn, host_results.c.id.in_(latest), with_facts=with_facts)
        return sorted(found, key=lambda result: result.host)

    @_translated
    def pending_reboots(self, hosts: Sequence[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Hosts whose latest install left patches pending a reboot (``reboot: never``):
        host -> (boot identity after that install, the patches installed). A scan of such a
        host in the same boot keeps those patches INSTALLED_PENDING_REBOOT, as SSM does."""
        installs = select(runs.c.id).where(runs.c.operation == "install")
        latest = _latest_per_host(
            and_(
                host_results.c.run_id.in_(installs),
                host_results.c.install_summary.is_not(None),
                host_results.c.host.in_(list(hosts)),
            )
        )
        with self._engine.connect() as conn:
            found = load_host_results(conn, host_results.c.id.in_(latest), with_facts=True)
        pending: dict[str, tuple[str, tuple[str, ...]]] = {}
        for result in found:
            install = result.install
            if install and install.reboot == "pending" and result.facts and result.facts.boot_id:
                pending[result.host] = (result.facts.boot_id, install.installed)
        return pending

    @_translated
    def host_history(self, host: str, *, limit: int | None = None) -> list[HostHistoryEntry]:
        """Every stored result of ``host``, newest first."""
        query = (
            select(host_results, runs.c.operation)
            .join(runs, runs.c.id == host_results.c.run_id)
            .where(host_results.c.host == host)
            .order_by(host_results.c.finished_at.desc(), host_results.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_history_entry(row) for row in rows]

    # -- internals -----------------------------------------------------------------------

    def _write(self) -> _WriteTransaction:
        return _WriteTransaction(self)

    def _beat_for(self, run_id: str) -> None:
        if run_id not in self._heartbeats:
            self._heartbeats[run_id] = Heartbeat(lambda: self._renew(run_id), run_id=run_id).start()

    def _renew(self, run_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(heartbeat_at=datetime.now(UTC))
            )

    def _insert_hosts(
        self, conn: Connection, run_id: str, results: Sequence[HostResult]
    ) -> set[str]:
        return insert_host_results(
            conn,
            run_id,
            results,
            store_facts=self._store_facts,
            known_digests=self._known_digests,
            memo=self._memo,
        )

    def _remember(self, digests: set[str]) -> None:
        if digests - self._known_digests:
            self._known_digests = self._known_digests | digests

    @staticmethod
    def _refuse_existing(conn: Connection, run_id: str) -> None:
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None:
            raise StoreError(f"run {run_id!r} is already stored; runs are never overwritten")

    @staticmethod
    def _require_running(conn: Connection, run_id: str) -> None:
        # FOR UPDATE (PostgreSQL) serialises concurrent writers of one run; SQLite's
        # BEGIN IMMEDIATE already does.
        query = select(runs.c.status).where(runs.c.id == run_id).with_for_update()
        status = conn.execute(query).scalar_one_or_none()
        if status is None:
            raise RunNotFound(run_id)
        if status != "running":
            raise StoreError(f"run {run_id!r} is {status}; only a running run takes new results")


_CONFLICTS = (IntegrityError, sqlite3.IntegrityError)
"""A constraint the block's own statements broke (two writers inserting one lease): the
caller's to handle, not a store that stopped working."""


class _WriteTransaction:
    """``with`` block: a connection in a write transaction, committed on success, rolled back
    otherwise. Driver errors (in the block too, except constraint conflicts, which the caller
    handles) leave it as StoreUnavailable."""

    def __init__(self, store: Store):
        self._store = store
        self._conn: Connection | None = None

    def __enter__(self) -> Connection:
        conn: Connection | None = None
        try:
            conn = self._store.engine.connect()
            conn.execution_options(**{WRITE_OPTION: True})
            conn.begin()
        except _DRIVER_ERRORS as exc:
            if conn is not None:
                conn.close()
            raise self._store.unavailable(exc) from exc
        self._conn = conn
        return conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        assert conn is not None
        self._conn = None
        try:
            if exc_type is None:
                conn.commit()
            else:
                # SQLite may have rolled back by itself (a full disk): the block's error counts
                with contextlib.suppress(*_DRIVER_ERRORS):
                    conn.rollback()
        except _DRIVER_ERRORS as failed:
            raise self._store.unavailable(failed) from failed
        finally:
            conn.close()
        if isinstance(exc, _DRIVER_ERRORS) and not isinstance(exc, _CONFLICTS):
            raise self._store.unavailable(exc) from exc


def _latest_per_host(condition: Any) -> Any:
    """The id of each host's newest result among those matching ``condition``."""
    ranked = (
        select(
            host_results.c.id,
            func.row_number()
            .over(
                partition_by=host_results.c.host,
                order_by=(host_results.c.finished_at.desc(), host_results.c.id.desc()),
            )
            .label("rank"),
        )
        .where(condition)
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.rank == 1)


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _run_summary(row: Any) -> RunSummary:
    values = list(row)
    hosts, compliant, non_compliant, failed = (int(v or 0) for v in values[-4:])
    status: RunStatus = run_status(
        row.status,
        controller=row.controller,
        heartbeat_at=row.heartbeat_at,
        started_at=row.started_at,
    )
    return RunSummary(
        run_id=row.id,
        operation=row.operation,
        status=status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        cancelled=row.cancelled,
        controller=row.controller,
        heartbeat_at=row.heartbeat_at,
        targeted_hosts=row.targeted_hosts,
        inventory=tuple(row.inventory),
        targets=tuple(row.targets),
        options=row.options,
        hosts=hosts,
        compliant=compliant,
        non_compliant=non_compliant,
        failed=failed,
    )


def _history_entry(row: Any) -> HostHistoryEntry:
    has_verdict = row.compliance_status is not None
    failure = None
    if row.failure_kind is not None:
        failure = HostFailure(
            kind=row.failure_kind, message=row.failure_message or "", step=row.failure_step or ""
        )
    return HostHistoryEntry(
        run_id=row.run_id,
        operation=row.operation,
        host=row.host,
        outcome=HostOutcome(row.outcome),
        failure=failure,
        baseline=row.baseline,
        status=ComplianceStatus(row.compliance_status) if has_verdict else None,
        overall_severity=(
            ComplianceLevel(row.overall_severity) if row.overall_severity is not None else None
        ),
        counts=counts_from_row(row) if has_verdict else None,
        reboot_required=row.reboot_required,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
