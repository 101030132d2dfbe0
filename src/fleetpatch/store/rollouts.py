"""Rollout state kept in the store as a run goes: the plan, each host's progress, and per-host
leases that stop two runs from patching one host at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from fleetpatch.store.errors import RunNotFound, StoreError
from fleetpatch.store.schema import host_leases, host_results, rollout_hosts, rollouts, runs
from fleetpatch.store.store import Store

PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"
FINISHED_STATES = frozenset({DONE, FAILED})


@dataclass(frozen=True)
class Lease:
    host: str
    run_id: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RolloutRecord:
    run_id: str
    plan: dict[str, Any]
    state: str
    controller: str
    hosts: dict[str, str]  # host -> status


class RolloutLedger:
    """Writes and reads rollout progress; every call is its own short transaction."""

    def __init__(self, store: Store):
        self._store = store

    def create(
        self,
        run_id: str,
        plan: Mapping[str, Any],
        batches: Iterable[Iterable[str]],
        *,
        controller: str,
        now: datetime,
    ) -> None:
        rows = [
            {
                "run_id": run_id,
                "host": host,
                "batch": b,
                "position": p,
                "status": PENDING,
                "detail": "",
                "updated_at": now,
            }
            for b, batch in enumerate(batches)
            for p, host in enumerate(batch)
        ]
        with self._store._write() as conn:
            conn.execute(
                rollouts.insert().values(
                    run_id=run_id,
                    plan=dict(plan),
                    state=RUNNING,
                    controller=controller,
                    updated_at=now,
                )
            )
            if rows:
                conn.execute(rollout_hosts.insert(), rows)

    def load(self, run_id: str) -> RolloutRecord:
        """Raises:
        RunNotFound: no rollout with that id.
        """
        with self._store.engine.connect() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.run_id == run_id)).first()
            if row is None:
                raise RunNotFound(run_id)
            hosts = conn.execute(
                select(rollout_hosts.c.host, rollout_hosts.c.status)
                .where(rollout_hosts.c.run_id == run_id)
                .order_by(rollout_hosts.c.batch, rollout_hosts.c.position)
            ).all()
        return RolloutRecord(
            run_id=run_id,
            plan=dict(row.plan),
            state=row.state,
            controller=row.controller,
            hosts={h.host: h.status for h in hosts},
        )

    def set_host(
        self, run_id: str, host: str, status: str, *, now: datetime, detail: str = ""
    ) -> None:
        with self._store._write() as conn:
            conn.execute(
                update(rollout_hosts)
                .where(rollout_hosts.c.run_id == run_id, rollout_hosts.c.host == host)
                .values(status=status, detail=detail, updated_at=now)
            )

    def set_state(
        self, run_id: str, state: str, *, now: datetime, controller: str | None = None
    ) -> None:
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if controller is not None:
            values["controller"] = controller
        with self._store._write() as conn:
            conn.execute(update(rollouts).where(rollouts.c.run_id == run_id).values(**values))

    def set_decisions(self, run_id: str, decisions: list[str], *, now: datetime) -> None:
        """Keep the rollout's decisions (why it stopped, which batches ran) with its plan."""
        with self._store._write() as conn:
            plan = conn.execute(
                select(rollouts.c.plan).where(rollouts.c.run_id == run_id)
            ).scalar_one()
            conn.execute(
                update(rollouts)
                .where(rollouts.c.run_id == run_id)
                .values(plan={**plan, "decisions": decisions}, updated_at=now)
            )

    def acquire(
        self, host: str, run_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> Lease | None:
        """Take the lease on ``host`` for ``run_id``; return the other run's lease if it holds
        one that has not expired (then nothing changes). The same run may take its own lease
        again (resume)."""
        try:
            with self._store._write() as conn:
                row = conn.execute(
                    select(host_leases).where(host_leases.c.host == host).with_for_update()
                ).first()
                if row is not None and row.run_id != run_id and row.expires_at > now:
                    return Lease(row.host, row.run_id, row.holder, row.acquired_at, row.expires_at)
                values = {
                    "host": host,
                    "run_id": run_id,
                    "holder": holder,
                    "acquired_at": now,
                    "expires_at": now + ttl,
                }
                if row is None:
                    conn.execute(host_leases.insert().values(**values))
                else:
                    conn.execute(
                        update(host_leases).where(host_leases.c.host == host).values(**values)
                    )
        except IntegrityError:  # another process inserted first (PostgreSQL)
            current = self.lease(host)
            if current is None:
                raise StoreError(f"lease on {host} vanished while taking it") from None
            return current
        return None

    def release(self, host: str, run_id: str) -> None:
        with self._store._write() as conn:
            conn.execute(
                delete(host_leases).where(
                    host_leases.c.host == host, host_leases.c.run_id == run_id
                )
            )

    def reopen(self, run_id: str, rerun: Iterable[str], *, now: datetime, controller: str) -> None:
        """Resume ``run_id``: the run takes results again (an interrupted run was marked
        cancelled), and the results it stored for hosts it now runs again (skipped, or
        cancelled in flight) are dropped, so the run keeps one result per host: what
        happened on it.

        Raises:
            RunNotFound: no such run.
        """
        hosts = list(rerun)
        with self._store._write() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFound(run_id)
            if hosts:
                conn.execute(
                    delete(host_results).where(
                        host_results.c.run_id == run_id, host_results.c.host.in_(hosts)
                    )
                )
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=RUNNING, finished_at=None, cancelled=False)
            )
            conn.execute(
                update(rollouts)
                .where(rollouts.c.run_id == run_id)
                .values(state=RUNNING, controller=controller, updated_at=now)
            )

    def leases(self) -> list[Lease]:
        """Every lease held, oldest first."""
        with self._store.engine.connect() as conn:
            rows = conn.execute(select(host_leases).order_by(host_leases.c.acquired_at)).all()
        return [Lease(r.host, r.run_id, r.holder, r.acquired_at, r.expires_at) for r in rows]

    def release_any(self, host: str) -> Lease | None:
        """Release whatever lease ``host`` has (``fleetpatch lease release``); the lease it
        was, or None when it had none."""
        with self._store._write() as conn:
            row = conn.execute(select(host_leases).where(host_leases.c.host == host)).first()
            if row is None:
                return None
            conn.execute(delete(host_leases).where(host_leases.c.host == host))
        return Lease(row.host, row.run_id, row.holder, row.acquired_at, row.expires_at)

    def lease(self, host: str) -> Lease | None:
        with self._store.engine.connect() as conn:
            row = conn.execute(select(host_leases).where(host_leases.c.host == host)).first()
        if row is None:
            return None
        return Lease(row.host, row.run_id, row.holder, row.acquired_at, row.expires_at)
