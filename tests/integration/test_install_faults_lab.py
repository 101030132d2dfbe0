"""Installs that survive faults (docs/reliability.md): the network cut, the container paused or
killed, the package manager's lock held, the disk full, the controller killed or interrupted,
two runs at once, a stale lease. Each test uses fresh lab hosts, drives the real `fleetpatch`
command, and checks dpkg/rpm inside the host, /var/log/dpkg.log, the job directory on the
host and the store's rows afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import faults, fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

ALL_UPDATES = """\
name: lab-all-updates
operating_system: DEBIAN
approval_rules:
  - filters: [{key: PRIORITY, values: ["*"]}]
    enable_non_security: true
"""
REPO_PACKAGES = ("fp-alpha", "fp-beta", "fp-delta", "fp-epoch")


def quick_inventory(files: Any) -> Path:
    """The lab inventory with short keepalives and timeouts: a drop is seen in ~3 s."""
    text = files.inventory.read_text()
    text = text.replace(
        "  connection:\n",
        "  connection:\n    keepalive_interval: 1\n    connect_timeout: 3\n"
        "    command_timeout: 180\n",
        1,
    )
    files.inventory.write_text(text)
    return Path(files.inventory)


def prepare(hosts: list[LabHost], lab_files: Any, tmp: Path) -> tuple[Path, Path]:
    for host in hosts:
        if "repo" in host.image:
            faults.must(host, "apt-mark hold fp-broken")  # its postinst fails on purpose
    baseline = tmp / "all.yaml"
    baseline.write_text(ALL_UPDATES)
    return quick_inventory(lab_files(hosts, tmp / "inv")), baseline


def env_for(store: Path) -> dict[str, str]:
    return dict(
        os.environ,
        FLEETPATCH_STORE=f"sqlite:///{store}",
        FLEETPATCH_KNOWN_HOSTS=str(store.parent / "fp_known_hosts"),
        HOME=str(store.parent),
        COLUMNS="200",
    )


def start(args: list[str | Path], store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fleetpatch", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(store),
    )


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, json.loads(out) if out.strip().startswith("{") else {}, err


def installed_once(host: LabHost, names: tuple[str, ...] = REPO_PACKAGES) -> None:
    """dpkg's own log: every package finished installing exactly once, and dpkg is clean."""
    state = faults.dpkg_state(host, list(names))
    assert all(status == "ii" for status, _ in state.values()), state
    for name in names:  # the image build installed the old versions once: those do not count
        new = [
            line
            for line in faults.dpkg_log_installs(host, name)
            if line.endswith(f" {state[name][1]}")
        ]
        assert len(new) == 1, (name, host.name, new)
    assert faults.sh(host, "dpkg --audit")[1].strip() == ""


def run_rows(store: Path, run_id: str) -> list[dict[str, Any]]:
    return faults.store_rows(
        store,
        "SELECT host, outcome, failure_kind, failure_step, failure_message, install_summary "
        "FROM host_results WHERE run_id = ? ORDER BY seq",
        (run_id,),
    )


def latest_run(store: Path) -> str:
    rows = faults.store_rows(store, "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
    return str(rows[0]["id"])


# ------------------------------------------------------------------ the connection drops


@pytest.mark.parametrize("fault", ["network", "pause"])
def test_connection_dropped_mid_install_the_install_completes_once_and_is_attached_to(
    fault: str, lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    inventory, baseline = prepare([host], lab_files, tmp_path)
    faults.slow_dpkg_unpack(host, 8)
    store = tmp_path / "s.db"
    proc = start(
        ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"], store
    )
    faults.wait_for(host, "test -e /tmp/fp-unpacked", timeout=90)  # dpkg mid-install
    if fault == "network":
        faults.disconnect(host)
        time.sleep(6)  # the controller's keepalive (1 s x 3) has given the connection up
        faults.reconnect(host)
    else:
        with faults.paused(host):
            time.sleep(6)
    rc, doc, err = finish(proc)
    assert rc == 0, err
    entry = doc["hosts"][0]
    assert entry["outcome"] == "ok" and entry["status"] == "COMPLIANT", entry
    assert any("reconnected" in note for note in entry["install"]["notes"]), entry["install"]
    installed_once(host)
    assert faults.jobs_left(host) == []  # the job directory is removed once read
    rows = run_rows(store, doc["run"]["run_id"])
    assert [(r["host"], r["outcome"]) for r in rows] == [(host.name, "ok")]


def test_host_killed_mid_install_is_connection_lost_then_repaired_by_the_next_run(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    inventory, baseline = prepare([host], lab_files, tmp_path)
    faults.slow_dpkg_unpack(host, 30)
    store = tmp_path / "s.db"
    args: list[str | Path] = [
        "install",
        "-i",
        inventory,
        "--all-hosts",
        "-b",
        baseline,
        "--format",
        "json",
    ]
    proc = start(args, store)
    faults.wait_for(host, "test -e /tmp/fp-unpacked", timeout=90)
    faults.kill(host)  # every process on the host dies at once; it starts again
    rc, doc, err = finish(proc)
    assert rc == 3, err
    entry = doc["hosts"][0]
    assert entry["outcome"] == "failed", entry
    assert entry["failure"]["kind"] == "connection_lost"
    assert entry["failure"]["step"] == "apt.install"
    assert "may be partly upgraded" in entry["failure"]["message"]
    [row] = run_rows(store, doc["run"]["run_id"])
    assert (row["failure_kind"], row["failure_step"]) == ("connection_lost", "apt.install")
    assert faults.sh(host, "dpkg --audit")[1].strip() != ""  # really left half-done
    faults.must(host, "rm -f /etc/dpkg/dpkg.cfg.d/fp-slow-unpack")
    proc = subprocess.run(
        [sys.executable, "-m", "fleetpatch", *map(str, args)],
        capture_output=True,
        text=True,
        env=env_for(store),
        timeout=240,
    )
    entry = json.loads(proc.stdout)["hosts"][0]
    assert proc.returncode == 0, (entry.get("failure"), entry.get("install"))
    assert entry["outcome"] == "ok" and entry["status"] == "COMPLIANT", entry
    notes = " | ".join(entry["install"]["notes"])
    assert "dpkg was interrupted before this run" in notes
    assert "dpkg --configure -a succeeded" in notes
    assert faults.sh(host, "dpkg --audit")[1].strip() == ""
    state = faults.dpkg_state(host, list(REPO_PACKAGES))
    assert all(status == "ii" for status, _ in state.values()), state


# --------------------------------------------------------------------------- the lock


def test_lock_held_progress_says_so_then_the_install_proceeds(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    inventory, baseline = prepare([host], lab_files, tmp_path)
    faults.hold_apt_lock(host, 8)
    store = tmp_path / "s.db"
    proc = start(["install", "-i", inventory, "--all-hosts", "-b", baseline], store)
    rc, _, err = finish(proc)
    assert rc == 0, err
    waits = [line for line in err.splitlines() if "waiting for the package manager's lock" in line]
    assert len(waits) == 1, err  # said once, not once a second
    assert host.name in waits[0]
    assert "/var/lib/dpkg/lock-frontend is held by process" in waits[0]
    assert "(apt-get)" in waits[0]
    installed_once(host)
    [row] = run_rows(store, latest_run(store))
    assert row["outcome"] == "ok"


def test_lock_held_past_the_lock_timeout_is_a_locked_failure(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    inventory, baseline = prepare([host], lab_files, tmp_path)
    before = faults.dpkg_state(host, list(REPO_PACKAGES))
    faults.hold_apt_lock(host, 40)
    store = tmp_path / "s.db"
    proc = start(
        [
            "install",
            "-i",
            inventory,
            "--all-hosts",
            "-b",
            baseline,
            "--format",
            "json",
            "--lock-timeout",
            "5",
        ],
        store,
    )
    rc, doc, err = finish(proc)
    assert rc == 3, err
    entry = doc["hosts"][0]
    assert entry["failure"]["kind"] == "locked", entry
    assert "lock timeout" in entry["failure"]["message"]
    assert "lock-frontend" in entry["failure"]["message"]  # apt's own words
    assert faults.dpkg_state(host, list(REPO_PACKAGES)) == before  # nothing installed
    [row] = run_rows(store, doc["run"]["run_id"])
    assert (row["outcome"], row["failure_kind"]) == ("failed", "locked")


# ------------------------------------------------------------------------ the disk fills


def test_disk_full_is_a_failed_verdict_with_apts_words_and_dpkg_unchanged(
    lab_files: Any, tmp_path: Path
) -> None:
    fleet.require_image(fleet.IMAGE_DEBIAN12)
    host = faults.start_with_tmpfs(
        fleet.IMAGE_DEBIAN12,
        f"pt{os.getpid()}-diskfull",
        {"/var/cache/apt/archives": "size=256k"},  # the pre-downloaded debs are hidden too
    )
    try:
        inventory, baseline = prepare([host], lab_files, tmp_path)
        before = faults.sh(host, "dpkg-query -W")[1]
        proc = start(
            ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"],
            tmp_path / "s.db",
        )
        rc, doc, err = finish(proc)
        assert rc == 3, err
        entry = doc["hosts"][0]
        assert entry["status"] == "FAILED", entry
        words = json.dumps(entry["install"]) + entry["failure"]["message"]
        assert "You don't have enough free space in /var/cache/apt/archives/" in words
        assert faults.sh(host, "dpkg-query -W")[1] == before  # dpkg unchanged
    finally:
        fleet.stop_fleet([host])


# ------------------------------------------------------------- the controller goes away


def rolling_args(inventory: Path, baseline: Path) -> list[str | Path]:
    return [
        "install",
        "-i",
        inventory,
        "--all-hosts",
        "-b",
        baseline,
        "--batch",
        "1",
        "--max-concurrency",
        "1",
        "--reboot",
        "never",
    ]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_controller_stopped_mid_install_then_resume_patches_every_host_once(
    how: signal.Signals, lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 3)
    inventory, baseline = prepare(hosts, lab_files, tmp_path)
    faults.slow_dpkg_unpack(hosts[1], 8)
    store = tmp_path / "s.db"
    proc = start(rolling_args(inventory, baseline), store)
    faults.wait_for(hosts[1], "test -e /tmp/fp-unpacked", timeout=120)  # host 2 mid-install
    proc.send_signal(how)
    _out, err = proc.communicate(timeout=60)
    run_id = latest_run(store)
    if how == signal.SIGINT:
        assert proc.returncode == 130, err
        assert f"fleetpatch run --resume {run_id}" in err
        interrupted = {r["host"]: r for r in run_rows(store, run_id)}
        assert interrupted[hosts[1].name]["outcome"] == "cancelled"
        assert "goes on on the host" in interrupted[hosts[1].name]["failure_message"]
        assert interrupted[hosts[2].name]["outcome"] == "skipped"
    resumed = fleetpatch(["run", "--resume", run_id, "--format", "json"], store=store)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    doc = json.loads(resumed.stdout)
    assert [h["outcome"] for h in doc["hosts"]] == ["ok", "ok", "ok"]
    middle = doc["hosts"][1]
    assert any("attached" in note for note in middle["install"]["notes"]), middle["install"]
    for host in hosts:
        installed_once(host)
        assert faults.jobs_left(host) == []
    rows = run_rows(store, run_id)
    assert sorted((r["host"], r["outcome"]) for r in rows) == [(h.name, "ok") for h in hosts]
    [run] = faults.store_rows(store, "SELECT status, cancelled FROM runs WHERE id = ?", (run_id,))
    assert (run["status"], run["cancelled"]) == ("finished", 0)
    leases = faults.store_rows(store, "SELECT host FROM host_leases")
    assert leases == []


def test_stale_lease_names_the_dead_holder_and_release_works(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    inventory, baseline = prepare([host], lab_files, tmp_path)
    faults.slow_dpkg_unpack(host, 5)
    store = tmp_path / "s.db"
    first = start(["install", "-i", inventory, "--all-hosts", "-b", baseline], store)
    faults.wait_for(host, "test -e /tmp/fp-unpacked", timeout=90)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    killed_run = latest_run(store)
    second = fleetpatch(
        ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"], store=store
    )
    assert second.returncode == 3, second.stderr
    entry = json.loads(second.stdout)["hosts"][0]
    assert entry["failure"]["kind"] == "locked"
    message = entry["failure"]["message"]
    assert f"controller ({socket_name()}:{first.pid}) is no longer running" in message
    assert f"fleetpatch run --resume {killed_run}" in message
    assert f"fleetpatch lease release {host.name}" in message
    listing = fleetpatch(["lease", "list", "--format", "json"], store=store)
    [lease] = json.loads(listing.stdout)
    assert (lease["host"], lease["run_id"], lease["holder_state"]) == (
        host.name,
        killed_run,
        "dead",
    )
    faults.wait_for(host, "test -e /var/lib/fleetpatch/jobs/*/rc")  # the killed run's install
    released = fleetpatch(["lease", "release", host.name], store=store)
    assert released.returncode == 0, released.stderr
    assert faults.store_rows(store, "SELECT host FROM host_leases") == []
    again = fleetpatch(["lease", "release", host.name], store=store)
    assert again.returncode == 2 and "has no lease" in again.stderr
    third = fleetpatch(
        ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"], store=store
    )
    assert third.returncode == 0, third.stderr
    installed_once(host)  # the killed run's install finished on the host; nothing twice


def json_install(inventory: Path, baseline: Path) -> list[str | Path]:
    return ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"]


def socket_name() -> str:
    import socket

    return socket.gethostname()


def test_two_runs_on_one_host_the_second_is_refused_and_nothing_installs_twice(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    inventory, baseline = prepare([host], lab_files, tmp_path)
    faults.slow_dpkg_unpack(host, 6)
    store = tmp_path / "s.db"
    first = start(
        ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"], store
    )
    faults.wait_for(host, "test -e /tmp/fp-unpacked", timeout=90)
    second = fleetpatch(
        ["install", "-i", inventory, "--all-hosts", "-b", baseline, "--format", "json"], store=store
    )
    assert second.returncode == 3, second.stderr
    entry = json.loads(second.stdout)["hosts"][0]
    assert entry["failure"]["kind"] == "locked"
    assert "is being patched by run" in entry["failure"]["message"]
    rc, _doc, err = finish(first)
    assert rc == 0, err
    installed_once(host)


# ------------------------------------------------------------------------ an rpm host


def test_dnf_install_survives_a_pause_while_it_waits_for_the_rpmdb_lock(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    [host] = lab_fleet(fleet.IMAGE_ROCKY9, 1)
    files = lab_files([host], tmp_path / "inv")
    inventory = quick_inventory(files)
    before = faults.rpm_versions(host, ["fp-crit"])
    holder = faults.hold_rpmdb_lock(host)
    store = tmp_path / "s.db"
    # the predefined Rocky baseline approves fp-crit (Security Critical, 40 days old)
    proc = start(["install", "-i", inventory, "--all-hosts", "--reboot", "never"], store)
    # dnf is running on the host, waiting for the lock: the journal says so
    faults.wait_for(
        host, "grep -q 'is locked by another process' /var/lib/fleetpatch/jobs/*/journal"
    )
    with faults.paused(host):
        time.sleep(6)  # the controller's connection is given up meanwhile
    faults.release_rpmdb_lock(host, holder)
    rc, _, err = finish(proc)
    assert rc in (0, 1), err  # 1: the lab's kernel rule leaves a reboot pending
    assert "waiting for the package manager's lock" in err
    assert before == {"fp-crit": "1.0-1.el9"}
    assert faults.rpm_versions(host, ["fp-crit"]) == {"fp-crit": "1.1-1.el9"}
    _, history = faults.sh(host, "dnf -q history list | grep -c -E '^ *[0-9]+ '")
    assert history.strip() == "1"  # one transaction: installed once
    assert faults.jobs_left(host) == []
    [row] = run_rows(store, latest_run(store))
    assert row["outcome"] == "ok" and "reconnected" in row["install_summary"]
