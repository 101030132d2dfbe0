"""save_run / load_run: what is saved comes back equal."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from result_builders import T0, mixed_run, ok_host, patch_item, run_of, run_results
from sqlalchemy import func, select

from fleetpatch.compliance import PatchState
from fleetpatch.results import RunResult
from fleetpatch.store import RunNotFound, Store, StoreError, new_run_id, open_store
from fleetpatch.store.schema import facts_blobs, host_results, patch_states


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(run=run_results())
def test_any_run_round_trips(store: Store, run: RunResult) -> None:
    run = run.model_copy(update={"run_id": new_run_id()})
    store.save_run(run)
    assert store.load_run(run.run_id) == run


def test_realistic_run_round_trips_with_facts(store: Store) -> None:
    run = mixed_run()
    store.save_run(run)
    loaded = store.load_run(run.run_id)
    assert loaded == run
    assert loaded.hosts[1].facts is not None
    assert len(loaded.hosts[1].facts.installed) == 40


def test_installed_other_items_are_kept_off_patch_state_rows(store: Store) -> None:
    items = [patch_item(f"pkg{i}", PatchState.INSTALLED_OTHER, security=False) for i in range(50)]
    items.insert(7, patch_item("openssl", PatchState.MISSING))
    run = run_of([ok_host("web-1", items)])
    store.save_run(run)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(patch_states)).scalar_one() == 1
    assert store.load_run(run.run_id) == run


def test_identical_installed_lists_share_one_blob(store: Store) -> None:
    hosts = [ok_host(f"web-{i}", packages=3000, seed=1) for i in range(3)]
    hosts.append(ok_host("db-1", packages=3000, seed=2))
    run = run_of(hosts)
    store.save_run(run)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(facts_blobs)).scalar_one() == 2
    second = run_of([ok_host("web-9", packages=3000, seed=1)], run_id=new_run_id())
    store.save_run(second)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(facts_blobs)).scalar_one() == 2
    assert store.load_run(run.run_id) == run
    assert store.load_run(second.run_id) == second


def test_store_without_facts(store_url: str) -> None:
    run = mixed_run()
    with open_store(store_url, store_facts=False) as store:
        store.save_run(run)
        loaded = store.load_run(run.run_id)
    expected = run.model_copy(
        update={"hosts": tuple(h.model_copy(update={"facts": None}) for h in run.hosts)}
    )
    assert loaded == expected


def test_load_without_facts_keeps_platform_columns(store: Store) -> None:
    run = mixed_run()
    store.save_run(run)
    assert all(h.facts is None for h in store.load_run(run.run_id, with_facts=False).hosts)
    with store.engine.connect() as conn:
        row = conn.execute(select(host_results).where(host_results.c.host == "web-2")).one()
    assert (row.platform_product, row.platform_family) == ("Debian12", "apt")
    assert (row.reboot_required, row.metadata_age_seconds) == (True, 3600)
    assert (row.missing_count, row.security_non_compliant_count) == (3, 3)


def test_a_run_is_never_overwritten(store: Store) -> None:
    run = mixed_run()
    store.save_run(run)
    with pytest.raises(StoreError, match="already stored"):
        store.save_run(run)
    assert store.load_run(run.run_id) == run


def test_naive_datetimes_are_refused_and_nothing_is_written(store: Store) -> None:
    good = ok_host("web-1")
    naive = ok_host("web-2").model_copy(update={"finished_at": datetime(2026, 5, 9, 7, 5)})
    run = run_of([good, naive])
    with pytest.raises(StoreError, match="timezone-aware"):
        store.save_run(run)
    with pytest.raises(RunNotFound):
        store.load_run(run.run_id)


def test_secret_looking_options_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="secret"):
        store.begin_run("scan", T0, options={"ssh_password": "hunter2"})
    assert store.latest_run_id() is None


def test_options_are_kept(store: Store) -> None:
    run = mixed_run()
    store.save_run(run, options={"refresh": False, "batches": [1, "10%"]})
    (summary,) = store.list_runs()
    assert summary.options == {"refresh": False, "batches": [1, "10%"]}


def test_unknown_run(store: Store) -> None:
    with pytest.raises(RunNotFound):
        store.load_run("nope")


def test_datetimes_come_back_as_the_same_instants(store: Store) -> None:
    run = mixed_run(at=T0 + timedelta(microseconds=123456))
    store.save_run(run)
    loaded = store.load_run(run.run_id)
    assert loaded.started_at == run.started_at
    assert loaded.started_at.utcoffset() == timedelta(0)
