"""Several advisories for one package, on the rpm lab: fp-seq 1.0 is installed; 1.1 is fixed
by a Moderate advisory issued 40 days ago, 1.2 by a Critical one issued 3 days ago
(tests/lab/images/rpm-common). A baseline approving "Security, Moderate and up, after 7 days"
must report fp-seq MISSING at 1.1 (what ``dnf upgrade-minimal --sec-severity=Moderate`` picks
inside the host; on SLES the Moderate patch's own version), the dry run must plan 1.1, the
install must install 1.1 (rpm's own view), and the rescan must count fp-seq INSTALLED.

Ground truth comes from inside each container: dnf's ``upgrade-minimal --assumeno``
transaction table, zypper's patch list and ``info -t patch``, ``rpm -q``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cli_run import fleetpatch
from tests.lab import fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

RULE = {
    "filters": [
        {"key": "CLASSIFICATION", "values": ["Security"]},
        {"key": "SEVERITY", "values": ["Critical", "Important", "Moderate"]},
    ],
    "approve_after_days": 7,
    "compliance_level": "HIGH",
}


def sh(host: LabHost, command: str, ok: tuple[int, ...] = (0, 100)) -> str:
    rc, out = fleet.exec_in(host, ["sh", "-c", f"LC_ALL=C TZ=UTC {command} 2>/dev/null"])
    assert rc in ok, f"{host.name}: {command} -> rc {rc}: {out}"
    return out


def rpm_version(host: LabHost, name: str) -> str:
    return sh(host, f"rpm -q --qf '%{{VERSION}}-%{{RELEASE}}' {name}")


def dnf_minimal_choice(host: LabHost, name: str) -> str:
    """The version ``dnf upgrade-minimal --sec-severity=Moderate`` would install (its own
    transaction table, answered no)."""
    out = sh(host, "dnf -C upgrade-minimal --sec-severity=Moderate --assumeno", ok=(0, 1))
    match = re.search(rf"^ {re.escape(name)}\s+\S+\s+(\S+)\s", out, re.M)
    assert match, f"dnf upgrade-minimal does not upgrade {name}: {out}"
    return match[1]


def zypper_patches_of(host: LabHost, package: str) -> dict[str, tuple[str, str, str]]:
    """patch name -> (severity, status, the version of ``package`` it ships)."""
    xml = sh(host, "zypper -n -q --no-refresh --xmlout list-patches --all --with-optional")
    out = {}
    for node in ET.fromstring(xml).iter("update"):
        name = node.get("name", "")
        if node.get("kind") != "patch" or f" {package}-" not in (node.findtext("summary") or ""):
            continue
        info = sh(host, f"zypper -n -q --no-refresh info -t patch {name}", ok=(0,))
        version = re.search(rf"{re.escape(package)}\.x86_64 < (\S+)", info)
        assert version, info
        out[name] = (node.get("severity", ""), node.get("status", ""), version[1])
    return out


def run(
    kind: str, files: Any, baseline: Path, tmp: Path, *args: str, store: str = "store.db"
) -> dict[str, Any]:
    which = ["--all-hosts"] if kind == "install" else []  # an install names its hosts
    proc = fleetpatch(
        [kind, "-i", str(files.inventory), *which, "-b", str(baseline), "--format", "json", *args],
        store=tmp / store,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    (host,) = doc["hosts"]
    assert host["outcome"] == "ok", host
    return host


def item(host: dict[str, Any], name: str) -> dict[str, Any]:
    found = [p for p in host["patches"] if p["id"] == name]
    assert len(found) == 1, host["patches"]
    return found[0]


def write_baseline(tmp: Path, os: str) -> Path:
    path = tmp / f"moderate-up-{os.lower()}.yaml"
    path.write_text(
        yaml.safe_dump({"name": "moderate-up", "operating_system": os, "approval_rules": [RULE]})
    )
    return path


def test_dnf_two_advisories_verdict_and_install_follow_upgrade_minimal(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    (rocky,) = lab_fleet(fleet.IMAGE_ROCKY9, 1)
    files = lab_files([rocky], tmp_path / "inv")
    baseline = write_baseline(tmp_path, "ROCKY_LINUX")
    notices = sh(rocky, "dnf -q -C updateinfo list --updates")
    seq = [line.split() for line in notices.splitlines() if " fp-seq-" in line]
    assert {row[1] for row in seq} == {"Moderate/Sec.", "Critical/Sec."}, seq
    moderate = next(row[0] for row in seq if row[1] == "Moderate/Sec.")
    choice = dnf_minimal_choice(rocky, "fp-seq")  # dnf's own pick: 1.1-1.el9
    assert rpm_version(rocky, "fp-seq").startswith("1.0-")

    scan = run("scan", files, baseline, tmp_path)
    seq_item = item(scan, "fp-seq")
    assert seq_item["state"] == "MISSING"
    assert seq_item["candidate_version"] == choice
    assert seq_item["severity"] == "Moderate"
    assert seq_item["advisory_ids"][0] == moderate and len(seq_item["advisory_ids"]) == 2
    assert seq_item["reason"].endswith(f"by {moderate}")

    plan = run("install", files, baseline, tmp_path, "--dry-run")
    planned = {p["name"]: p["version"] for p in plan["install"]["planned"]}
    assert planned["fp-seq"] == choice
    assert rpm_version(rocky, "fp-seq").startswith("1.0-")  # the dry run changed nothing

    done = run("install", files, baseline, tmp_path, "--reboot", "never")
    assert "fp-seq" in done["install"]["installed"]
    assert rpm_version(rocky, "fp-seq") == choice  # rpm's own view

    # a fresh store: this install's pending reboot (the lab's 900.x kernels) is not known there
    rescan = run("scan", files, baseline, tmp_path, store="fresh.db")
    after = item(rescan, "fp-seq")
    assert after["state"] == "INSTALLED", after  # the approved Moderate advisory is satisfied
    assert after["installed_version"] == choice
    installed = [p for p in rescan["patches"] if p["state"] == "INSTALLED"]
    assert rescan["counts"]["InstalledCount"] == len(installed) >= 1


def test_zypper_two_patches_install_the_approved_patch_at_its_own_version(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    (sles,) = lab_fleet(fleet.IMAGE_SLES15, 1)
    files = lab_files([sles], tmp_path / "inv")
    baseline = write_baseline(tmp_path, "SUSE")
    patches = zypper_patches_of(sles, "fp-seq")
    assert sorted(s for s, _, _ in patches.values()) == ["critical", "moderate"], patches
    moderate = next(n for n, (s, _, _) in patches.items() if s == "moderate")
    critical = next(n for n, (s, _, _) in patches.items() if s == "critical")
    wanted = patches[moderate][2]  # the Moderate patch's own fp-seq version (1.1)

    scan = run("scan", files, baseline, tmp_path)
    assert item(scan, moderate)["state"] == "MISSING"
    assert critical not in {p["id"] for p in scan["patches"]}  # 3 days old: not approved

    plan = run("install", files, baseline, tmp_path, "--dry-run")
    planned = {p["name"]: p["version"] for p in plan["install"]["planned"]}
    assert planned["fp-seq"] == wanted  # not the Critical patch's 1.2

    done = run("install", files, baseline, tmp_path, "--reboot", "never")
    assert moderate in done["install"]["installed"]
    assert rpm_version(sles, "fp-seq") == wanted
    after = zypper_patches_of(sles, "fp-seq")
    assert after[moderate][1] == "applied" and after[critical][1] == "needed", after

    # the rescan: fp-seq at the Moderate patch's version; that patch is applied (zypper's
    # own word above) and approved, so fp-seq counts INSTALLED (SSM's InstalledCount), by it
    rescan = run("scan", files, baseline, tmp_path, "--verbose", store="fresh.db")
    done_items = {p["id"]: p for p in rescan["patches"] if p["state"] == "INSTALLED"}
    assert "fp-seq" in done_items, rescan["patches"]
    assert done_items["fp-seq"]["installed_version"] == wanted
    assert done_items["fp-seq"]["reason"].endswith(f"by {moderate}"), done_items["fp-seq"]
    assert rescan["counts"]["InstalledCount"] == len(done_items)
