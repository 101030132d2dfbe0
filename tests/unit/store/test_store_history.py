"""Incremental saving, history, current compliance, audit rows, transactions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from result_builders import T0, failed_host, mixed_run, ok_host, patch_item, run_of
from sqlalchemy import event, select

from fleetpatch.compliance import ComplianceStatus, PatchState
from fleetpatch.results import HostOutcome
from fleetpatch.store import RunNotFound, Store, StoreError
from fleetpatch.store.schema import audit

MISSING = [patch_item("openssl", PatchState.MISSING)]


def test_incremental_saving_keeps_what_finished(store: Store) -> None:
    run_id = store.begin_run("scan", T0, inventory=["inv.yaml"], targets=["all"])
    store.save_host_results(run_id, [ok_host("web-1"), ok_host("web-2", MISSING)])
    store.save_host_results(run_id, [failed_host("db-1")])
    partial = store.load_run(run_id)
    assert [h.host for h in partial.hosts] == ["web-1", "web-2", "db-1"]
    assert partial.finished_at == failed_host("db-1").finished_at
    assert store.list_runs()[0].status == "running"

    store.finish_run(run_id, T0 + timedelta(minutes=1), cancelled=True)
    loaded = store.load_run(run_id)
    assert loaded.cancelled
    assert loaded.finished_at == T0 + timedelta(minutes=1)
    (summary,) = store.list_runs()
    assert (summary.status, summary.hosts, summary.compliant, summary.non_compliant) == (
        "cancelled",
        3,
        1,
        1,
    )
    assert summary.failed == 1
    with pytest.raises(StoreError, match="cancelled"):
        store.save_host_results(run_id, [ok_host("late")])


def test_incremental_saving_to_an_unknown_run(store: Store) -> None:
    with pytest.raises(RunNotFound):
        store.save_host_results("missing", [ok_host("web-1")])
    with pytest.raises(RunNotFound):
        store.finish_run("missing", T0)


def test_begin_run_generates_sortable_ids(store: Store) -> None:
    first = store.begin_run("scan", T0)
    second = store.begin_run("scan", T0 + timedelta(milliseconds=1))
    assert first < second
    assert store.latest_run_id() == second


def test_current_compliance_is_latest_per_host_and_history_is_kept(store: Store) -> None:
    day1 = run_of([ok_host("web-1", MISSING), ok_host("web-2", MISSING)], run_id="r1", at=T0)
    day2_at = T0 + timedelta(days=1)
    day2 = run_of(
        [ok_host("web-1", at=day2_at), failed_host("web-2", at=day2_at)], run_id="r2", at=day2_at
    )
    store.save_run(day1)
    store.save_run(day2)

    current = {h.host: h for h in store.current_compliance()}
    assert current["web-1"].compliance is not None
    assert current["web-1"].compliance.status is ComplianceStatus.COMPLIANT
    # a failed scan uploads nothing (as SSM): web-2's last good verdict stays current
    assert current["web-2"].compliance is not None
    assert current["web-2"].compliance.status is ComplianceStatus.NON_COMPLIANT

    with_failed = {h.host: h for h in store.current_compliance(include_failed=True)}
    assert with_failed["web-2"].outcome is HostOutcome.FAILED

    assert store.load_run("r1") == day1
    assert store.load_run("r2") == day2
    assert store.current_compliance(with_facts=True)[0].facts is not None


def test_host_history_newest_first(store: Store) -> None:
    for day in range(3):
        at = T0 + timedelta(days=day)
        items = MISSING if day < 2 else []
        store.save_run(run_of([ok_host("web-1", items, at=at)], run_id=f"r{day}", at=at))
    store.save_run(run_of([failed_host("web-1", at=T0 + timedelta(days=3))], run_id="r3"))
    history = store.host_history("web-1")
    assert [h.run_id for h in history] == ["r3", "r2", "r1", "r0"]
    assert history[0].failure is not None and history[0].status is None
    assert history[1].status is ComplianceStatus.COMPLIANT
    assert history[2].counts is not None and history[2].counts.missing == 1
    assert store.host_history("web-1", limit=1)[0].run_id == "r3"
    assert store.host_history("nobody") == []


def test_latest_run_id_by_operation_and_list_limit(store: Store) -> None:
    store.save_run(run_of([ok_host("a")], run_id="r1", operation="scan", at=T0))
    store.save_run(
        run_of([ok_host("a")], run_id="r2", operation="install", at=T0 + timedelta(hours=1))
    )
    assert store.latest_run_id() == "r2"
    assert store.latest_run_id("scan") == "r1"
    assert store.latest_run_id("reboot") is None
    assert [r.run_id for r in store.list_runs(limit=1)] == ["r2"]


def test_audit_rows_record_every_command(store: Store) -> None:
    run = mixed_run()
    store.save_run(run)
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit).order_by(audit.c.id)).all()
    expected = [(h.host, c) for h in run.hosts for c in h.commands]
    assert len(rows) == len(expected) == 2
    for row, (host, cmd) in zip(rows, expected, strict=True):
        assert (row.run_id, row.host, row.operation, row.digest, row.exit_code) == (
            run.run_id,
            host,
            cmd.operation,
            cmd.digest,
            cmd.exit_code,
        )
        assert row.started_at == cmd.started_at and row.duration == cmd.duration


class _StatementCounter:
    def __init__(self, store: Store):
        self.commits = 0
        self.inserts = 0
        event.listen(store.engine, "commit", self._on_commit)
        event.listen(store.engine, "before_cursor_execute", self._on_execute)

    def _on_commit(self, conn: Any) -> None:
        self.commits += 1

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            self.inserts += 1


def test_save_run_is_one_transaction_with_bulk_inserts(store: Store) -> None:
    hosts = [ok_host(f"web-{i:03d}", MISSING, seed=i % 3) for i in range(300)]
    hosts += [failed_host(f"db-{i:03d}") for i in range(50)]
    counter = _StatementCounter(store)
    store.save_run(run_of(hosts))
    assert counter.commits == 1
    # runs + facts blobs + host results + patch states + audit: a handful of statements,
    # however many hosts (insertmanyvalues may split very large batches)
    assert counter.inserts <= 10


def test_save_host_results_is_one_transaction_per_call(store: Store) -> None:
    run_id = store.begin_run("scan", T0)
    counter = _StatementCounter(store)
    store.save_host_results(run_id, [ok_host(f"web-{i}", MISSING) for i in range(100)])
    assert counter.commits == 1
