"""End to end on the rpm lab: one `fleetpatch scan` over Rocky-, Amazon Linux 2023- and
SLES-like hosts together with a Debian one; each host's findings compared with what dnf or
zypper itself says inside that container, and each host evaluated against the predefined
baseline of its OS (after-7-days rules: advisories issued less than 7 days ago are not
MISSING). Ground truth is parsed here, independently and simply."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

SEVERE = {"critical", "important"}


def sh(host: LabHost, command: str) -> str:
    rc, out = fleet.exec_in(host, ["sh", "-c", f"TZ=UTC {command} 2>/dev/null"])
    assert rc in (0, 100), f"{host.name}: {command} -> rc {rc}: {out}"
    return out


@dataclass(frozen=True)
class Notice:
    advisory: str
    label: str  # "Important/Sec.", "bugfix", ...
    nevra: str


def dnf_truth(host: LabHost) -> tuple[dict[str, str], list[Notice], set[str], dict[str, Any]]:
    """(name.arch -> candidate E:V-R, updateinfo rows, every upgrade NEVRA a repo offers,
    advisory id -> {severity, updated})."""
    latest = {}
    out = sh(
        host,
        "dnf -q -C repoquery --upgrades --latest-limit=1 "
        "--qf '%{name}.%{arch} %{epoch}:%{version}-%{release}'",
    )
    for line in out.splitlines():
        if line.strip():
            na, evr = line.split()
            latest[na] = evr.removeprefix("0:")
    offered = {
        line.strip().replace("-0:", "-")
        for line in sh(
            host,
            "dnf -q -C repoquery --upgrades --qf '%{name}-%{epoch}:%{version}-%{release}.%{arch}'",
        ).splitlines()
        if line.strip()
    }
    notices = [
        Notice(*line.split()[:3])
        for line in sh(host, "dnf -q -C updateinfo list --updates").splitlines()
        if line.strip()
    ]
    info: dict[str, Any] = {}
    current = ""
    for line in sh(host, "dnf -q -C updateinfo info --updates").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "Update ID":
            current = value
            info[current] = {}
        elif key in ("Severity", "Updated", "Type") and current:
            info[current][key] = value
    return latest, notices, offered, info


def zypper_truth(host: LabHost) -> list[dict[str, Any]]:
    xml = sh(host, "zypper -n -q --no-refresh --xmlout list-patches --with-optional")
    root = ET.fromstring(xml)
    patches = []
    for node in root.iter("update"):
        if node.get("kind") == "patch" and node.get("status") == "needed":
            date = node.find("issue-date")
            patches.append(
                {
                    "name": node.get("name"),
                    "category": node.get("category"),
                    "severity": node.get("severity"),
                    "cves": sorted(
                        i.get("id", "") for i in node.iter("issue") if i.get("type") == "cve"
                    ),
                    "issued": datetime.fromtimestamp(int(date.get("time_t", "0")), UTC)
                    if date is not None
                    else None,
                }
            )
    return patches


def kernel_pending(host: LabHost) -> bool:
    """The newest installed kernel package (rpm -q --last: newest install first) is not the
    running kernel."""
    running = sh(host, "uname -r").strip()
    last = sh(host, "rpm -q --last kernel kernel-core kernel-default | head -n 1").split()[0]
    vr = re.sub(r"^kernel(-core|-default)?-", "", last)
    return not (running.startswith(vr) or vr.startswith(running))


def test_one_scan_over_a_mixed_fleet(
    rpm_fleet: list[LabHost], repo_fleet: list[LabHost], lab_files: Any, tmp_path: Path
) -> None:
    hosts = [*rpm_fleet, repo_fleet[0]]
    files = lab_files(hosts, tmp_path)
    facts_dir = tmp_path / "facts"
    proc = fleetpatch(
        ["scan", "-i", files.inventory, "--format", "json", "--save-facts", facts_dir],
        store=tmp_path / "store.db",
    )
    assert proc.returncode == 1, proc.stderr  # every lab host misses approved updates
    report = json.loads(proc.stdout)
    by_host = {h["host"]: h for h in report["hosts"]}
    assert set(by_host) == {h.name for h in hosts}
    assert all(h["outcome"] == "ok" for h in report["hosts"]), report["hosts"]
    now = datetime.now(UTC)
    rocky, al2023, sles = rpm_fleet
    for host, product in ((rocky, "RockyLinux9.4"), (al2023, "AmazonLinux2023")):
        facts = json.loads((facts_dir / f"{host.name}.json").read_text())
        assert facts["os"]["product"] == product and facts["os"]["family"] == "dnf"
        _check_dnf_host(host, facts, by_host[host.name], now)
    facts = json.loads((facts_dir / f"{sles.name}.json").read_text())
    assert facts["os"]["product"] == "Suse15.6" and facts["os"]["family"] == "zypper"
    _check_zypper_host(sles, facts, by_host[sles.name], now)
    debian = json.loads((facts_dir / f"{repo_fleet[0].name}.json").read_text())
    assert debian["os"]["family"] == "apt" and debian["updates"]


def _check_dnf_host(
    host: LabHost, facts: dict[str, Any], entry: dict[str, Any], now: datetime
) -> None:
    latest, notices, offered, info = dnf_truth(host)
    ours = {f"{u['name']}.{u['arch']}": u for u in facts["updates"]}
    assert {na: u["candidate_version"] for na, u in ours.items()} == latest
    # advisories: the updateinfo rows whose NEVRA a repository offers, per name.arch
    expected_ids: dict[str, set[str]] = {na: set() for na in latest}
    for n in notices:
        if n.nevra in offered:
            nevr, arch = n.nevra.rsplit(".", 1)
            expected_ids[re.sub(r"-[^-]+-[^-]+$", "", nevr) + "." + arch].add(n.advisory)
        else:
            assert any(n.advisory in w for w in facts["warnings"]), n
    for na, ids in expected_ids.items():
        u = ours[na]
        assert set(u["advisory_ids"]) == ids, na
        if not ids:
            assert u["classification"] is None and not u["security"] and u["build_time"]
            continue
        types = {info[i]["Type"] for i in ids}
        primary = "security" if "security" in types else sorted(types)[0]
        assert u["classification"].lower() == primary, na
        assert u["release_date"] is not None and u["cves"] is not None
        if primary == "security":
            sev = {info[i]["Severity"] for i in ids if info[i]["Type"] == "security"}
            assert u["severity"] in sev, na
    assert any(
        u["severity"] == ("Medium" if "amzn" in facts["os"]["distro"] else "Moderate")
        for u in ours.values()
    )
    multi = ours["fp-multi.x86_64"]
    assert len(multi["advisory_ids"]) == 2  # fixed by two advisories: both kept
    assert facts["reboot_required"] is kernel_pending(host) is True
    # AWS-RockyLinux / AmazonLinux2023 default baselines: Security Critical/Important and
    # Bugfix, 7 days after the advisory's (updated) date.
    week = now - timedelta(days=7)
    expected_missing = set()
    for na, ids in expected_ids.items():
        for i in ids:
            when = datetime.strptime(info[i]["Updated"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            severe = info[i]["Type"] == "security" and info[i].get("Severity", "").lower() in SEVERE
            if (severe or info[i]["Type"] == "bugfix") and when <= week:
                expected_missing.add(na.rsplit(".", 1)[0])
    missing = {p["id"] for p in entry["patches"] if p["state"] == "MISSING"}
    assert missing == expected_missing, host.name
    assert "fp-imp" not in missing  # Important but issued 3 days ago
    assert not {"kernel", "kernel-core"} & missing  # Important, 5 days ago
    assert entry["status"] == "NON_COMPLIANT"


def _check_zypper_host(
    host: LabHost, facts: dict[str, Any], entry: dict[str, Any], now: datetime
) -> None:
    truth = {p["name"]: p for p in zypper_truth(host)}
    patches = {u["name"]: u for u in facts["updates"] if u["kind"] == "patch"}
    assert set(patches) == set(truth)
    for name, t in truth.items():
        u = patches[name]
        assert (u["classification"] or "").lower() == t["category"]
        assert (u["severity"] or "").lower() == (
            t["severity"] if t["severity"] not in ("", "unspecified") else ""
        )
        assert sorted(u["cves"]) == t["cves"]
        assert datetime.fromisoformat(u["release_date"].replace("Z", "+00:00")) == t["issued"]
        assert u["packages"], name
    assert facts["reboot_required"] is kernel_pending(host) is True
    week = now - timedelta(days=7)
    expected_missing = {
        n
        for n, t in truth.items()
        if t["category"] == "security" and t["severity"] in SEVERE and t["issued"] <= week
    }
    missing = {p["id"] for p in entry["patches"] if p["state"] == "MISSING"}
    assert missing == expected_missing
