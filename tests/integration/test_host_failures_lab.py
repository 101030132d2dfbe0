"""Host-key and authentication failures against a real sshd, through the real command.

Neither is ever retried (it would only fail again, and count against the account): the
host's own sshd log shows one connection. Ground truth for the store: its rows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import faults
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab


def _scan(inventory: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = fleetpatch(
        ["scan", "-i", inventory, "--format", "json", *extra], store=tmp_path / "s.db"
    )
    return proc.returncode, json.loads(proc.stdout)["hosts"][0], proc.stderr


def test_wrong_host_key_fails_that_host_only(
    repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files(repo_fleet, tmp_path)
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    bad = repo_fleet[0]
    lines = files.known_hosts.read_text().splitlines()
    kept = [ln for ln in lines if not ln.startswith(f"[127.0.0.1]:{bad.port} ")]
    pub = impostor.with_suffix(".pub").read_text().split()
    kept.append(f"[127.0.0.1]:{bad.port} {pub[0]} {pub[1]}")
    files.known_hosts.write_text("\n".join(kept) + "\n")
    log_start = len(faults.sshd_log(bad))
    proc = fleetpatch(
        ["scan", "-i", files.inventory, "--format", "json", "--accept-new-host-keys"],
        store=tmp_path / "s.db",
    )
    assert proc.returncode == 3, proc.stderr
    hosts = {h["host"]: h for h in json.loads(proc.stdout)["hosts"]}
    assert hosts[bad.name]["failure"]["kind"] == "host_key"
    assert "host key changed" in hosts[bad.name]["failure"]["message"]
    assert hosts[repo_fleet[1].name]["outcome"] == "ok"  # the other host is scanned
    assert faults.sshd_log(bad)[log_start:].count("Host key is not trusted") == 1  # no retry
    rows = faults.store_rows(
        tmp_path / "s.db", "SELECT host, failure_kind FROM host_results ORDER BY host"
    )
    assert {r["host"]: r["failure_kind"] for r in rows} == {
        bad.name: "host_key",
        repo_fleet[1].name: None,
    }
    audited = faults.store_rows(tmp_path / "s.db", "SELECT DISTINCT host FROM audit")
    assert audited == [{"host": repo_fleet[1].name}]  # nothing was sent to the impostor


def test_unknown_host_key_needs_the_explicit_option(
    repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files(repo_fleet[:1], tmp_path)
    files.known_hosts.write_text("")
    rc, entry, _ = _scan(files.inventory, tmp_path)
    assert rc == 3
    assert entry["failure"]["kind"] == "host_key"
    assert "--accept-new-host-keys" in entry["failure"]["message"]
    own = tmp_path / "fp_known_hosts"
    assert not own.exists()
    rc, entry, _ = _scan(files.inventory, tmp_path, "--accept-new-host-keys")
    assert entry["outcome"] == "ok", entry
    assert f"[127.0.0.1]:{repo_fleet[0].port} " in own.read_text()
    rc, entry, _ = _scan(files.inventory, tmp_path)  # now known: no option needed
    assert entry["outcome"] == "ok", entry


def test_failed_auth(repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path) -> None:
    files = lab_files(repo_fleet[:1], tmp_path)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    text = files.inventory.read_text()
    key_line = next(ln for ln in text.splitlines() if "key_file:" in ln)
    files.inventory.write_text(text.replace(key_line, f"    key_file: {other}"))
    log_start = len(faults.sshd_log(repo_fleet[0]))
    rc, entry, _ = _scan(files.inventory, tmp_path)
    assert rc == 3
    assert entry["failure"]["kind"] == "auth"
    assert "authentication failed for user 'root'" in entry["failure"]["message"]
    log = faults.sshd_log(repo_fleet[0])[log_start:]
    assert log.count("Connection closed by authenticating user root") == 1  # never retried
    rows = faults.store_rows(tmp_path / "s.db", "SELECT outcome, failure_kind FROM host_results")
    assert rows == [{"outcome": "failed", "failure_kind": "auth"}]
    assert faults.store_rows(tmp_path / "s.db", "SELECT * FROM audit") == []
