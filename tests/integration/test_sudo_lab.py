"""A sudo password never reaches a shell; a refused one is one attempt. Real sudo with
pam_faillock on a fresh lab host, through the real command (the fault matrix,
docs/reliability.md "Connections and privileges").

Ground truth is the host's: canary passwords that, if a shell ever ran them, would leave a
file (``touch /tmp/pwned...``), and ``faillock --user fleetpw``, which counts every failed
password PAM saw. (Passwordless sudo, a missing password and an unset variable are in
tests/integration/test_scan_lab.py::test_sudo_users.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cli_run import fleetpatch
from tests.lab import faults, fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

CANARY_PROMPTED = "touch /tmp/pwned-prompted; id > /tmp/pwned-prompted"
"""fleetpw's real password on the test host: sudo asks for it, and gets it."""
CANARY_NOPASSWD = "touch /tmp/pwned-nopasswd; id > /tmp/pwned-nopasswd"
"""given as the sudo password of ``fleet``, whose sudo asks for none."""


@pytest.fixture(scope="module")
def sudo_host(lab_fleet: Callable[..., list[LabHost]]) -> LabHost:
    """A fresh host with pam_faillock on sudo, fleetpw's password set to a canary, and a user
    ``nosudo`` (the lab key, a password) who is in no sudoers rule."""
    host = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)[0]
    faults.enable_faillock_for_sudo(host)
    faults.must(
        host,
        f"printf '%s\\n' 'fleetpw:{CANARY_PROMPTED}' | chpasswd && "
        "useradd -m -s /bin/sh nosudo && printf 'nosudo:nopass\\n' | chpasswd && "
        "mkdir -p /home/nosudo/.ssh && cp /root/.ssh/authorized_keys /home/nosudo/.ssh/ && "
        "chown -R nosudo: /home/nosudo/.ssh",
    )
    return host


def scan_as(
    host: LabHost, user: str, password: str, lab_key: Path, directory: Path
) -> tuple[Any, dict[str, Any], Path]:
    """Scan ``host`` as ``user`` with sudo and ``password`` in $LAB_SUDO; the process, the
    host's report entry and the store."""
    directory.mkdir(parents=True, exist_ok=True)
    known = fleet.write_known_hosts([host], directory / "known_hosts")
    data = fleet.inventory_dict(
        [host], directory, known_hosts_path=known, key_path=lab_key, user=user
    )
    data["defaults"]["connection"].update(
        {"sudo": True, "sudo_password_env": "LAB_SUDO", "connect_timeout": 5}
    )
    inventory = directory / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    db = directory / "s.db"
    proc = fleetpatch(
        ["scan", "-i", inventory, "--format", "json"], store=db, env={"LAB_SUDO": password}
    )
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)["hosts"][0], db


def canaries(host: LabHost) -> str:
    """Files a canary password left anywhere on the host's filesystem ('' if none)."""
    return faults.must(host, "find / -xdev -name 'pwned*' 2>/dev/null || true").strip()


def assert_secret_kept(password: str, proc: Any, db: Path) -> None:
    assert password not in proc.stdout + proc.stderr
    assert password.encode() not in db.read_bytes()


def test_nopasswd_sudo_never_executes_the_configured_password(
    sudo_host: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    """``fleet`` has NOPASSWD sudo: sudo never reads stdin. Today's root shell would have read
    the password line as a command."""
    proc, entry, db = scan_as(sudo_host, "fleet", CANARY_NOPASSWD, lab_key, tmp_path)
    assert entry["outcome"] == "ok", entry
    assert canaries(sudo_host) == ""
    assert_secret_kept(CANARY_NOPASSWD, proc, db)


def test_a_prompted_password_reaches_sudo_only(
    sudo_host: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    faults.must(sudo_host, "faillock --user fleetpw --reset")
    proc, entry, db = scan_as(sudo_host, "fleetpw", CANARY_PROMPTED, lab_key, tmp_path)
    assert entry["outcome"] == "ok", entry  # the canary is the real password: accepted
    assert {p["id"] for p in entry["patches"]} >= {"fp-alpha", "fp-epoch"}
    assert canaries(sudo_host) == ""
    assert faults.faillock_failures(sudo_host, "fleetpw") == 0
    assert_secret_kept(CANARY_PROMPTED, proc, db)


def test_a_wrong_password_is_one_attempt_and_one_failure(
    sudo_host: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    """Today sudo -S read the password, then two script lines as two more passwords: three
    failures against pam_faillock for one wrong password."""
    faults.must(sudo_host, "faillock --user fleetpw --reset")
    wrong = "not-the-password; touch /tmp/pwned-wrong"
    proc, entry, db = scan_as(sudo_host, "fleetpw", wrong, lab_key, tmp_path)
    assert proc.returncode == 3
    assert entry["failure"]["kind"] == "sudo"
    assert "sudo refused the password (one attempt" in entry["failure"]["message"]
    assert faults.faillock_failures(sudo_host, "fleetpw") == 1
    assert canaries(sudo_host) == ""
    assert_secret_kept(wrong, proc, db)
    rows = faults.store_rows(
        db, "SELECT outcome, failure_kind, compliance_status FROM host_results"
    )
    assert rows == [{"outcome": "failed", "failure_kind": "sudo", "compliance_status": None}]
    audit = faults.store_rows(db, "SELECT operation, exit_code FROM audit")
    assert audit == [{"operation": "scan", "exit_code": None}]  # attempted, never ran


def test_a_user_sudo_refuses_is_a_sudo_failure_in_sudos_words(
    sudo_host: LabHost, lab_key: Path, tmp_path: Path
) -> None:
    proc, entry, db = scan_as(sudo_host, "nosudo", "nopass", lab_key, tmp_path)
    assert proc.returncode == 3
    assert entry["failure"]["kind"] == "sudo"
    assert "is not in the sudoers file" in entry["failure"]["message"]
    assert faults.faillock_failures(sudo_host, "nosudo") == 0  # the password was right
    rows = faults.store_rows(db, "SELECT failure_kind FROM host_results")
    assert rows == [{"failure_kind": "sudo"}]
