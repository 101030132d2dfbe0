"""Connections that fail or die, on real lab hosts, through the real command (the fault matrix,
docs/reliability.md "Connections and privileges").

One fresh debian12-repo host takes the faults in turn (each test puts it back): a host that
is down, a network cut and a frozen host mid-scan, a host killed mid-scan, and an sshd that
throttles new connections. The scan is held at a known step by a wrapper around
``dpkg-query`` (``faults.hold_command``), so that the fault lands inside ``apt.installed``.
Each test checks what fleetpatch reported, the rows the store kept and the host's own state.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cli_run import fleetpatch
from tests.lab import faults, fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

PACKAGES = ("fp-alpha", "fp-beta", "fp-gamma", "fp-delta", "fp-epoch", "fp-broken")
FAST = {"connect_timeout": 5, "keepalive_interval": 1, "connect_retry_delay": 0.05}
"""Short timeouts for tests: a frozen host is noticed after ~4 s of silence."""


@pytest.fixture(scope="module")
def victim(lab_fleet: Callable[..., list[LabHost]]) -> LabHost:
    """A fresh host the tests of this module may fault (each one restores it)."""
    return lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)[0]


def write_inventory(
    host: LabHost, directory: Path, lab_key: Path, *, names: int = 0, **connection: Any
) -> Path:
    """An inventory for ``host``; with ``names`` it lists the host that many times under
    different names (many inventory entries to one sshd)."""
    directory.mkdir(parents=True, exist_ok=True)
    known = fleet.write_known_hosts([host], directory / "known_hosts")
    data = fleet.inventory_dict([host], directory, known_hosts_path=known, key_path=lab_key)
    data["defaults"]["connection"].update(FAST, **connection)
    if names:
        entry = data["hosts"].pop(host.name)
        data["hosts"] = {f"{host.name}-{n:02d}": dict(entry) for n in range(1, names + 1)}
        data["groups"] = {"lab": {"hosts": list(data["hosts"])}}
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def scan_json(inventory: Path, db: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    proc = fleetpatch(["scan", "-i", inventory, "--format", "json", *extra], store=db)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)["hosts"]


@contextlib.contextmanager
def held_scan(victim: LabHost) -> Iterator[str]:
    """``dpkg-query`` on the victim waits until released: a scan stops inside apt.installed
    (read the host's dpkg state before or after, never inside: dpkg-query would wait too)."""
    reached = faults.hold_command(victim, "dpkg-query")
    try:
        yield reached
    finally:
        faults.release_command(victim, "dpkg-query")


def _scan_faulted(
    victim: LabHost, reached: str, inventory: Path, db: Path, fault: Callable[[], None]
) -> tuple[int, dict[str, Any]]:
    """Start a scan, wait until it is inside apt.installed, apply ``fault``, wait for the end."""
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(scan_json, inventory, db)
        faults.wait_for(victim, f"test -e {reached}", timeout=60)  # inside apt.installed now
        fault()
        rc, hosts = running.result(timeout=120)
    return rc, hosts[0]


def _assert_lost_in_apt_installed(rc: int, entry: dict[str, Any], db: Path) -> None:
    assert rc == 3, entry
    assert entry["outcome"] == "failed"
    failure = entry["failure"]
    assert (failure["kind"], failure["step"]) == ("connection_lost", "apt.installed")
    assert "connection lost during scan, in step 'apt.installed'" in failure["message"]
    assert entry["status"] == "FAILED" and entry["counts"] is None
    rows = faults.store_rows(
        db, "SELECT outcome, failure_kind, failure_step, compliance_status FROM host_results"
    )
    assert rows == [
        {
            "outcome": "failed",
            "failure_kind": "connection_lost",
            "failure_step": "apt.installed",
            "compliance_status": None,
        }
    ]
    audit = faults.store_rows(db, "SELECT operation, exit_code FROM audit")
    assert audit == [{"operation": "scan", "exit_code": None}]


@pytest.mark.parametrize("cut", ["network-disconnect", "pause"])
def test_network_cut_mid_scan_is_a_lost_connection_in_its_step(
    cut: str, victim: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    """``docker network disconnect`` (the connection is reset) and ``docker pause`` (TCP
    stays open, nothing answers: only keepalives tell)."""
    before = faults.dpkg_state(victim, PACKAGES)
    inventory = write_inventory(victim, tmp_path, lab_key)
    db = tmp_path / "s.db"
    container = fleet.docker_client().containers.get(victim.container)
    fault, restore = (
        (container.pause, container.unpause)
        if cut == "pause"
        else (lambda: faults.disconnect(victim), lambda: faults.reconnect(victim))
    )
    with held_scan(victim) as reached:
        try:
            rc, entry = _scan_faulted(victim, reached, inventory, db, fault)
        finally:
            restore()
    _assert_lost_in_apt_installed(rc, entry, db)
    why = "stopped answering" if cut == "pause" else "closed or reset"
    assert why in entry["failure"]["message"]
    assert faults.dpkg_state(victim, PACKAGES) == before  # a scan changes nothing


def test_host_killed_mid_scan_is_a_lost_connection_and_the_next_scan_is_whole(
    victim: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    before = faults.dpkg_state(victim, PACKAGES)
    inventory = write_inventory(victim, tmp_path, lab_key)
    db = tmp_path / "s.db"
    with held_scan(victim) as reached:
        try:
            rc, entry = _scan_faulted(
                victim, reached, inventory, db, lambda: faults.kill(victim, start_again=False)
            )
        finally:
            faults.start(victim)
    _assert_lost_in_apt_installed(rc, entry, db)
    assert faults.dpkg_state(victim, PACKAGES) == before
    rc, hosts = scan_json(inventory, db)
    assert hosts[0]["outcome"] == "ok", hosts[0]  # back up: scanned in full, nothing left over
    assert {p["id"] for p in hosts[0]["patches"]} >= {"fp-alpha", "fp-epoch"}


def test_host_down_before_connect_is_unreachable_after_the_retries(
    victim: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    inventory = write_inventory(victim, tmp_path, lab_key, connect_retries=2)
    db = tmp_path / "s.db"
    faults.stop(victim)
    try:
        rc, hosts = scan_json(inventory, db)
    finally:
        faults.start(victim)
    assert rc == 3
    failure = hosts[0]["failure"]
    assert failure["kind"] == "unreachable"
    assert "connection refused (3 attempts over" in failure["message"]
    assert "is sshd running" in failure["message"]
    rows = faults.store_rows(
        db, "SELECT outcome, failure_kind, compliance_status FROM host_results"
    )
    assert rows == [{"outcome": "failed", "failure_kind": "unreachable", "compliance_status": None}]
    assert faults.store_rows(db, "SELECT * FROM audit") == []  # nothing ran


def test_sshd_throttling_new_connections_is_outlasted_by_retries(
    victim: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    """20 inventory entries to one sshd that takes 2 unauthenticated connections at a time
    (MaxStartups 2) and drops the others before the SSH banner. With the default retries
    every entry is scanned; with none, the drops fail and the message names the cause."""
    inventory = write_inventory(
        victim, tmp_path, lab_key, names=20, connect_retry_delay=1.0, keepalive_interval=10
    )
    faults.set_sshd_option(victim, "LogLevel", "VERBOSE")  # sshd logs each drop
    faults.set_sshd_option(victim, "MaxStartups", "2")
    try:
        log_start = len(faults.sshd_log(victim))
        rc, hosts = scan_json(inventory, tmp_path / "retried.db", "--concurrency", "20")
        drops = faults.sshd_log(victim)[log_start:].count("past MaxStartups")
        rc_bare, bare = scan_json(
            inventory, tmp_path / "bare.db", "--concurrency", "20", "--connect-retries", "0"
        )
    finally:
        faults.set_sshd_option(victim, "MaxStartups", "200:30:300")
        faults.set_sshd_option(victim, "LogLevel", "INFO")
    assert drops > 0  # the server did throttle this run
    assert [h["outcome"] for h in hosts] == ["ok"] * 20, [h["failure"] for h in hosts]
    assert rc == 1  # every host scanned; the repo host has missing patches
    rows = faults.store_rows(tmp_path / "retried.db", "SELECT outcome FROM host_results")
    assert [r["outcome"] for r in rows] == ["ok"] * 20
    failed = [h["failure"] for h in bare if h["failure"]]
    assert rc_bare == 3 and failed  # the symptom, now with the cause named
    assert all(f["kind"] == "unreachable" for f in failed)
    assert all("closed the connection before login (1 attempt)" in f["message"] for f in failed)
    hint = "may be throttling new connections (sshd MaxStartups"
    assert all(hint in f["message"] for f in failed)
    bare_rows = faults.store_rows(tmp_path / "bare.db", "SELECT failure_kind FROM host_results")
    assert [r["failure_kind"] for r in bare_rows].count("unreachable") == len(failed)
