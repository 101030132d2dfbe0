"""Builders for facts and baselines used by the baseline tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fleetpatch.baseline import Baseline, get_predefined
from fleetpatch.baseline.loader import parse_baseline
from fleetpatch.facts import AvailableUpdate, HostFacts, InstalledPackage, OsInfo

NOW = datetime(2024, 5, 1, tzinfo=UTC)

OSES: dict[str, dict[str, str]] = {
    "DEBIAN": dict(family="apt", distro="debian", version_id="12", product="Debian12"),
    "UBUNTU": dict(family="apt", distro="ubuntu", version_id="22.04", product="Ubuntu22.04"),
    "REDHAT_ENTERPRISE_LINUX": dict(
        family="dnf", distro="rhel", version_id="9.4", product="RedhatEnterpriseLinux9.4"
    ),
    "CENTOS": dict(family="dnf", distro="centos", version_id="9", product="CentOSStream9"),
    "AMAZON_LINUX_2023": dict(
        family="dnf", distro="amzn", version_id="2023", product="AmazonLinux2023"
    ),
    "AMAZON_LINUX_2": dict(family="yum", distro="amzn", version_id="2", product="AmazonLinux2"),
    "ORACLE_LINUX": dict(family="dnf", distro="ol", version_id="9.3", product="OracleLinux9.3"),
    "SUSE": dict(family="zypper", distro="sles", version_id="15.5", product="Suse15.5"),
    "WINDOWS": dict(
        family="windows", distro="windows", version_id="10.0.20348", product="WindowsServer2022"
    ),
}


def os_info(os: str) -> OsInfo:
    return OsInfo(operating_system=os, **OSES[os])  # type: ignore[arg-type]


def facts(
    os: str,
    installed: list[dict[str, Any]] | None = None,
    updates: list[dict[str, Any]] | None = None,
) -> HostFacts:
    return HostFacts(
        host="host1",
        collected_at=NOW,
        os=os_info(os),
        installed=tuple(InstalledPackage(**p) for p in installed or ()),
        updates=tuple(AvailableUpdate(**{"security": False, **u}) for u in updates or ()),
    )


def baseline(spec: str | dict[str, Any], os: str) -> Baseline:
    if isinstance(spec, str):
        return get_predefined(spec)
    data = {"name": "case-baseline", "operating_system": os, **spec}
    return parse_baseline(data, path="case.yaml")
