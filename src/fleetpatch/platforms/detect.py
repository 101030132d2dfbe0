"""Which OS a host runs, from ``/etc/os-release`` (+ ``/etc/system-release`` and ``uname``).

Pure: takes the texts, returns :class:`~fleetpatch.facts.OsInfo`. Every supported distro is one
row of :data:`DISTROS`; the first row whose ``os_id``, NAME pattern and major-version range
match wins. The row says the package-manager family, the SSM ``OperatingSystem`` value and how
the SSM ``PRODUCT`` value is spelled (``Debian12``, ``Ubuntu22.04``, ``RockyLinux9.4``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fleetpatch.errors import ParseError, UnsupportedPlatform
from fleetpatch.facts import Family, OsInfo
from fleetpatch.platforms.framing import Frames

VersionSource = Literal["version_id", "major", "system_release"]


@dataclass(frozen=True)
class DistroRow:
    """One supported distro (or distro generation).

    ``product`` is a format string with ``{version}``: the os-release VERSION_ID
    (``version_source="version_id"``), its major part (``"major"``), or major.minor taken from
    ``/etc/system-release`` (``"system_release"``, CentOS whose VERSION_ID is only ``7``).
    """

    os_id: str
    majors: tuple[int, int]  # inclusive range of the VERSION_ID major number
    family: Family
    operating_system: str
    product: str
    version_source: VersionSource = "version_id"
    name_pattern: str = ""  # regex that NAME must match (search), "" = any


DISTROS: tuple[DistroRow, ...] = (
    DistroRow("debian", (10, 13), "apt", "DEBIAN", "Debian{version}", "major"),
    DistroRow("ubuntu", (16, 26), "apt", "UBUNTU", "Ubuntu{version}"),
    DistroRow("rhel", (7, 7), "yum", "REDHAT_ENTERPRISE_LINUX", "RedhatEnterpriseLinux{version}"),
    DistroRow("rhel", (8, 10), "dnf", "REDHAT_ENTERPRISE_LINUX", "RedhatEnterpriseLinux{version}"),
    DistroRow("rocky", (8, 10), "dnf", "ROCKY_LINUX", "RockyLinux{version}"),
    DistroRow("almalinux", (8, 10), "dnf", "ALMA_LINUX", "AlmaLinux{version}"),
    DistroRow("ol", (7, 7), "yum", "ORACLE_LINUX", "OracleLinux{version}"),
    DistroRow("ol", (8, 10), "dnf", "ORACLE_LINUX", "OracleLinux{version}"),
    DistroRow("centos", (8, 10), "dnf", "CENTOS", "CentOSStream{version}", "major", "Stream"),
    DistroRow("centos", (7, 7), "yum", "CENTOS", "CentOS{version}", "system_release"),
    DistroRow("centos", (8, 8), "dnf", "CENTOS", "CentOS{version}", "system_release"),
    DistroRow("amzn", (2, 2), "yum", "AMAZON_LINUX_2", "AmazonLinux2"),
    DistroRow("amzn", (2022, 2022), "dnf", "AMAZON_LINUX_2022", "AmazonLinux2022"),
    DistroRow("amzn", (2023, 2023), "dnf", "AMAZON_LINUX_2023", "AmazonLinux2023"),
    DistroRow("sles", (12, 15), "zypper", "SUSE", "Suse{version}"),
    DistroRow("sles_sap", (12, 15), "zypper", "SUSE", "Suse{version}"),
    # Not an SSM product: openSUSE Leap gets its own PRODUCT spelling.
    DistroRow("opensuse-leap", (15, 15), "zypper", "SUSE", "OpenSUSELeap{version}"),
)

_LINE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
_SYSTEM_RELEASE_VERSION = re.compile(r"\brelease (?P<version>\d+(?:\.\d+)*)")
_MAJOR = re.compile(r"^(?P<major>\d+)")
_RPM_FAMILIES = frozenset({"dnf", "yum"})


def parse_os_release_fields(text: str) -> dict[str, str]:
    """KEY=value lines of an os-release file, quotes and backslash escapes removed.

    Raises:
        ParseError: a non-blank, non-comment line is not ``KEY=value``.
    """
    fields: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ParseError(f"os-release line {lineno}: expected KEY=value, got {raw!r}")
        fields[match["key"]] = _unquote(match["value"])
    return fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\([\\$\"`])", r"\1", value[1:-1])
    return value


def parse_os_release(text: str, *, system_release: str = "", uname: str = "") -> OsInfo:
    """OsInfo from os-release text; ``uname`` is ``uname -r`` and ``uname -m``, one per line.

    Raises:
        UnsupportedPlatform: no row of :data:`DISTROS` matches; the message shows ID,
            VERSION_ID and PRETTY_NAME as found.
        ParseError: the os-release text is malformed.
    """
    fields = parse_os_release_fields(text)
    os_id = fields.get("ID", "").lower()
    version_id = fields.get("VERSION_ID", "")
    name = fields.get("NAME", "")
    pretty = fields.get("PRETTY_NAME", "")
    major_match = _MAJOR.match(version_id)
    row = None
    if major_match is not None:
        major = int(major_match["major"])
        row = next((r for r in DISTROS if _row_matches(r, os_id, major, name)), None)
    if row is None:
        raise UnsupportedPlatform(
            f"unsupported OS: ID={os_id or '(none)'!s} VERSION_ID={version_id or '(none)'!s} "
            f"PRETTY_NAME={pretty or '(none)'!r}"
        )
    kernel, arch = _uname_fields(uname)
    return OsInfo(
        family=row.family,
        distro=os_id,
        version_id=version_id,
        pretty_name=pretty,
        codename=fields.get("VERSION_CODENAME", "") or _ubuntu_codename(fields),
        product=row.product.format(version=_product_version(row, version_id, system_release)),
        operating_system=row.operating_system,
        kernel=kernel,
        arch=arch,
    )


def _row_matches(row: DistroRow, os_id: str, major: int, name: str) -> bool:
    if row.os_id != os_id or not row.majors[0] <= major <= row.majors[1]:
        return False
    if row.name_pattern:
        return re.search(row.name_pattern, name) is not None
    # A row without a NAME pattern must not swallow a distro another row names explicitly.
    return not any(
        r.os_id == os_id and r.name_pattern and re.search(r.name_pattern, name) for r in DISTROS
    )


def _product_version(row: DistroRow, version_id: str, system_release: str) -> str:
    if row.version_source == "major":
        return version_id.split(".")[0]
    if row.version_source == "system_release":
        match = _SYSTEM_RELEASE_VERSION.search(system_release)
        if match is None:
            raise ParseError(
                f"expected 'release X.Y' in /etc/system-release for {row.os_id} "
                f"{version_id}, got {system_release.strip()!r}"
            )
        return ".".join(match["version"].split(".")[:2])
    return version_id


def _ubuntu_codename(fields: dict[str, str]) -> str:
    return fields.get("UBUNTU_CODENAME", "")


def _uname_fields(uname: str) -> tuple[str, str]:
    lines = [line.strip() for line in uname.splitlines() if line.strip()]
    return (lines[0] if lines else "", lines[1] if len(lines) > 1 else "")


def detect_from_frames(frames: Frames) -> OsInfo:
    """OsInfo from the scan script's ``os-release``, ``system-release``, ``uname`` and
    ``family`` sections.

    The family comes from the table; between dnf and yum the one the host has (the script's
    ``family`` section) wins, since that is what the scan ran.

    Raises:
        ParseError: the os-release section is missing or failed.
        UnsupportedPlatform: the OS is not in :data:`DISTROS`.
    """
    os_release = frames.require("os-release")
    system_release = frames.get("system-release")
    uname = frames.get("uname")
    info = parse_os_release(
        os_release.body,
        system_release=system_release.body if system_release else "",
        uname=uname.body if uname else "",
    )
    family_section = frames.get("family")
    host_family = family_section.body.strip() if family_section else ""
    if info.family in _RPM_FAMILIES and host_family in _RPM_FAMILIES:
        return info.model_copy(update={"family": host_family})
    return info
