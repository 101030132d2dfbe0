"""The store under faults, through the real command: read-only (file mode, directory), full
(a real full file system), corrupt (garbage bytes, a truncated file), for scan, install and
report. The fault matrix's "Inputs, the store and what is shown" (docs/reliability.md).

Every case: exit code 2, a message that names the store and what to do, no traceback, the
store's file and rows as they were, and (install) the host's packages untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch, fleetpatch_started
from tests.lab import faults, fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

COMMANDS = ("scan", "install", "report")


@pytest.fixture(scope="module")
def install_host(lab_fleet: Any) -> LabHost:
    """A host of its own for the install cases: were a store fault not caught before the
    install starts, this host (not a shared one) would be patched."""
    host: LabHost = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)[0]
    return host


def _args(command: str, inventory: Path, host: LabHost) -> list[str | Path]:
    if command == "scan":
        return ["scan", "-i", inventory, "-q"]
    if command == "install":
        return ["install", "-i", inventory, "-t", host.name, "-q"]
    if command == "runs":
        return ["runs", "--format", "json"]
    return ["report"]


def _host_for(command: str, shared: LabHost, own: LabHost) -> LabHost:
    return own if command == "install" else shared


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_store_error(proc: Any, store: Path, cause: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"the store sqlite:///{store}" in proc.stderr, proc.stderr
    assert cause in proc.stderr, proc.stderr
    assert "--store or FLEETPATCH_STORE" in proc.stderr, proc.stderr


def _alpha(host: LabHost) -> tuple[str, str]:
    return faults.dpkg_state(host, ["fp-alpha"])["fp-alpha"]


# --------------------------------------------------------------------------- read-only


@pytest.fixture
def unprivileged_dir() -> Iterator[Path]:
    """A directory an unprivileged user owns, reachable by that user (pytest's own temporary
    directories are private to root): the read-only cases run fleetpatch as that user, as
    file modes do not bind root."""
    try:
        prefix = faults.unprivileged_prefix()
    except faults.FaultUnavailable as exc:
        pytest.skip(str(exc))
    work = Path(tempfile.mkdtemp(prefix="fp-store-ro-"))
    work.chmod(0o755)
    try:
        if prefix:
            os.chown(work, faults.UNPRIVILEGED_UID, faults.UNPRIVILEGED_UID)
        yield work
    finally:
        for path in [work, *work.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)


def _lab_files_for_user(hosts: list[LabHost], work: Path, lab_key: Path) -> Path:
    """Inventory, known_hosts and a copy of the lab key, all owned by the unprivileged user."""
    key = work / "id_ed25519"
    shutil.copyfile(lab_key, key)
    key.chmod(0o600)
    known = fleet.write_known_hosts(hosts, work / "known_hosts")
    inventory = fleet.write_inventory(
        hosts, work / "inventory.yaml", known_hosts_path=known, key_path=key
    )
    if faults.unprivileged_prefix():
        for path in (key, known, inventory):
            os.chown(path, faults.UNPRIVILEGED_UID, faults.UNPRIVILEGED_UID)
    return inventory


def _store_with_a_run(work: Path, inventory: Path, prefix: list[str]) -> Path:
    store_dir = work / "store"
    store_dir.mkdir()
    if prefix:
        os.chown(store_dir, faults.UNPRIVILEGED_UID, faults.UNPRIVILEGED_UID)
    store = store_dir / "fleetpatch.db"
    first = fleetpatch(["scan", "-i", inventory, "-q"], store=store, prefix=prefix)
    assert first.returncode == 1, first.stderr  # the repo host has pending security updates
    assert sorted(p.name for p in store_dir.iterdir()) == ["fleetpatch.db"]  # closed cleanly
    return store


@pytest.mark.parametrize("command", COMMANDS)
def test_read_only_store_file(
    command: str,
    repo_fleet: list[LabHost],
    install_host: LabHost,
    unprivileged_dir: Path,
    lab_key: Path,
) -> None:
    prefix = faults.unprivileged_prefix()
    host = _host_for(command, repo_fleet[0], install_host)
    inventory = _lab_files_for_user([host], unprivileged_dir, lab_key)
    store = _store_with_a_run(unprivileged_dir, inventory, prefix)
    before, alpha = _digest(store), _alpha(host)
    store.chmod(0o444)
    proc = fleetpatch(_args(command, inventory, host), store=store, prefix=prefix)
    if command == "report":  # reading a read-only store works
        assert proc.returncode == 1, proc.stderr
        assert "Fleet summary" in proc.stdout
    else:
        _assert_store_error(proc, store, "cannot be written")
        assert f"{store} is read-only" in proc.stderr
    assert _digest(store) == before
    assert len(faults.store_rows(store, "SELECT id FROM runs")) == 1
    assert _alpha(host) == alpha == ("ii", "1.0-1")


def _assert_read(command: str, proc: Any) -> None:
    """``report`` and ``runs`` of a store they cannot write: read all the same (read-only)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    if command == "report":
        assert proc.returncode == 1, proc.stderr  # the stored scan's own: non-compliant
        assert "Fleet summary" in proc.stdout and "NON_COMPLIANT" in proc.stdout
    else:
        assert proc.returncode == 0, proc.stderr
        [run] = json.loads(proc.stdout)
        assert (run["operation"], run["status"], run["hosts"]) == ("scan", "finished", 1)


@pytest.mark.parametrize("command", [*COMMANDS, "runs"])
def test_read_only_store_directory(
    command: str,
    repo_fleet: list[LabHost],
    install_host: LabHost,
    unprivileged_dir: Path,
    lab_key: Path,
) -> None:
    prefix = faults.unprivileged_prefix()
    host = _host_for(command, repo_fleet[0], install_host)
    inventory = _lab_files_for_user([host], unprivileged_dir, lab_key)
    store = _store_with_a_run(unprivileged_dir, inventory, prefix)
    before, alpha = _digest(store), _alpha(host)
    store.parent.chmod(0o555)
    proc = fleetpatch(_args(command, inventory, host), store=store, prefix=prefix)
    if command in ("report", "runs"):  # reading works: a read-only open (before: exit 2)
        _assert_read(command, proc)
    else:
        _assert_store_error(proc, store, "cannot be written")
        assert f"its directory {store.parent} is not writable" in proc.stderr
        assert "fleetpatch.db-wal" in proc.stderr
    assert sorted(p.name for p in store.parent.iterdir()) == ["fleetpatch.db"]
    store.parent.chmod(0o755)
    assert _digest(store) == before
    assert len(faults.store_rows(store, "SELECT id FROM runs")) == 1
    assert _alpha(host) == alpha == ("ii", "1.0-1")


# --------------------------------------------------------------------------- full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    try:
        with faults.small_tmpfs(tmp_path / "disk", 1024) as mounted:
            yield mounted
    except faults.FaultUnavailable as exc:
        pytest.skip(f"a full disk needs a small tmpfs mounted by the test: {exc}")


@pytest.mark.parametrize("command", [*COMMANDS, "runs"])
def test_full_store_disk(
    command: str,
    repo_fleet: list[LabHost],
    install_host: LabHost,
    lab_files: Any,
    small_disk: Path,
    tmp_path: Path,
) -> None:
    host = _host_for(command, repo_fleet[0], install_host)
    files = lab_files([host], tmp_path / "lab")
    store = small_disk / "fleetpatch.db"
    first = fleetpatch(["scan", "-i", files.inventory, "-q"], store=store)
    assert first.returncode == 1, first.stderr
    before, alpha = _digest(store), _alpha(host)
    filler = faults.fill_disk(small_disk)
    proc = fleetpatch(_args(command, files.inventory, host), store=store)
    if command in ("report", "runs"):  # reading works: a read-only open (before: exit 2)
        _assert_read(command, proc)
    else:
        _assert_store_error(proc, store, "the disk holding it is full")
        assert "free space there" in proc.stderr
    filler.unlink()
    assert _digest(store) == before
    assert len(faults.store_rows(store, "SELECT id FROM runs")) == 1
    assert _alpha(host) == alpha == ("ii", "1.0-1")
    after = fleetpatch(["report", "--format", "json"], store=store)  # usable again
    assert after.returncode == 1, after.stderr
    assert json.loads(after.stdout)["run"]["status"] == "finished"


def test_a_new_store_on_a_full_disk(
    repo_fleet: list[LabHost], lab_files: Any, small_disk: Path, tmp_path: Path
) -> None:
    files = lab_files(repo_fleet[:1], tmp_path / "lab")
    faults.fill_disk(small_disk)
    store = small_disk / "new" / "fleetpatch.db"
    proc = fleetpatch(["scan", "-i", files.inventory, "-q"], store=store)
    _assert_store_error(proc, store, "the disk holding it is full")


@pytest.mark.parametrize("output", ["table", "json"])
def test_disk_fills_after_the_hosts_were_scanned(
    output: str,
    repo_fleet: list[LabHost],
    lab_files: Any,
    small_disk: Path,
    tmp_path: Path,
) -> None:
    """The host is held (paused) until the run is stored as begun, the disk is filled, then
    the host answers: its result cannot be stored. The report is still printed (table) or
    written (-o JSON), the message says the results were not stored, the store keeps the run
    as begun (shown as interrupted) and is not damaged."""
    host = repo_fleet[0]
    files = lab_files([host], tmp_path / "lab")
    store = small_disk / "fleetpatch.db"
    out = tmp_path / "report.json"
    extra = ["--format", "json", "-o", out] if output == "json" else []
    with faults.paused(host):
        proc = fleetpatch_started(["scan", "-i", files.inventory, *extra], store=store)
        try:
            _wait_for_rows(store, "SELECT id FROM runs WHERE status = 'running'")
            filler = faults.fill_disk(small_disk)
        except BaseException:
            proc.kill()
            raise
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, (stdout, stderr)
    assert "Traceback" not in stderr, stderr
    assert "the results of this run were not stored" in stderr, stderr
    assert "the disk holding it is full" in stderr, stderr
    if output == "json":
        doc = json.loads(out.read_text())
        assert [h["host"] for h in doc["hosts"]] == [host.name]
        assert doc["hosts"][0]["status"] == "NON_COMPLIANT"
    else:
        assert host.name in stdout and "NON_COMPLIANT" in stdout
        assert "Fleet summary" in stdout
    runs = faults.store_rows(store, "SELECT id, status, finished_at FROM runs")
    assert [(r["status"], r["finished_at"]) for r in runs] == [("running", None)]
    assert faults.store_rows(store, "SELECT count(*) AS n FROM host_results") == [{"n": 0}]
    filler.unlink()
    assert faults.store_rows(store, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    shown = fleetpatch(["report", "--format", "json"], store=store)
    assert shown.returncode == 4, shown.stderr
    assert json.loads(shown.stdout)["run"]["status"] == "interrupted"


def _wait_for_rows(store: Path, sql: str, timeout: float = 60.0) -> None:
    import sqlite3
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store.exists() and faults.store_rows(store, sql):
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{sql!r} found nothing in {store} within {timeout:g}s")


# --------------------------------------------------------------------------- corrupt


def _damage(store: Path, how: str) -> None:
    if how == "garbage-header":
        faults.overwrite_bytes(store, 0, os.urandom(100))
    elif how == "truncated":
        with store.open("r+b") as fh:
            fh.truncate(store.stat().st_size // 2)
    else:  # garbage over every page but the first (the b-tree pages' headers)
        for offset in range(4096, store.stat().st_size, 4096):
            faults.overwrite_bytes(store, offset, os.urandom(64))


@pytest.mark.parametrize("how", ["garbage-header", "garbage-pages", "truncated"])
@pytest.mark.parametrize("command", COMMANDS)
def test_corrupt_store(
    command: str,
    how: str,
    repo_fleet: list[LabHost],
    install_host: LabHost,
    lab_files: Any,
    tmp_path: Path,
) -> None:
    host = _host_for(command, repo_fleet[0], install_host)
    files = lab_files([host], tmp_path / "lab")
    store = tmp_path / "store" / "fleetpatch.db"
    first = fleetpatch(["scan", "-i", files.inventory, "-q"], store=store)
    assert first.returncode == 1, first.stderr
    _damage(store, how)
    before, alpha = _digest(store), _alpha(host)
    proc = fleetpatch(_args(command, files.inventory, host), store=store)
    _assert_store_error(proc, store, "is damaged or is not a fleetpatch store")
    assert "restore" in proc.stderr and ".recover" in proc.stderr
    assert _digest(store) == before  # left as it is
    assert _alpha(host) == alpha == ("ii", "1.0-1")


# --------------------------------------------------------------------------- mid-rollout


@pytest.mark.parametrize("output", ["table", "json"])
def test_disk_fills_in_the_middle_of_an_install_run(
    output: str, lab_fleet: Any, lab_files: Any, small_disk: Path, tmp_path: Path
) -> None:
    """Three fresh hosts installed one after the other. The first is installed and stored;
    while the second's dpkg is unpacking, the store's disk is filled. The second's install
    completes on the host but its result cannot be stored; the third is never started (no
    host is patched whose result cannot be stored). The report is printed (table) or written
    (-o JSON), stderr names the host whose result was not stored and the one not started, no
    traceback, exit 2; dpkg on each host and the store's rows say the same."""
    from tests.integration.test_install_faults_lab import REPO_PACKAGES, installed_once, prepare

    first, second, third = hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 3)
    inventory, baseline = prepare(hosts, lab_files, tmp_path)
    faults.slow_dpkg_unpack(second, 4)
    third_before = faults.dpkg_state(third, list(REPO_PACKAGES))
    assert {status for status, _ in third_before.values()} == {"ii"}
    store = small_disk / "fleetpatch.db"
    out = tmp_path / "report.json"
    extra = ["--format", "json", "-o", out] if output == "json" else []
    args = ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--max-concurrency", "1"]
    proc = fleetpatch_started([*args, *extra], store=store)
    try:
        faults.wait_for(second, "test -e /tmp/fp-unpacked", timeout=120)
        filler = faults.fill_disk(small_disk)
    except BaseException:
        proc.kill()
        raise
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 2, (stdout, stderr)
    assert "Traceback" not in stderr and "Exception in callback" not in stderr, stderr
    assert "the disk holding it is full" in stderr, stderr
    assert f"results not stored: {second.name}" in stderr, stderr
    assert f"not started: {third.name}" in stderr, stderr
    if output == "json":
        doc = json.loads(out.read_text())
        outcomes = {h["host"]: h["outcome"] for h in doc["hosts"]}
    else:
        assert "Fleet summary" in stdout, stdout
        rows = [line.split("│") for line in stdout.splitlines() if "│" in line]
        outcomes = {
            cols[2].strip(): cols[3].strip()
            for cols in rows
            if len(cols) > 3 and cols[2].strip() in {h.name for h in hosts}
        }
    assert outcomes == {first.name: "ok", second.name: "ok", third.name: "skipped"}, outcomes
    # the hosts: the first two patched once, the third untouched
    installed_once(first)
    installed_once(second)
    assert faults.dpkg_state(third, list(REPO_PACKAGES)) == third_before
    # the store: only the first host's result; the run left as begun (interrupted)
    filler.unlink()
    rows = faults.store_rows(store, "SELECT host, outcome FROM host_results ORDER BY seq")
    assert [(r["host"], r["outcome"]) for r in rows] == [(first.name, "ok")]
    assert faults.store_rows(store, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    [run] = faults.store_rows(store, "SELECT status FROM runs")
    assert run["status"] == "running"
    shown = fleetpatch(["report", "--format", "json"], store=store)
    assert shown.returncode == 4, shown.stderr
    assert json.loads(shown.stdout)["run"]["status"] == "interrupted"
    if output == "table":
        return
    # once the store works again, the resume goes over the hosts not recorded as done: the
    # second has nothing left to install, the third is patched; nothing twice
    run_id = doc["run"]["run_id"]
    resumed = fleetpatch(["run", "--resume", run_id, "--format", "json"], store=store)
    assert resumed.returncode == 0, resumed.stderr
    assert {h["host"]: h["outcome"] for h in json.loads(resumed.stdout)["hosts"]} == {
        h.name: "ok" for h in hosts
    }
    for host in hosts:
        installed_once(host)
    rows = faults.store_rows(store, "SELECT host, outcome FROM host_results ORDER BY seq")
    assert sorted((r["host"], r["outcome"]) for r in rows) == [(h.name, "ok") for h in hosts]
    assert faults.store_rows(store, "SELECT host FROM host_leases") == []
