"""End to end: `fleetpatch scan` over lab containers (real sshd, real apt), each host's
findings compared with what apt itself says inside that container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apt_truth import SIMULATE, apt_updates
from tests.integration.cli_run import fleetpatch
from tests.lab import fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab


def _security_fix_hidden_in_updates(host: LabHost, name: str, installed: str, cand: str) -> bool:
    """apt-cache madison inside the host: does a security suite publish a version v with
    installed < v <= candidate? (the case where -updates hides the security origin)"""
    rc, out = fleet.exec_in(host, ["apt-cache", "madison", name])
    assert rc == 0, out
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and "-security" in parts[2]:
            version = parts[1]
            lo = fleet.exec_in(host, ["dpkg", "--compare-versions", version, "gt", installed])[0]
            hi = fleet.exec_in(host, ["dpkg", "--compare-versions", version, "le", cand])[0]
            if lo == 0 and hi == 0:
                return True
    return False


def _scan_and_compare(hosts: list[LabHost], files: Any, tmp_path: Path) -> dict[str, Any]:
    facts_dir = tmp_path / "facts"
    proc = fleetpatch(
        ["scan", "-i", files.inventory, "--format", "json", "--save-facts", facts_dir],
        store=tmp_path / "store.db",
    )
    assert proc.returncode == 1, proc.stderr  # the lab hosts have missing security updates
    report = json.loads(proc.stdout)
    by_host = {h["host"]: h for h in report["hosts"]}
    assert set(by_host) == {h.name for h in hosts}
    for host in hosts:
        rc, out = fleet.exec_in(host, SIMULATE)
        assert rc == 0, out
        truth = apt_updates(out)
        assert truth, f"{host.name}: the lab host should have pending updates"
        facts = json.loads((facts_dir / f"{host.name}.json").read_text())
        ours = {u["name"]: u for u in facts["updates"]}
        # exactly the packages and candidate versions apt lists
        assert {n: u["candidate_version"] for n, u in ours.items()} == {
            n: t.candidate for n, t in truth.items()
        }
        for name, t in truth.items():
            if t.security:
                assert ours[name]["security"], f"{host.name}: {name} comes from {t.origins}"
            elif ours[name]["security"]:
                assert _security_fix_hidden_in_updates(
                    host, name, ours[name]["installed_version"], t.candidate
                ), f"{host.name}: {name} called security but apt shows {t.origins}"
        entry = by_host[host.name]
        assert entry["outcome"] == "ok"
        assert entry["status"] == "NON_COMPLIANT"
        missing = {p["id"] for p in entry["patches"] if p["state"] == "MISSING"}
        security = {n for n, u in ours.items() if u["security"]}
        assert missing == security  # the Debian default baseline approves security updates
        assert entry["counts"]["MissingCount"] == len(missing)
    return report


def test_scan_real_debian_fleet_matches_apt(
    debian_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files(debian_fleet, tmp_path)
    report = _scan_and_compare(debian_fleet, files, tmp_path)
    assert report["summary"]["hosts"] == 3


def test_scan_repo_fleet_exact_states(
    repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files(repo_fleet, tmp_path)
    report = _scan_and_compare(repo_fleet, files, tmp_path)
    for entry in report["hosts"]:
        missing = {p["id"]: p for p in entry["patches"] if p["state"] == "MISSING"}
        # fp-delta's security fix hides behind a newer -updates version: still security
        assert "fp-delta" in missing
        assert "fp-beta" not in missing and "fp-zeta" not in missing


def test_stored_run_renders_again(
    debian_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    files = lab_files(debian_fleet[:1], tmp_path)
    store = tmp_path / "store.db"
    first = fleetpatch(["scan", "-i", files.inventory, "--format", "json"], store=store)
    assert first.returncode == 1, first.stderr
    again = fleetpatch(["report", "--format", "json"], store=store)
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    table = fleetpatch(["report"], store=store)
    assert debian_fleet[0].name in table.stdout
    assert "NON_COMPLIANT" in table.stdout


def test_sudo_users(lab_fleet: Any, lab_files: Any, tmp_path: Path) -> None:
    """fleet has passwordless sudo; fleetpw needs a password from a named variable."""
    host = lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)
    cases: list[tuple[str, bool, dict[str, str], str | None]] = [
        ("fleet", False, {}, None),
        ("fleetpw", False, {}, "sudo prompted for a password"),
        ("fleetpw", True, {}, "sudo password environment variable LAB_SUDO is not set"),
        ("fleetpw", True, {"LAB_SUDO": "wrong"}, "sudo refused the password"),
        ("fleetpw", True, {"LAB_SUDO": "labpass"}, None),
    ]
    for n, (user, names_variable, env, expect) in enumerate(cases):
        files = lab_files(host, tmp_path / f"case{n}", user=user)
        if names_variable:
            text = files.inventory.read_text().replace(
                "use_agent: false", "use_agent: false\n    sudo_password_env: LAB_SUDO"
            )
            files.inventory.write_text(text)
        proc = fleetpatch(
            ["scan", "-i", files.inventory, "--format", "json"],
            store=files.inventory.parent / "s.db",
            env=env,
        )
        entry = json.loads(proc.stdout)["hosts"][0]
        if expect is None:
            assert entry["outcome"] == "ok", (user, env, entry)
        else:
            assert proc.returncode == 3, (user, env, proc.stderr)
            assert entry["failure"]["kind"] == "sudo"
            assert expect in entry["failure"]["message"]
        assert "labpass" not in proc.stdout + proc.stderr


def test_patch_group_selects_the_baseline_and_facts_evaluate_offline(
    repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    """The lab hosts carry `Patch Group: lab`; the mapping sends that group to a baseline
    that BLOCKs fp-alpha and rates required/important patches CRITICAL."""
    files = lab_files(repo_fleet[:1], tmp_path)
    (tmp_path / "lab-baseline.yaml").write_text(
        "name: lab-critical\n"
        "operating_system: DEBIAN\n"
        "approval_rules:\n"
        "  - filters: [{key: PRIORITY, values: [Required, Important]}]\n"
        "    compliance_level: CRITICAL\n"
        "  - filters: [{key: PRIORITY, values: [Standard, Optional, Extra]}]\n"
        "    compliance_level: LOW\n"
        "rejected_patches: [fp-alpha]\n"
        "rejected_patches_action: BLOCK\n"
    )
    (tmp_path / "groups.yaml").write_text("patch_groups:\n  lab:\n    DEBIAN: lab-baseline.yaml\n")
    facts_dir = tmp_path / "facts"
    proc = fleetpatch(
        [
            "scan",
            "-i",
            files.inventory,
            "--patch-groups",
            tmp_path / "groups.yaml",
            "--format",
            "json",
            "--save-facts",
            facts_dir,
        ],
        store=tmp_path / "s.db",
    )
    assert proc.returncode == 1, proc.stderr
    host = json.loads(proc.stdout)["hosts"][0]
    assert host["baseline"] == "lab-critical"
    patches = {p["id"]: p for p in host["patches"]}
    assert "fp-alpha" not in {i for i, p in patches.items() if p["state"] == "MISSING"}
    # fp-delta: priority required -> rule 0 -> CRITICAL; fp-epoch: extra -> rule 1 -> LOW
    assert patches["fp-delta"]["compliance_level"] == "CRITICAL"
    assert patches["fp-epoch"]["compliance_level"] == "LOW"
    assert host["overall_severity"] == "CRITICAL"
    # the same verdict offline, from the saved facts, without any connection
    offline = fleetpatch(
        [
            "baseline",
            "evaluate",
            "--baseline",
            tmp_path / "lab-baseline.yaml",
            "--facts",
            facts_dir / f"{repo_fleet[0].name}.json",
            "--format",
            "json",
        ],
        store=tmp_path / "s.db",
    )
    assert offline.returncode == 1, offline.stderr
    verdict = json.loads(offline.stdout)
    text = json.dumps(verdict)
    assert "fp-delta" in text and "CRITICAL" in text
    missing_offline = {
        i["id"] for i in verdict.get("items", verdict.get("patches", [])) if i["state"] == "MISSING"
    }
    assert missing_offline == {i for i, p in patches.items() if p["state"] == "MISSING"}
