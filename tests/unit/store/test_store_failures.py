"""Store errors in an operator's words: a damaged file, a full database, a store that cannot be
created. Each is a StoreUnavailable naming the store, the cause and what to do; the call that
failed wrote nothing, and the store stays usable. (Read-only files and directories and a real
full disk, through the command: tests/integration/test_store_faults_lab.py.)"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from result_builders import T0, debian_facts, ok_host

from fleetpatch.store import open_store
from fleetpatch.store.failures import StoreUnavailable, is_database_error
from fleetpatch.store.sqlite_scan import SqliteScanStore, open_scan_store


def _garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database, just some garbage bytes " * 200)
    return path


@pytest.mark.parametrize("opener", ["sqlalchemy", "sqlite3"])
def test_a_file_that_is_not_a_database(opener: str, tmp_path: Path) -> None:
    db = _garbage(tmp_path / "fleetpatch.db")
    before = db.read_bytes()
    url = f"sqlite:///{db}"
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url) if opener == "sqlalchemy" else open_scan_store(url)
    err = caught.value
    assert err.cause == "corrupt"
    assert str(err).startswith(f"the store {url} is damaged or is not a fleetpatch store (")
    assert "restore" in str(err) and "--store or FLEETPATCH_STORE" in str(err)
    assert db.read_bytes() == before


def test_a_store_directory_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    url = f"sqlite:///{blocker / 'sub' / 'fleetpatch.db'}"
    for opener in (open_store, open_scan_store):
        with pytest.raises(StoreUnavailable, match=r"the store sqlite:///.* failed"):
            opener(url)


def test_a_full_database_writes_nothing_and_stays_usable(tmp_path: Path) -> None:
    """SQLite's page limit gives the very error a full disk gives (SQLITE_FULL), and SQLite
    rolls the transaction back by itself: the store must report it, not a failed ROLLBACK."""
    lite = open_scan_store(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(lite, SqliteScanStore)
    run_id = lite.begin_run("scan", T0)
    pages = lite._conn.execute("PRAGMA page_count").fetchone()[0]
    lite._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    big = [
        ok_host(f"web-{n}").model_copy(
            update={"facts": debian_facts(f"web-{n}", packages=400, seed=n)}
        )
        for n in range(5)
    ]
    with pytest.raises(StoreUnavailable) as caught:
        lite.save_host_results(run_id, big)
    assert caught.value.cause == "full"
    assert "the disk holding it is full (database or disk is full)" in str(caught.value)
    assert lite._conn.execute("SELECT count(*) FROM host_results").fetchone() == (0,)
    lite._conn.execute("PRAGMA max_page_count = 1073741823")
    lite.save_host_results(run_id, big[:1])
    lite.finish_run(run_id, T0 + timedelta(seconds=1))
    lite.close()
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        assert [h.host for h in store.load_run(run_id).hosts] == ["web-0"]


def test_driver_errors_are_told_from_our_own() -> None:
    assert is_database_error(sqlite3.OperationalError("x"))
    assert not is_database_error(ValueError("x"))
