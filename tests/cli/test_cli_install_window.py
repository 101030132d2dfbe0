"""Maintenance window through the real command: within the cutoff nothing starts, and hosts
not started are reported as skipped, not failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.cli_run import fleetpatch


def test_no_host_starts_within_the_cutoff(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    # 192.0.2.0/24 is TEST-NET: never contacted, because nothing may start
    inventory.write_text("hosts:\n  a: {address: 192.0.2.1}\n  b: {address: 192.0.2.2}\n")
    end = (datetime.now(UTC) + timedelta(minutes=20)).isoformat(timespec="seconds")
    window = ["--window-end", end, "--cutoff", "30m"]
    proc = fleetpatch(
        ["install", "-i", inventory, "--all-hosts", *window, "--format", "json"],
        store=tmp_path / "s.db",
    )
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stdout)
    assert [h["outcome"] for h in doc["hosts"]] == ["skipped", "skipped"]
    assert all("window" in h["failure"]["message"] for h in doc["hosts"])
    assert (doc["summary"]["failed"], doc["summary"]["skipped"]) == (0, 2)


def test_cutoff_without_window_end_is_bad_input(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  a: {address: 192.0.2.1}\n")
    proc = fleetpatch(
        ["install", "-i", inventory, "-t", "a", "--cutoff", "30m"], store=tmp_path / "s.db"
    )
    assert proc.returncode == 2
    assert "--cutoff needs --window-end" in proc.stderr
    assert not (tmp_path / "s.db").exists()


def test_bad_batch_size_is_bad_input(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  a: {address: 192.0.2.1}\n")
    proc = fleetpatch(
        ["install", "-i", inventory, "-t", "a", "--batch", "150%"], store=tmp_path / "s.db"
    )
    assert proc.returncode == 2
    assert "150%" in proc.stderr


def test_a_scan_playbook_runs_a_scan(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  a: {address: 127.0.0.1, port: 1}\n")
    playbook = tmp_path / "scan.yaml"
    playbook.write_text(
        "name: nightly scan\ninventory: inv.yaml\noperation: scan\nconcurrency: 5\n"
        "baseline: AWS-DebianDefaultPatchBaseline\n"
    )
    proc = fleetpatch(["run", playbook, "--format", "json"], store=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["run"]["operation"] == "scan"
    assert doc["hosts"][0]["failure"]["kind"] == "unreachable"


def test_a_bad_playbook_names_file_and_line(tmp_path: Path) -> None:
    playbook = tmp_path / "bad.yaml"
    playbook.write_text("name: x\ninventory: inv.yaml\noperation: upgrade\n")
    proc = fleetpatch(["run", playbook], store=tmp_path / "s.db")
    assert proc.returncode == 2
    assert "bad.yaml:3" in proc.stderr and "operation" in proc.stderr
    assert not (tmp_path / "s.db").exists()


def test_scan_playbook_timeouts_apply(tmp_path: Path) -> None:
    import socket

    silent = socket.socket()  # accepts TCP, never speaks SSH
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        (tmp_path / "inv.yaml").write_text(
            "defaults: {connection: {connect_timeout: 120}}\n"
            f"hosts:\n  quiet: {{address: 127.0.0.1, port: {silent.getsockname()[1]}}}\n"
        )
        playbook = tmp_path / "scan.yaml"
        playbook.write_text(
            "name: s\ninventory: inv.yaml\noperation: scan\ntimeouts: {connect: 1s}\n"
        )
        proc = fleetpatch(
            ["run", playbook, "--format", "json"], store=tmp_path / "s.db", timeout=60
        )
    finally:
        silent.close()
    assert proc.returncode == 3, proc.stderr
    failure = json.loads(proc.stdout)["hosts"][0]["failure"]
    assert failure["kind"] == "unreachable" and "timed out" in failure["message"]


def test_install_writes_its_report_with_output_like_scan(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  a: {address: 192.0.2.1}\n")
    end = (datetime.now(UTC) + timedelta(minutes=20)).isoformat(timespec="seconds")
    report = tmp_path / "install.json"
    args = ["install", "-i", inventory, "-t", "a", "--window-end", end, "--cutoff", "30m"]
    proc = fleetpatch([*args, "--format", "json", "-o", report], store=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    doc = json.loads(report.read_text())
    assert doc["hosts"][0]["outcome"] == "skipped" and "rollout" in doc
    table = tmp_path / "install.txt"
    proc = fleetpatch([*args, "--output", table], store=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr
    assert "skipped" in table.read_text() and "skipped" not in proc.stdout
