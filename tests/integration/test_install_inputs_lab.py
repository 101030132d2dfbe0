"""Install inputs, through the real command on a host of its own: an install override list is
validated like every other value, an override whose ids match nothing on a host fails that
host (never a compliant "nothing to install"), and ``fleetpatch install`` without a target
patches nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import faults, fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

UNTOUCHED = {"fp-alpha": ("ii", "1.0-1"), "fp-beta": ("ii", "1.0-1")}


@pytest.fixture(scope="module")
def host(lab_fleet: Any) -> LabHost:
    """A fresh host: were an input not refused, this host would be patched."""
    found: LabHost = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)[0]
    return found


def _packages(host: LabHost) -> dict[str, tuple[str, str]]:
    return faults.dpkg_state(host, ["fp-alpha", "fp-beta"])


def _runs(store: Path) -> list[dict[str, Any]]:
    if not store.exists():
        return []
    return faults.store_rows(store, "SELECT id, operation FROM runs")


@pytest.mark.parametrize(
    "bad_id",
    ["fp-beta; touch /tmp/pwned", "$(touch /tmp/pwned)", "fp-beta`id`", "fp beta", "'fp-beta'"],
)
def test_override_ids_with_metacharacters_are_refused(
    bad_id: str, host: LabHost, lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files([host], tmp_path)
    override = tmp_path / "override.yaml"
    override.write_text(
        "patches:\n  - id: fp-alpha\n" + f"  - id: {json.dumps(bad_id)}\n    title: x\n"
    )
    store = tmp_path / "s.db"
    proc = fleetpatch(
        ["install", "-i", files.inventory, "-t", host.name, "--install-override", override],
        store=store,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    err = " ".join(proc.stderr.split())
    assert f"{override}:patches[1].id (line 3):" in err, err
    assert "is not a valid install override id" in err
    assert _runs(store) == []  # nothing ran, nothing stored
    assert _packages(host) == UNTOUCHED
    assert faults.sh(host, "test -e /tmp/pwned")[0] == 1


def test_an_empty_override_list_is_refused(host: LabHost, lab_files: Any, tmp_path: Path) -> None:
    files = lab_files([host], tmp_path)
    override = tmp_path / "override.yaml"
    override.write_text("patches: []\n")
    proc = fleetpatch(
        ["install", "-i", files.inventory, "-t", host.name, "--install-override", override],
        store=tmp_path / "s.db",
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{override}:patches" in proc.stderr and "names no patch" in proc.stderr
    assert _packages(host) == UNTOUCHED


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("ids", [["fp-nothere"], ["fp-alpha", "fp-nothere", "fp-*"]])
def test_override_ids_that_match_nothing_fail_the_host(
    ids: list[str], dry_run: bool, host: LabHost, lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files([host], tmp_path)
    override = tmp_path / "override.yaml"
    override.write_text("patches:\n" + "".join(f"  - id: {json.dumps(i)}\n" for i in ids))
    store = tmp_path / "s.db"
    proc = fleetpatch(
        [
            "install",
            "-i",
            files.inventory,
            "-t",
            host.name,
            "--install-override",
            override,
            "--format",
            "json",
            *(["--dry-run"] if dry_run else []),
        ],
        store=store,
    )
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    (entry,) = json.loads(proc.stdout)["hosts"]
    unmatched = [i for i in ids if i != "fp-alpha"]
    assert entry["status"] == "FAILED"
    assert entry["failure"]["kind"] == "override"
    message = entry["failure"]["message"]
    assert f"match nothing on {host.name}: {', '.join(unmatched)}" in message, message
    assert "nothing was installed" in message
    assert _packages(host) == UNTOUCHED
    rows = faults.store_rows(
        store, "SELECT outcome, failure_kind, compliance_status FROM host_results"
    )
    assert rows == [{"outcome": "failed", "failure_kind": "override", "compliance_status": None}]


def test_install_without_a_target_patches_nothing(
    host: LabHost, lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files([host], tmp_path)
    store = tmp_path / "s.db"
    for extra in ([], ["--dry-run"]):
        proc = fleetpatch(["install", "-i", files.inventory, *extra], store=store)
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert "--target" in proc.stderr and "--all-hosts" in proc.stderr
    both = fleetpatch(
        ["install", "-i", files.inventory, "-t", host.name, "--all-hosts", "--dry-run"],
        store=store,
    )
    assert both.returncode == 2 and "not both" in both.stderr, both.stderr
    assert _runs(store) == []
    assert _packages(host) == UNTOUCHED

    planned = fleetpatch(
        ["install", "-i", files.inventory, "--all-hosts", "--dry-run", "--format", "json"],
        store=store,
    )
    assert planned.returncode == 0, planned.stderr
    assert [h["host"] for h in json.loads(planned.stdout)["hosts"]] == [host.name]
    assert _packages(host) == UNTOUCHED
