"""Reading a store whose directory cannot be written, or whose disk is full: SQLite cannot
create the ``-shm`` file a WAL database needs, so a plain open fails; a reader falls back to
a read-only open (``mode=ro``, or ``immutable=1`` when the file holds everything: no ``-wal``
content) and reads what was committed. Both openers: the plain ``sqlite3`` one
(:func:`fleetpatch.store.sqlite_setup.connect_read_only`) and SQLAlchemy's
(``open_store(url, read_only=True)``).

The faults are real: a read-only file system (a tmpfs the test mounts and remounts read-only;
file modes do not bind root, and CI runs as root) or a directory of mode 0555 when the tests
do not run as root; a full disk is a 512 KiB tmpfs filled to the last byte.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from result_builders import T0, ok_host

from fleetpatch.store import open_store
from fleetpatch.store.failures import StoreUnavailable
from fleetpatch.store.sqlite_setup import connect_read_only


def _mount_tmpfs(directory: Path, size_kb: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _umount(directory: Path) -> None:
    subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


def _store_with_a_run(db: Path) -> str:
    with open_store(f"sqlite:///{db}") as store:
        run_id = store.begin_run("scan", T0)
        store.save_host_results(run_id, [ok_host("web-1"), ok_host("web-2")])
        store.finish_run(run_id, T0)
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name)) == [
        db.name
    ]  # closed cleanly: the WAL was checkpointed into the file and removed
    return run_id


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A store with one run in a directory that cannot be written."""
    directory = tmp_path / "ro"
    if os.geteuid() == 0:
        _mount_tmpfs(directory, 4096)
        run_id = _store_with_a_run(directory / "fleetpatch.db")
        done = subprocess.run(
            ["mount", "-o", "remount,ro", str(directory)], capture_output=True, text=True
        )
        if done.returncode != 0:
            _umount(directory)
            pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
        try:
            yield directory / "fleetpatch.db", run_id
        finally:
            _umount(directory)
    else:
        directory.mkdir()
        run_id = _store_with_a_run(directory / "fleetpatch.db")
        directory.chmod(0o555)
        try:
            yield directory / "fleetpatch.db", run_id
        finally:
            directory.chmod(0o755)


@pytest.fixture
def full_store(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A store with one run on a disk with no byte left."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a tmpfs mounted by the test (root)")
    directory = tmp_path / "full"
    _mount_tmpfs(directory, 1024)
    try:
        run_id = _store_with_a_run(directory / "fleetpatch.db")
        with (directory / "filler").open("wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        yield directory / "fleetpatch.db", run_id
    finally:
        _umount(directory)


FAULTS = ["read_only_store", "full_store"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_plain_open_fails_there(fault: str, request: pytest.FixtureRequest) -> None:
    """The fault is real: what the store does first cannot work."""
    db, _ = request.getfixturevalue(fault)
    with pytest.raises(StoreUnavailable) as caught:
        open_store(f"sqlite:///{db}")
    assert caught.value.cause in ("read-only", "full")


@pytest.mark.parametrize("fault", FAULTS)
def test_sqlite3_reads_it_read_only(fault: str, request: pytest.FixtureRequest) -> None:
    db, run_id = request.getfixturevalue(fault)
    before = db.read_bytes()
    conn = connect_read_only(str(db))
    try:
        rows = conn.execute("SELECT id, status FROM runs").fetchall()
        hosts = conn.execute("SELECT count(*) FROM host_results").fetchone()[0]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM runs")
    finally:
        conn.close()
    assert rows == [(run_id, "finished")] and hosts == 2
    assert db.read_bytes() == before


@pytest.mark.parametrize("fault", FAULTS)
def test_sqlalchemy_reads_it_read_only(fault: str, request: pytest.FixtureRequest) -> None:
    db, run_id = request.getfixturevalue(fault)
    before = db.read_bytes()
    with open_store(f"sqlite:///{db}", read_only=True) as store:
        assert store.latest_run_id() == run_id
        run = store.load_run(run_id)
        assert [h.host for h in run.hosts] == ["web-1", "web-2"]
        assert [r.run_id for r in store.list_runs()] == [run_id]
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.begin_run("scan", T0)
    assert db.read_bytes() == before


def test_a_read_only_open_sees_what_a_live_writer_committed(tmp_path: Path) -> None:
    """Beside a writer (its -wal and -shm exist), the read-only open is ``mode=ro``, not
    ``immutable=1``: it reads the WAL, so a result committed but not yet checkpointed is
    there."""
    db = tmp_path / "fleetpatch.db"
    _store_with_a_run(db)
    with open_store(f"sqlite:///{db}") as writer:
        later = writer.begin_run("scan", T0)
        writer.save_host_results(later, [ok_host("web-3")])
        assert (tmp_path / "fleetpatch.db-wal").stat().st_size > 0
        conn = connect_read_only(str(db))
        try:
            ids = {r[0] for r in conn.execute("SELECT id FROM runs")}
            hosts = conn.execute(
                "SELECT host FROM host_results WHERE run_id = ?", (later,)
            ).fetchall()
        finally:
            conn.close()
    assert later in ids and hosts == [("web-3",)]


def test_a_log_that_cannot_be_read_is_not_skipped(tmp_path: Path) -> None:
    """A store left with commits in its -wal (a writer that crashed), in a directory that
    cannot be written: reading the log needs a -shm file, and an immutable open would
    silently miss those commits, so the read fails and says what to do."""
    source = tmp_path / "src"
    source.mkdir()
    db = source / "fleetpatch.db"
    _store_with_a_run(db)
    with open_store(f"sqlite:///{db}") as writer:
        later = writer.begin_run("scan", T0)  # committed to the -wal, not yet to the file
        copies = {p.name: p.read_bytes() for p in source.iterdir()}
    assert later and copies["fleetpatch.db-wal"]
    directory = tmp_path / "ro"
    root = os.geteuid() == 0
    if root:
        _mount_tmpfs(directory, 4096)
    else:
        directory.mkdir()
    try:
        for name in ("fleetpatch.db", "fleetpatch.db-wal"):
            (directory / name).write_bytes(copies[name])
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        else:
            directory.chmod(0o555)
        with pytest.raises(StoreUnavailable, match=r"fleetpatch\.db-wal holds changes"):
            connect_read_only(str(directory / "fleetpatch.db"))
        with pytest.raises(StoreUnavailable, match=r"fleetpatch\.db-wal holds changes"):
            open_store(f"sqlite:///{directory / 'fleetpatch.db'}", read_only=True)
    finally:
        if root:
            _umount(directory)
        else:
            directory.chmod(0o755)
