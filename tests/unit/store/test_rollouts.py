"""Rollout ledger and host leases on a real database (SQLite, and PostgreSQL in the lab)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from fleetpatch.store import RunNotFound, Store
from fleetpatch.store.rollouts import DONE, FAILED, PENDING, RolloutLedger

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_plan_and_progress_round_trip(store: Store) -> None:
    ledger = RolloutLedger(store)
    ledger.create("r1", {"batches": [1, "50%"]}, [["a"], ["b", "c"]], controller="x:1", now=T0)
    ledger.set_host("r1", "a", DONE, now=T0)
    ledger.set_host("r1", "b", FAILED, now=T0, detail="postinst failed")
    record = ledger.load("r1")
    assert record.plan == {"batches": [1, "50%"]}
    assert record.hosts == {"a": DONE, "b": FAILED, "c": PENDING}
    assert list(record.hosts) == ["a", "b", "c"]  # plan order
    ledger.set_state("r1", "finished", now=T0)
    assert ledger.load("r1").state == "finished"


def test_unknown_rollout(store: Store) -> None:
    with pytest.raises(RunNotFound):
        RolloutLedger(store).load("nope")


def test_lease_blocks_another_run_until_it_expires(store: Store) -> None:
    ledger = RolloutLedger(store)
    assert ledger.acquire("web-1", "r1", holder="ctl:1", now=T0, ttl=HOUR) is None
    other = ledger.acquire("web-1", "r2", holder="ctl:2", now=T0 + timedelta(minutes=5), ttl=HOUR)
    assert other is not None and other.run_id == "r1" and other.holder == "ctl:1"
    # the same run may take its own lease again (resume)
    assert ledger.acquire("web-1", "r1", holder="ctl:3", now=T0, ttl=HOUR) is None
    # an expired lease is taken over
    assert ledger.acquire("web-1", "r2", holder="ctl:2", now=T0 + 2 * HOUR, ttl=HOUR) is None
    assert ledger.lease("web-1") is not None and ledger.lease("web-1").run_id == "r2"  # type: ignore[union-attr]


def test_release_only_by_the_holder(store: Store) -> None:
    ledger = RolloutLedger(store)
    ledger.acquire("db-1", "r1", holder="c", now=T0, ttl=HOUR)
    ledger.release("db-1", "r2")
    assert ledger.lease("db-1") is not None
    ledger.release("db-1", "r1")
    assert ledger.lease("db-1") is None


def test_concurrent_acquires_have_one_winner(store: Store) -> None:
    ledger = RolloutLedger(store)

    def grab(run: str) -> bool:
        return ledger.acquire("h", run, holder=run, now=T0, ttl=HOUR) is None

    with ThreadPoolExecutor(8) as pool:
        winners = list(pool.map(grab, [f"r{i}" for i in range(8)]))
    assert winners.count(True) == 1
