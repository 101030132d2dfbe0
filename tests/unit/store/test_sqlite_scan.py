"""The scan's SQLite writer (store.sqlite_scan) writes what SQLAlchemy's Store writes.

Both write the same runs into two fresh files; every table is compared row by row (only the
schema_version timestamps and the runs' heartbeat times differ), and the SQLAlchemy Store
reads the sqlite3-written file back to the same results. The frozen schema is checked against
a migrated database.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from result_builders import T0, failed_host, mixed_run, ok_host, patch_item, run_results

from fleetpatch.compliance import PatchState
from fleetpatch.results import InstallSummary, RunResult
from fleetpatch.store import Store, StoreError, StoreSchemaTooNew, open_store
from fleetpatch.store.engine import create_store_engine
from fleetpatch.store.errors import RunNotFound
from fleetpatch.store.migrate import schema_version
from fleetpatch.store.migrations import LATEST_VERSION, MIGRATIONS
from fleetpatch.store.sqlite_scan import (
    SCHEMA_STEPS,
    SCHEMA_VERSION,
    SqliteScanStore,
    open_scan_store,
    sqlite_file,
)


def _write(db: Store | SqliteScanStore, run: RunResult, batch: int = 2) -> None:
    db.begin_run(
        run_id=run.run_id,
        operation=run.operation,
        started_at=run.started_at,
        inventory=list(run.inventory),
        targets=list(run.targets),
        options={"concurrency": 7, "baseline": None},
    )
    hosts = list(run.hosts)
    for start in range(0, len(hosts), batch):
        db.save_host_results(run.run_id, hosts[start : start + batch])
    db.finish_run(run.run_id, finished_at=run.finished_at, cancelled=run.cancelled)


def _dump(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {
            "schema": sorted(
                conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                key=lambda row: (row[0], row[1]),
            ),
            "versions": conn.execute(
                "SELECT version, description FROM schema_version ORDER BY version"
            ).fetchall(),
        }
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_version'"
        ):
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        # the writing process's clock when it last wrote (liveness): set, not the same
        unset = conn.execute("SELECT count(*) FROM runs WHERE heartbeat_at IS NULL").fetchone()
        assert unset == (0,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        listed = ", ".join("NULL" if c == "heartbeat_at" else c for c in columns)
        out["runs"] = conn.execute(f"SELECT {listed} FROM runs ORDER BY 1, 2").fetchall()
        return out
    finally:
        conn.close()


def _both(tmp_path: Path, runs: list[RunResult]) -> tuple[dict[str, Any], dict[str, Any]]:
    reference, lite = tmp_path / "sqlalchemy.db", tmp_path / "sqlite3.db"
    with open_store(f"sqlite:///{reference}") as store:
        for run in runs:
            _write(store, run)
    scan_store = open_scan_store(f"sqlite:///{lite}")
    assert isinstance(scan_store, SqliteScanStore)
    try:
        for run in runs:
            _write(scan_store, run)
    finally:
        scan_store.close()
    return _dump(reference), _dump(lite)


def test_frozen_schema_is_what_the_migrations_create(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == LATEST_VERSION
    assert [(m.version, m.description) for m in MIGRATIONS] == list(SCHEMA_STEPS)
    migrated, created = tmp_path / "migrated.db", tmp_path / "created.db"
    open_store(f"sqlite:///{migrated}").close()
    lite = SqliteScanStore.open(str(created))
    assert lite is not None
    lite.close()
    a, b = _dump(migrated), _dump(created)
    assert a["schema"] == b["schema"]
    assert a["versions"] == b["versions"]


def test_rows_are_the_ones_sqlalchemy_writes(tmp_path: Path) -> None:
    second = mixed_run(run_id="20260509T080000000Z-0000000002", at=T0 + timedelta(hours=1))
    same_packages = [
        ok_host(f"clone-{n}", [patch_item("openssl", PatchState.MISSING)]) for n in range(3)
    ]
    runs = [mixed_run(), second, _run("20260509T090000000Z-0000000003", same_packages)]
    reference, lite = _both(tmp_path, runs)
    assert reference.keys() == lite.keys()
    for table in reference:
        assert lite[table] == reference[table], table
    assert len(lite["host_results"]) == 4 + 4 + 3
    with open_store(f"sqlite:///{tmp_path / 'sqlite3.db'}") as store:
        for run in runs:
            assert store.load_run(run.run_id) == run


def _run(run_id: str, hosts: list[Any]) -> RunResult:
    return RunResult(
        run_id=run_id,
        operation="scan",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=1),
        hosts=tuple(hosts),
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(run=run_results())
def test_any_run_is_written_alike(tmp_path_factory: pytest.TempPathFactory, run: RunResult) -> None:
    tmp_path = tmp_path_factory.mktemp("alike")
    run = run.model_copy(update={"run_id": "20260509T070000000Z-00000000aa"})
    reference, lite = _both(tmp_path, [run])
    for table in reference:
        assert lite[table] == reference[table], table


def test_only_plain_sqlite_files_take_the_sqlite3_path() -> None:
    assert sqlite_file("sqlite:////var/lib/fp/store.db") == "/var/lib/fp/store.db"
    assert sqlite_file("sqlite:///relative/store.db") == "relative/store.db"
    for url in (
        "postgresql+psycopg://fp@db/fp",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///x.db?mode=ro",
        "sqlite:///a%20b.db",
        "sqlite+pysqlite:////x.db",
    ):
        assert sqlite_file(url) is None, url


def test_an_older_schema_is_migrated_by_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_store_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # a store written by the first release (schema version 1)
        schema_version.create(conn)
        MIGRATIONS[0].upgrade(conn)
        conn.execute(
            schema_version.insert().values(version=1, description="initial schema", applied_at=T0)
        )
    engine.dispose()
    assert SqliteScanStore.open(str(path)) is None
    store = open_scan_store(f"sqlite:///{path}")
    assert isinstance(store, Store)  # SQLAlchemy's path, which migrates
    store.close()
    current = SqliteScanStore.open(str(path))
    assert current is not None  # migrated to the current version
    current.close()


def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO schema_version VALUES (99, 'from the future', '2030-01-01 00:00:00.000000')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreSchemaTooNew, match="store schema version 99 is newer"):
        open_scan_store(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (99,)
    conn.close()


def test_run_state_is_checked_as_the_store_does(tmp_path: Path) -> None:
    lite = open_scan_store(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(lite, SqliteScanStore)
    run_id = lite.begin_run("scan", T0, run_id="r-1")
    with pytest.raises(StoreError, match="already stored; runs are never overwritten"):
        lite.begin_run("scan", T0, run_id="r-1")
    with pytest.raises(RunNotFound, match="no run 'r-2'"):
        lite.save_host_results("r-2", [failed_host("db-1")])
    with pytest.raises(StoreError, match="looks like a secret"):
        lite.begin_run("scan", T0, options={"sudo_password": "x"})
    lite.finish_run(run_id, T0 + timedelta(seconds=5))
    with pytest.raises(StoreError, match="is finished; only a running run takes new results"):
        lite.save_host_results(run_id, [failed_host("db-1")])
    lite.close()


def test_pending_reboots_are_read_once_installs_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    lite = open_scan_store(url)
    assert isinstance(lite, SqliteScanStore)
    assert lite.pending_reboots(["web-1"]) == {}
    host = ok_host("web-1")
    assert host.facts is not None
    host = host.model_copy(
        update={
            "facts": host.facts.model_copy(update={"boot_id": "boot-a"}),
            "install": InstallSummary(installed=("openssl",), reboot="pending"),
        }
    )
    install = RunResult(
        run_id="20260509T100000000Z-0000000009",
        operation="install",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=1),
        hosts=(host,),
    )
    _write(lite, install)
    assert lite.pending_reboots(["web-1", "web-2"]) == {"web-1": ("boot-a", ("openssl",))}
    lite.close()


def test_concurrent_first_opens_all_succeed(tmp_path: Path) -> None:
    """Several scans opening one new store at once: one creates it, the others wait for it
    (switching a new file to WAL answers "database is locked" at once, and is retried)."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "race.db"

    def opener(_: int) -> int:
        lite = open_scan_store(f"sqlite:///{path}")
        assert isinstance(lite, SqliteScanStore)
        try:
            return int(lite._conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])
        finally:
            lite.close()

    for _ in range(5):
        path.unlink(missing_ok=True)
        with ThreadPoolExecutor(max_workers=6) as pool:
            assert set(pool.map(opener, range(6))) == {SCHEMA_VERSION}
