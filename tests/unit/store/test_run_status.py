"""A run's status as shown: running, finished, cancelled, and interrupted when its controller
died (a dead pid on this machine, a pid since reused, no heartbeat from another machine)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from result_builders import T0, failed_host, ok_host
from sqlalchemy import update

from fleetpatch.store import Store, StoreError, liveness, open_store
from fleetpatch.store.liveness import (
    STALE_AFTER,
    Heartbeat,
    controller_alive,
    run_status,
    this_controller,
)
from fleetpatch.store.schema import runs
from fleetpatch.store.sqlite_scan import open_scan_store

HERE = socket.gethostname()


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _status(controller: str | None, heartbeat: datetime | None, started: datetime) -> str:
    return run_status("running", controller=controller, heartbeat_at=heartbeat, started_at=started)


def test_ended_runs_keep_their_stored_status() -> None:
    for stored in ("finished", "cancelled"):
        assert run_status(stored, controller=None, heartbeat_at=None, started_at=T0) == stored


def test_a_live_controller_on_this_machine_is_running() -> None:
    now = datetime.now(UTC)
    assert controller_alive(this_controller(), now) is True
    assert _status(this_controller(), now, T0) == "running"


def test_a_dead_controller_on_this_machine_is_interrupted_at_once() -> None:
    now = datetime.now(UTC)
    controller = f"{HERE}:{_dead_pid()}"
    assert controller_alive(controller, now) is False
    assert _status(controller, now, now) == "interrupted"


def test_a_pid_now_used_by_a_later_process_is_not_the_controller() -> None:
    """Our own pid, as if written by a controller last heard of before this process began."""
    long_ago = datetime.now(UTC) - timedelta(days=3)
    assert controller_alive(this_controller(), long_ago) is False
    assert _status(this_controller(), long_ago, long_ago) == "interrupted"


@pytest.mark.parametrize(
    ("silent_for", "expected"),
    [(timedelta(seconds=40), "running"), (STALE_AFTER + timedelta(seconds=1), "interrupted")],
)
def test_another_machine_is_judged_by_its_heartbeat(silent_for: timedelta, expected: str) -> None:
    now = datetime.now(UTC)
    controller = "elsewhere.example:4242"
    assert controller_alive(controller, now) is None
    status = run_status(
        "running", controller=controller, heartbeat_at=now - silent_for, started_at=T0, now=now
    )
    assert status == expected


def test_a_run_from_before_the_controller_was_recorded() -> None:
    now = datetime.now(UTC)
    old = run_status("running", controller=None, heartbeat_at=None, started_at=T0, now=now)
    recent = run_status("running", controller=None, heartbeat_at=None, started_at=now, now=now)
    assert (old, recent) == ("interrupted", "running")


def test_the_heartbeat_beats_until_stopped() -> None:
    beats: list[int] = []
    twice = threading.Event()

    def beat() -> None:
        beats.append(1)
        if len(beats) == 1:
            raise OSError("disk full")  # a failing beat is tried again
        twice.set()

    heartbeat = Heartbeat(beat, every=0.01).start()
    assert twice.wait(30)
    heartbeat.stop()
    heartbeat._thread.join(30)
    assert not heartbeat._thread.is_alive()


def test_store_shows_running_then_interrupted_then_finished(store: Store) -> None:
    run_id = store.begin_run("scan", T0, targeted_hosts=3)
    store.save_host_results(run_id, [ok_host("web-1")])
    (summary,) = store.list_runs()
    assert (summary.status, summary.controller, summary.targeted_hosts) == (
        "running",
        this_controller(),
        3,
    )
    assert summary.heartbeat_at is not None
    loaded = store.load_run(run_id)
    assert (loaded.status, loaded.controller, loaded.targeted_hosts) == (
        "running",
        this_controller(),
        3,
    )
    assert not loaded.finished

    with store.engine.begin() as conn:  # as a SIGKILLed controller leaves it
        conn.execute(update(runs).values(controller=f"{HERE}:{_dead_pid()}"))
    assert store.list_runs()[0].status == "interrupted"
    assert store.load_run(run_id).status == "interrupted"

    store.claim_run(run_id)  # `fleetpatch run --resume` takes it over
    assert store.load_run(run_id).status == "running"
    store.save_host_results(run_id, [failed_host("db-1")])
    store.finish_run(run_id, T0 + timedelta(minutes=1))
    done = store.load_run(run_id)
    assert (done.status, done.controller, len(done.hosts)) == ("finished", None, 2)
    with pytest.raises(StoreError, match="is finished; there is nothing to resume"):
        store.claim_run(run_id)


def test_a_cancelled_run_can_be_claimed_for_resume(store: Store) -> None:
    run_id = store.begin_run("install", T0)
    store.finish_run(run_id, T0 + timedelta(seconds=1), cancelled=True)
    store.claim_run(run_id)  # the rollout ledger then re-opens it
    (summary,) = store.list_runs()
    assert (summary.status, summary.controller) == ("cancelled", this_controller())


@pytest.mark.parametrize("writer", ["sqlalchemy", "sqlite3"])
def test_a_running_run_s_heartbeat_is_renewed_until_it_finishes(
    writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.02)
    url = f"sqlite:///{tmp_path / 's.db'}"
    db = open_store(url) if writer == "sqlalchemy" else open_scan_store(url)
    run_id = db.begin_run("scan", T0)
    first = _heartbeat(tmp_path / "s.db")
    deadline = time.monotonic() + 30
    while _heartbeat(tmp_path / "s.db") == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _heartbeat(tmp_path / "s.db") > first  # renewed by the thread, nothing else wrote
    (beating,) = [t for t in threading.enumerate() if t.name == f"fleetpatch-heartbeat {run_id}"]
    db.finish_run(run_id, T0 + timedelta(seconds=1))
    beating.join(30)
    assert not beating.is_alive()  # the run finished: no more beats
    db.close()


def _heartbeat(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT heartbeat_at FROM runs").fetchone()[0])
    finally:
        conn.close()


def test_pid_of_this_process_is_the_controller() -> None:
    assert this_controller() == f"{HERE}:{os.getpid()}"


def test_a_killed_controller_not_yet_reaped_is_not_alive() -> None:
    """A zombie (killed, its parent has not waited for it yet) still answers kill(pid, 0)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc.kill()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert controller_alive(f"{HERE}:{proc.pid}", datetime.now(UTC)) is False
    finally:
        proc.wait()
