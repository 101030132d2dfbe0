"""A run whose controller died is shown as what it is: a scan is SIGKILLed while one host is
held; ``fleetpatch report`` and ``fleetpatch runs`` show it as interrupted, and the exit code
of ``report`` is 4 (the run did not finish), never a success."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch, fleetpatch_started
from tests.lab import faults
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab


def _wait_for_rows(store: Path, sql: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store.exists() and (rows := faults.store_rows(store, sql)):
                return rows
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{sql!r} found nothing in {store} within {timeout:g}s")


def test_a_killed_controller_shows_as_interrupted(
    repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files(repo_fleet, tmp_path)
    store = tmp_path / "s.db"
    quick, held = repo_fleet
    with faults.paused(held):
        proc = fleetpatch_started(["scan", "-i", files.inventory], store=store)
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()  # "[1/2] <quick> ok NON_COMPLIANT ..." (no terminal)
            assert quick.name in line, line
            (run,) = _wait_for_rows(store, "SELECT id, status, controller FROM runs")
            assert run["status"] == "running"
            assert run["controller"] == f"{socket.gethostname()}:{proc.pid}"

            alive = fleetpatch(["runs", "--format", "json"], store=store)  # still scanning
            assert alive.returncode == 0, alive.stderr
            assert [(r["run_id"], r["status"]) for r in json.loads(alive.stdout)] == [
                (run["id"], "running")
            ]
            shown = fleetpatch(["report", "--format", "json"], store=store)
            assert shown.returncode == 4, shown.stderr
            assert json.loads(shown.stdout)["run"]["status"] == "running"
        finally:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -9

    rows = faults.store_rows(store, "SELECT status, finished_at FROM runs")
    assert rows == [{"status": "running", "finished_at": None}]  # the row as the kill left it
    stored = faults.store_rows(store, "SELECT host FROM host_results")
    assert held.name not in {r["host"] for r in stored}

    shown = fleetpatch(["report", "--format", "json"], store=store)
    assert shown.returncode == 4, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["run"]["status"] == "interrupted"
    assert doc["run"]["targeted_hosts"] == 2
    assert doc["summary"]["exit_code"] == 4
    assert len(doc["hosts"]) == len(stored)

    table = fleetpatch(["report"], store=store)
    assert table.returncode == 4
    assert "Traceback" not in table.stderr
    assert f"run {run['id']} did not finish: interrupted" in table.stderr
    assert f"its controller {run['controller']} is gone" in table.stderr
    assert f"{len(stored)} of 2 targeted hosts were stored" in table.stderr
    assert "(interrupted)" in table.stdout

    listed = fleetpatch(["runs"], store=store)
    assert listed.returncode == 0, listed.stderr
    (line,) = [ln for ln in listed.stdout.splitlines() if run["id"] in ln]
    assert "interrupted" in line.split()
    assert (
        json.loads(fleetpatch(["runs", "--format", "json"], store=store).stdout)[0]["status"]
        == "interrupted"
    )
