"""Rolling installs on lab containers, through the real command; every verdict is checked
against dpkg inside the hosts."""

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
from tests.lab import fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

# Approves every update (security or not) so that fp-broken, whose new postinst fails, is
# selected; hosts where fp-broken is held do not have it as an update at all.
ALL_UPDATES = """\
name: lab-all-updates
operating_system: DEBIAN
approval_rules:
  - filters: [{key: PRIORITY, values: ["*"]}]
    enable_non_security: true
"""


def dpkg_version(host: LabHost, package: str) -> str:
    rc, out = fleet.exec_in(host, ["dpkg-query", "-W", "-f=${Status} ${Version}", package])
    assert rc == 0, out
    return out.split()[-1] if out.startswith("install ok installed") else f"broken:{out}"


def pending(host: LabHost) -> set[str]:
    rc, out = fleet.exec_in(host, ["sh", "-c", "LC_ALL=C apt-get -s dist-upgrade | grep ^Inst"])
    return {line.split()[1] for line in out.splitlines()} if rc == 0 else set()


def hold_fp_broken(hosts: list[LabHost], *, except_host: LabHost | None) -> None:
    for host in hosts:
        if host is not except_host:
            rc, out = fleet.exec_in(host, ["apt-mark", "hold", "fp-broken"])
            assert rc == 0, out


def install(
    files: Any, tmp: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    baseline = tmp / "all.yaml"
    baseline.write_text(ALL_UPDATES)
    args = ("--all-hosts", "--baseline", str(baseline), "--format", "json", *args)
    proc = fleetpatch(
        ["install", "-i", files.inventory, *args],
        store=tmp / "store.db",
        env=env,
    )
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else {}, proc.stderr


def outcomes(doc: dict[str, Any]) -> dict[str, str]:
    return {h["host"]: h["outcome"] for h in doc["hosts"]}


@pytest.fixture
def six(lab_fleet: Any, lab_files: Any, tmp_path: Path) -> tuple[list[LabHost], Any]:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 6)
    # the 2nd host of batch 2 (plan [1, 3, 2]) is the one that fails
    hold_fp_broken(hosts, except_host=hosts[2])
    return hosts, lab_files(hosts, tmp_path / "inv")


BATCHES = ["--batch", "1", "--batch", "50%", "--batch", "100%", "--max-concurrency", "1"]


def test_max_errors_0_stops_at_the_first_failure(six: Any, tmp_path: Path) -> None:
    hosts, files = six
    rc, doc, err = install(files, tmp_path, *BATCHES, "--max-errors", "0")
    assert rc == 3, err
    assert doc["rollout"]["plan"] == [
        [hosts[0].name],
        [h.name for h in hosts[1:4]],
        [h.name for h in hosts[4:]],
    ]
    got = outcomes(doc)
    assert got == {
        hosts[0].name: "ok",
        hosts[1].name: "ok",
        hosts[2].name: "failed",
        hosts[3].name: "skipped",
        hosts[4].name: "skipped",
        hosts[5].name: "skipped",
    }
    failed = next(h for h in doc["hosts"] if h["host"] == hosts[2].name)
    assert "fp-broken" in failed["install"]["failed"]
    assert "post-installation script" in failed["install"]["failed"]["fp-broken"]
    assert any("1 failure exceeds max_errors=0" in d for d in doc["rollout"]["decisions"])
    # ground truth inside the hosts
    assert dpkg_version(hosts[1], "fp-alpha") == "1.1-1"
    assert dpkg_version(hosts[3], "fp-alpha") == "1.0-1"  # skipped: untouched
    assert dpkg_version(hosts[2], "fp-broken").startswith("broken:")  # half-configured


def test_max_errors_1_tolerates_one_failure_but_exits_non_zero(six: Any, tmp_path: Path) -> None:
    hosts, files = six
    rc, doc, err = install(files, tmp_path, *BATCHES, "--max-errors", "1")
    assert rc == 3, err  # a tolerated failure still fails the run's exit code
    got = outcomes(doc)
    assert [got[h.name] for h in hosts] == ["ok", "ok", "failed", "ok", "ok", "ok"]
    for host in (hosts[0], hosts[1], hosts[3], hosts[4], hosts[5]):
        assert dpkg_version(host, "fp-alpha") == "1.1-1"
        assert pending(host) == set()  # nothing left: beta/delta/epoch upgraded, fp-broken held


def test_on_failure_halt_per_host_stops_whatever_the_budget(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 3)
    hold_fp_broken(hosts, except_host=hosts[0])
    files = lab_files(hosts, tmp_path / "inv")
    rc, doc, err = install(
        files, tmp_path, "--batch", "1", "--max-errors", "5", "--on-failure", "halt"
    )
    assert rc == 3, err
    assert [outcomes(doc)[h.name] for h in hosts] == ["failed", "skipped", "skipped"]
    assert any("on_failure is halt" in d for d in doc["rollout"]["decisions"])


def test_pre_install_hook_failure_skips_install_and_on_exit_runs(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    files = lab_files(hosts, tmp_path / "inv")
    rc, doc, err = install(
        files,
        tmp_path,
        "--pre-install",
        "echo refusing; exit 4",
        "--on-exit",
        "touch /tmp/fp-on-exit-ran",
    )
    assert rc == 3, err
    entry = doc["hosts"][0]
    assert entry["failure"]["kind"] == "hook"
    assert "pre_install hook failed" in entry["failure"]["message"]
    hooks = {h["name"]: h for h in entry["install"]["hooks"]}
    assert hooks["pre_install"]["exit_code"] == 4 and "refusing" in hooks["pre_install"]["output"]
    assert hooks["on_exit"]["exit_code"] == 0
    assert fleet.exec_in(hosts[0], ["test", "-f", "/tmp/fp-on-exit-ran"])[0] == 0
    assert dpkg_version(hosts[0], "fp-alpha") == "1.0-1"  # nothing installed


def test_failing_health_check_fails_the_canary(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 3)
    hold_fp_broken(hosts, except_host=None)
    files = lab_files(hosts, tmp_path / "inv")
    marker = tmp_path / "health-env"
    rc, doc, err = install(
        files,
        tmp_path,
        "--batch",
        "1",
        "--canary",
        "--max-errors",
        "5",
        "--health-check",
        f'echo "$FLEETPATCH_BATCH $FLEETPATCH_BATCH_HOSTS" > {marker}; exit 1',
    )
    assert rc == 3, err
    assert [outcomes(doc)[h.name] for h in hosts] == ["ok", "skipped", "skipped"]
    assert marker.read_text().strip() == f"1 {hosts[0].name}"
    assert any("health check" in d for d in doc["rollout"]["decisions"])
    assert dpkg_version(hosts[1], "fp-alpha") == "1.0-1"


def test_dry_run_plan_is_what_the_install_then_does(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 2)
    hold_fp_broken(hosts, except_host=None)
    files = lab_files(hosts, tmp_path / "inv")
    before = {h.name: fleet.exec_in(h, ["dpkg-query", "-W"])[1] for h in hosts}
    rc, plan, err = install(files, tmp_path, "--dry-run")
    assert rc == 0, err
    assert {h.name: fleet.exec_in(h, ["dpkg-query", "-W"])[1] for h in hosts} == before
    rc, done, err = install(files, tmp_path)
    assert rc == 0, err
    for p_host, d_host, host in zip(plan["hosts"], done["hosts"], hosts, strict=True):
        planned = {(p["name"], p["version"]) for p in p_host["install"]["planned"]}
        installed = {(p["name"], p["version"]) for p in d_host["install"]["planned"]}
        assert planned == installed
        assert {n for n, _ in planned} == set(d_host["install"]["installed"])
        for name, version in planned:
            assert dpkg_version(host, name) == version  # dpkg agrees with the plan
        assert d_host["status"] == "COMPLIANT"


def test_reboot_and_a_host_that_never_comes_back(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    back = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1, restart_policy="unless-stopped")
    gone = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1, restart_policy=None)
    hosts = back + gone
    hold_fp_broken(hosts, except_host=None)
    files = lab_files(hosts, tmp_path / "inv")
    pid1_before = fleet.pid1_start_time(back[0])
    playbook = tmp_path / "reboot.yaml"
    playbook.write_text(
        "name: reboot test\n"
        f"inventory: {files.inventory}\n"
        "targets: ['*']\n"
        "operation: install\n"
        f"baseline: {tmp_path / 'all.yaml'}\n"
        "reboot: always\n"
        "timeouts: {reboot: 25s}\n"
    )
    (tmp_path / "all.yaml").write_text(ALL_UPDATES)
    proc = fleetpatch(["run", playbook, "--format", "json"], store=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stdout)
    by = {h["host"]: h for h in doc["hosts"]}
    ok = by[back[0].name]
    assert ok["outcome"] == "ok" and ok["install"]["reboot"] == "rebooted"
    assert fleet.pid1_start_time(back[0]) != pid1_before
    assert ok["status"] == "COMPLIANT"  # rescanned after the reboot
    lost = by[gone[0].name]
    assert lost["outcome"] == "failed" and lost["failure"]["kind"] == "reboot"
    assert "did not come back" in lost["failure"]["message"]


def test_reboot_never_leaves_pending_reboot_until_a_reboot_and_a_rescan(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1, restart_policy="unless-stopped")
    hold_fp_broken(hosts, except_host=None)
    rc, out = fleet.exec_in(hosts[0], ["touch", "/var/run/reboot-required"])
    assert rc == 0, out
    files = lab_files(hosts, tmp_path / "inv")
    rc, doc, err = install(files, tmp_path, "--reboot", "never")
    assert rc == 1, err  # patched, but non-compliant until a reboot and a rescan
    entry = doc["hosts"][0]
    assert entry["install"]["reboot"] == "pending"
    assert entry["status"] == "NON_COMPLIANT"
    pending = entry["counts"]["InstalledPendingRebootCount"]
    assert pending == len(entry["install"]["installed"]) > 0

    def scan() -> dict[str, Any]:
        proc = fleetpatch(
            [
                "scan",
                "-i",
                files.inventory,
                "--baseline",
                tmp_path / "all.yaml",
                "--format",
                "json",
            ],
            store=tmp_path / "store.db",
        )
        return dict(json.loads(proc.stdout)["hosts"][0])

    again = scan()  # same boot, same baseline: still pending
    assert again["counts"]["InstalledPendingRebootCount"] == pending
    assert again["status"] == "NON_COMPLIANT"
    # a lab reboot (the shim ends PID 1; the restart policy brings the container back);
    # /run is not a tmpfs in the lab, so clear the flag file a real reboot would clear
    pid1 = fleet.pid1_start_time(hosts[0])
    fleet.exec_in(hosts[0], ["sh", "-c", "rm -f /var/run/reboot-required; reboot"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            if fleet.pid1_start_time(hosts[0]) != pid1:
                break
        except fleet.LabError:
            continue  # restarting
    fleet.wait_ssh(hosts[0])
    after = scan()  # a new boot: the patches count as installed
    assert after["counts"]["InstalledPendingRebootCount"] == 0
    assert after["status"] == "COMPLIANT"


def _start_run(playbook: Path, store: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, FLEETPATCH_STORE=f"sqlite:///{store}", HOME=str(store.parent))
    return subprocess.Popen(
        [sys.executable, "-m", "fleetpatch", "run", str(playbook)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _rolling_playbook(tmp: Path, inventory: Path, hook: str) -> Path:
    (tmp / "all.yaml").write_text(ALL_UPDATES)
    playbook = tmp / "rolling.yaml"
    playbook.write_text(
        "name: slow rolling install\n"
        f"inventory: {inventory}\n"
        "targets: ['*']\n"
        "operation: install\n"
        f"baseline: {tmp / 'all.yaml'}\n"
        "rollout: {batches: [1], max_concurrency: 1}\n"
        "reboot: never\n"
        f"hooks: {{pre_install: '{hook}'}}\n"
    )
    return playbook


def test_controller_killed_mid_run_resumes_without_reinstalling(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 3)
    hold_fp_broken(hosts, except_host=None)
    files = lab_files(hosts, tmp_path / "inv")
    playbook = _rolling_playbook(tmp_path, files.inventory, "sleep 2")
    store = tmp_path / "s.db"
    proc = _start_run(playbook, store)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "[1/3] <host-1> ok ..." once the first host is done
    assert hosts[0].name in first, first
    proc.send_signal(signal.SIGKILL)  # a controller crash: no cleanup at all
    proc.wait(timeout=10)
    listing = fleetpatch(["report", "--format", "json"], store=store)
    run_id = json.loads(listing.stdout)["run"]["run_id"]
    resumed = fleetpatch(["run", "--resume", run_id, "--format", "json"], store=store)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["rollout"]["resumed"] is True
    assert [h["outcome"] for h in doc["hosts"]] == ["ok", "ok", "ok"]
    for host in hosts:
        assert dpkg_version(host, "fp-alpha") == "1.1-1"
        # dpkg's own log: fp-alpha was installed exactly once on every host
        _rc, log = fleet.exec_in(
            host, ["grep", "-c", "status installed fp-alpha:amd64 1.1-1", "/var/log/dpkg.log"]
        )
        assert log.strip() == "1", (host.name, log)


def _wait_for_lease(store: Path, host: str, timeout: float = 60) -> None:
    """Poll the store until some run holds the lease on ``host``."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.exists():
            with sqlite3.connect(store) as conn:
                try:
                    row = conn.execute(
                        "SELECT run_id FROM host_leases WHERE host = ?", (host,)
                    ).fetchone()
                except sqlite3.OperationalError:  # not migrated yet
                    row = None
            if row:
                return
        time.sleep(0.1)
    raise AssertionError(f"no run took the lease on {host} within {timeout}s")


def test_two_runs_on_one_host_the_second_is_refused(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    hold_fp_broken(hosts, except_host=None)
    files = lab_files(hosts, tmp_path / "inv")
    store = tmp_path / "store.db"  # the same store: leases live there
    first = _start_run(_rolling_playbook(tmp_path, files.inventory, "sleep 8"), store)
    _wait_for_lease(store, hosts[0].name)  # held by the first run while its hook sleeps
    rc, doc, err = install(files, tmp_path)
    first.communicate(timeout=60)
    assert rc == 3, err
    entry = doc["hosts"][0]
    assert entry["failure"]["kind"] == "locked"
    assert "is being patched by run" in entry["failure"]["message"]
    assert first.returncode == 0
    assert dpkg_version(hosts[0], "fp-alpha") == "1.1-1"
