"""Installs on the rpm lab through the real command: `fleetpatch install --dry-run`, then the
real install, over Rocky-, Amazon Linux 2023- and SLES-like hosts together with a Debian one,
each with the predefined baseline of its OS (after-7-days rules).

Ground truth comes from inside each container, independently of fleetpatch: `rpm -qa` before
and after (the dry run changes nothing; the install changes exactly the planned packages, at
the planned versions), `dnf updateinfo list --updates` / `zypper list-patches` (what is left:
the advisories issued less than 7 days ago), dpkg on the Debian host.

The lab's kernels are versioned 900.x, above any real `uname -r`: every rpm lab host reports a
pending reboot before and after any install. So `--reboot never` ends with reboot "pending"
on the rpm hosts (and only there), and `--reboot if-needed` reboots every rpm lab host.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_run import fleetpatch
from tests.lab import fleet
from tests.lab.fleet import LabHost

pytestmark = pytest.mark.lab

SEVERE = {"critical", "important"}


def sh(host: LabHost, command: str, ok: tuple[int, ...] = (0, 100)) -> str:
    rc, out = fleet.exec_in(host, ["sh", "-c", f"LC_ALL=C TZ=UTC {command} 2>/dev/null"])
    assert rc in ok, f"{host.name}: {command} -> rc {rc}: {out}"
    return out


def rpm_state(host: LabHost) -> dict[str, set[str]]:
    """name.arch -> installed [E:]V-R set, from rpm itself."""
    state: dict[str, set[str]] = {}
    out = sh(host, "rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'")
    for line in out.splitlines():
        if line.strip() and not line.startswith("gpg-pubkey"):
            na, evr = line.split()
            state.setdefault(na, set()).add(evr.removeprefix("0:"))
    return state


def dpkg_state(host: LabHost) -> dict[str, str]:
    out = sh(host, "dpkg-query -W -f='${Package}:${Architecture} ${Version}\\n'")
    return dict(line.split() for line in out.splitlines() if line.strip())


def changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, str]:
    """name.arch -> the version that appeared (an upgrade, a new install-only kernel, a new
    dependency); removals are returned as '-' entries."""
    out: dict[str, str] = {}
    for na in before.keys() | after.keys():
        new = after.get(na, set()) - before.get(na, set())
        if len(new) > 1:
            pytest.fail(f"{na}: several versions appeared: {new}")
        if new:
            out[na] = new.pop()
        elif na not in after:
            out[na] = "-"
    return out


def dnf_expected(host: LabHost, now: datetime) -> dict[str, str]:
    """What the predefined Rocky/AL2023 baseline approves (Security Critical/Important and
    Bugfix, 7 days after the advisory's Updated date), at the candidate dnf offers:
    name.arch -> version."""
    latest = {}
    for line in sh(
        host,
        "dnf -q -C repoquery --upgrades --latest-limit=1 "
        "--qf '%{name}.%{arch} %{epoch}:%{version}-%{release}'",
    ).splitlines():
        if line.strip():
            na, evr = line.split()
            latest[na] = evr.removeprefix("0:")
    info: dict[str, dict[str, str]] = {}
    current = ""
    for line in sh(host, "dnf -q -C updateinfo info --updates").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "Update ID":
            current = value
            info[current] = {}
        elif key in ("Severity", "Updated", "Type") and current:
            info[current][key] = value
    week = now - timedelta(days=7)
    expected = {}
    for line in sh(host, "dnf -q -C updateinfo list --updates").splitlines():
        if not line.strip():
            continue
        advisory, _, nevra = line.split()[:3]
        nevr, arch = nevra.rsplit(".", 1)
        na = re.sub(r"-[^-]+-[^-]+$", "", nevr) + "." + arch
        offered = latest.get(na)
        if offered is None or not nevra_version(nevra) or not version_le(nevra, offered):
            continue  # an advisory for a version no repository offers
        i = info[advisory]
        when = datetime.strptime(i["Updated"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        severe = i["Type"] == "security" and i.get("Severity", "").lower() in SEVERE
        if (severe or i["Type"] == "bugfix") and when <= week:
            expected[na] = offered
    return expected


def nevra_version(nevra: str) -> str:
    nevr = nevra.rsplit(".", 1)[0]
    version = "-".join(nevr.split("-")[-2:])
    return version.removeprefix("0:")


def version_le(nevra: str, offered: str) -> bool:
    """The advisory's version is the offered one or an older one (the lab's versions compare
    as plain numbers: 1.1 < 1.2 < 1.9)."""
    v = nevra_version(nevra).split(":")[-1].split("-")[0]
    o = offered.split(":")[-1].split("-")[0]
    return tuple(map(int, v.split("."))) <= tuple(map(int, o.split(".")))


def zypper_patches(host: LabHost) -> dict[str, dict[str, Any]]:
    xml = sh(host, "zypper -n -q --no-refresh --xmlout list-patches --all --with-optional")
    patches = {}
    for node in ET.fromstring(xml).iter("update"):
        if node.get("kind") != "patch":
            continue
        date = node.find("issue-date")
        patches[node.get("name", "")] = {
            "status": node.get("status"),
            "category": node.get("category"),
            "severity": node.get("severity"),
            "issued": datetime.fromtimestamp(int(date.get("time_t", "0")), UTC)
            if date is not None
            else None,
        }
    return patches


def install(files: Any, tmp: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = fleetpatch(
        ["install", "-i", files.inventory, "--all-hosts", "--format", "json", *args],
        store=tmp / "store.db",
        timeout=600,
    )
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else {}, proc.stderr


@pytest.fixture
def mixed(lab_fleet: Any, lab_files: Any, tmp_path: Path) -> tuple[dict[str, LabHost], Any]:
    hosts = {
        "rocky": lab_fleet(fleet.IMAGE_ROCKY9, 1)[0],
        "al2023": lab_fleet(fleet.IMAGE_AL2023, 1)[0],
        "sles": lab_fleet(fleet.IMAGE_SLES15, 1)[0],
        "debian": lab_fleet(fleet.IMAGE_DEBIAN12_REPO, 1)[0],
    }
    return hosts, lab_files(list(hosts.values()), tmp_path / "inv")


def test_dry_run_then_install_on_a_mixed_fleet(mixed: Any, tmp_path: Path) -> None:
    hosts, files = mixed
    rocky, al2023, sles, debian = hosts["rocky"], hosts["al2023"], hosts["sles"], hosts["debian"]
    rpm_hosts = (rocky, al2023, sles)
    now = datetime.now(UTC)
    before = {h.name: rpm_state(h) for h in rpm_hosts}
    deb_before = dpkg_state(debian)
    expected = {h.name: dnf_expected(h, now) for h in (rocky, al2023)}
    patches_before = zypper_patches(sles)
    week = now - timedelta(days=7)
    expected_patches = {
        n
        for n, p in patches_before.items()
        if p["status"] == "needed"
        and p["category"] == "security"
        and p["severity"] in SEVERE
        and p["issued"] <= week
    }
    assert expected_patches and all(expected.values())

    # 1. the dry run: the package managers' own simulation; nothing changes
    rc, plan, err = install(files, tmp_path, "--dry-run")
    assert rc in (0, 1), err
    by_host = {h["host"]: h for h in plan["hosts"]}
    assert all(h["outcome"] == "ok" for h in plan["hosts"]), plan["hosts"]
    for host in rpm_hosts:
        assert rpm_state(host) == before[host.name], f"{host.name}: the dry run changed rpm"
        assert by_host[host.name]["install"]["dry_run"] is True
        assert by_host[host.name]["install"]["reboot"] == "expected"  # the 900.x kernels
    assert dpkg_state(debian) == deb_before
    for host in (rocky, al2023):
        planned = by_host[host.name]["install"]["planned"]
        requested = {
            f"{p['name']}.{p['arch']}": p["version"] for p in planned if not p["dependency"]
        }
        assert requested == expected[host.name], host.name
        assert not [p for p in planned if p["dependency"]]  # the lab has no dependencies
    sles_plan = by_host[sles.name]["install"]["planned"]
    assert {p["name"] for p in sles_plan if not p["dependency"]} == expected_patches
    # fp-imp (Important, 3 days) and the kernel (Important, 5 days) are never planned
    for host in rpm_hosts:
        names = {p["name"] for p in by_host[host.name]["install"]["planned"]}
        assert "fp-imp" not in names
        assert not names & {"kernel", "kernel-core", "kernel-default"}
    debian_plan = by_host[debian.name]["install"]["planned"]

    # 2. the install
    rc, doc, err = install(files, tmp_path, "--reboot", "never")
    assert rc in (0, 1), err
    by_host = {h["host"]: h for h in doc["hosts"]}
    assert all(h["outcome"] == "ok" for h in doc["hosts"]), doc["hosts"]
    for host in rpm_hosts:
        result = by_host[host.name]["install"]
        assert result["failed"] == {}
        assert result["reboot"] == "pending"  # never rebooted; the 900.x kernel says pending
        assert by_host[host.name]["reboot_required"] is True
        # exactly the planned packages changed, at the planned versions (rpm's own view)
        planned = {
            f"{p['name']}.{p['arch']}": p["version"]
            for p in result["planned"]
            if not p["name"].startswith("SUSE-")  # patches are not rpm packages
        }
        assert changes(before[host.name], rpm_state(host)) == planned, host.name
        # the same plan as the dry run
        dry = {(p["name"], p["version"]) for p in plan_of(plan, host)}
        assert {(p["name"], p["version"]) for p in result["planned"]} == dry
    for host in (rocky, al2023):
        installed = by_host[host.name]["install"]["installed"]
        assert sorted(installed) == sorted(na.rsplit(".", 1)[0] for na in expected[host.name])
        for na, version in expected[host.name].items():
            name, arch = na.rsplit(".", 1)
            out = sh(host, f"rpm -q --qf '%{{EPOCHNUM}}:%{{VERSION}}-%{{RELEASE}}' {name}.{arch}")
            assert out.removeprefix("0:") == version
        # what is left: the advisories issued less than 7 days ago (fp-imp, the kernel), ...
        left = sh(host, "dnf -q -C updateinfo list --updates")
        assert re.search(r"\sfp-imp-1\.1-1\.", left)
        assert re.search(r"\skernel(-core)?-900\.2\.0-1\.", left)
        # ... and none of the installed packages' advisories
        for na in expected[host.name]:
            assert not re.search(rf"\s{re.escape(na.rsplit('.', 1)[0])}-\d", left), na
    after = zypper_patches(sles)
    assert sorted(by_host[sles.name]["install"]["installed"]) == sorted(expected_patches)
    for name in expected_patches:
        assert after[name]["status"] == "applied", name
    recent = {n for n, p in patches_before.items() if p["issued"] > week}
    assert recent  # fp-imp (3 days) and the kernel (5 days)
    for name in recent:
        assert after[name]["status"] == patches_before[name]["status"], name
    # the Debian host in the same run: exactly its planned packages changed
    deb_after = dpkg_state(debian)
    changed = {k.split(":")[0]: v for k, v in deb_after.items() if deb_before.get(k) != v}
    assert changed == {p["name"]: p["version"] for p in debian_plan}
    assert by_host[debian.name]["install"]["reboot"] == "not-needed"


def plan_of(doc: dict[str, Any], host: LabHost) -> list[dict[str, Any]]:
    planned: list[dict[str, Any]] = next(h for h in doc["hosts"] if h["host"] == host.name)[
        "install"
    ]["planned"]
    return planned


def test_reboot_never_leaves_the_installed_patches_pending_reboot(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    hosts = [lab_fleet(fleet.IMAGE_ROCKY9, 1)[0], lab_fleet(fleet.IMAGE_SLES15, 1)[0]]
    files = lab_files(hosts, tmp_path / "inv")
    rc, doc, err = install(files, tmp_path, "--reboot", "never")
    assert rc == 1, err  # patched, but non-compliant until the reboot (SSM)
    for entry in doc["hosts"]:
        states = {p["id"]: p["state"] for p in entry["patches"]}
        for installed in entry["install"]["installed"]:
            assert states.get(installed) == "INSTALLED_PENDING_REBOOT", (entry["host"], installed)


def test_reboot_if_needed_reboots_every_rpm_lab_host(
    lab_fleet: Any, lab_files: Any, tmp_path: Path
) -> None:
    host = lab_fleet(fleet.IMAGE_AL2023, 1, restart_policy="unless-stopped")[0]
    files = lab_files([host], tmp_path / "inv")
    boot = fleet.pid1_start_time(host)
    before = rpm_state(host)
    rc, doc, err = install(files, tmp_path, "--reboot", "if-needed")
    assert rc in (0, 1), err
    entry = doc["hosts"][0]
    assert entry["outcome"] == "ok", entry
    assert entry["install"]["reboot"] == "rebooted"
    assert fleet.pid1_start_time(host) != boot
    planned = {f"{p['name']}.{p['arch']}": p["version"] for p in entry["install"]["planned"]}
    assert changes(before, rpm_state(host)) == planned
    # after the reboot the 900.x kernel still sorts above `uname -r`: still "pending"
    assert entry["reboot_required"] is True
