"""SSM operating systems and what each accepts in filters (ssm-semantics.md §1).

This is data: one row per SSM ``OperatingSystem`` value. The evaluation and validation code
reads it; nothing here does work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

NameFamily = Literal["yum", "apt", "zypper", "windows", "macos"]


class OperatingSystem(StrEnum):
    WINDOWS = "WINDOWS"
    AMAZON_LINUX = "AMAZON_LINUX"
    AMAZON_LINUX_2 = "AMAZON_LINUX_2"
    AMAZON_LINUX_2022 = "AMAZON_LINUX_2022"
    AMAZON_LINUX_2023 = "AMAZON_LINUX_2023"
    UBUNTU = "UBUNTU"
    DEBIAN = "DEBIAN"
    RASPBIAN = "RASPBIAN"
    REDHAT_ENTERPRISE_LINUX = "REDHAT_ENTERPRISE_LINUX"
    CENTOS = "CENTOS"
    ORACLE_LINUX = "ORACLE_LINUX"
    ROCKY_LINUX = "ROCKY_LINUX"
    ALMA_LINUX = "ALMA_LINUX"
    SUSE = "SUSE"
    MACOS = "MACOS"


# Filter keys fleetpatch accepts (the rule-valid subset of SSM's PatchFilterKey enum).
FILTER_KEYS = (
    "PRODUCT",
    "PRODUCT_FAMILY",
    "CLASSIFICATION",
    "SEVERITY",
    "MSRC_SEVERITY",
    "PRIORITY",
    "SECTION",
    "PATCH_SET",
)

FREE_TEXT = None  # marker: any value of 1..64 characters (globs with ``*`` allowed)

_YUM_CLASSES = ("Security", "Bugfix", "Enhancement", "Recommended", "Newpackage")
_YUM_SEVERITIES = ("Critical", "Important", "Medium", "Low")
_AL2023_SEVERITIES = ("Critical", "Important", "Medium", "Moderate", "Low", "None")
# Oracle's own updateinfo says Moderate, and AWS-OracleLinuxDefaultPatchBaseline approves
# "Important, Moderate"; accepted there, as SSM does (docs/baselines.md, filter values).
_ORACLE_SEVERITIES = ("Critical", "Important", "Medium", "Moderate", "Low")
_APT_PRIORITIES = ("Required", "Important", "Standard", "Optional", "Extra")
_WIN_CLASSES = (
    "CriticalUpdates",
    "DefinitionUpdates",
    "Drivers",
    "FeaturePacks",
    "SecurityUpdates",
    "ServicePacks",
    "Tools",
    "UpdateRollups",
    "Updates",
    "Upgrades",
)
_MSRC = ("Critical", "Important", "Moderate", "Low", "Unspecified")


@dataclass(frozen=True)
class OsRow:
    """What one SSM operating system accepts."""

    names: NameFamily
    # key -> accepted values (tuple) or FREE_TEXT
    keys: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    dates: bool = True  # approve_after_days / approve_until_date supported
    linux: bool = True
    severity_synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _yum(
    severities: tuple[str, ...] = _YUM_SEVERITIES,
    synonyms: dict[str, tuple[str, ...]] | None = None,
) -> OsRow:
    return OsRow(
        names="yum",
        keys={"PRODUCT": FREE_TEXT, "CLASSIFICATION": _YUM_CLASSES, "SEVERITY": severities},
        severity_synonyms=synonyms or {},
    )


# Red Hat and its rebuilds publish "Moderate" where SSM's value list says "Medium": accept
# both spellings and let each match the other (docs/baselines.md, "differences").
_RED_HAT = _yum(
    ("Critical", "Important", "Medium", "Moderate", "Low"),
    {"medium": ("medium", "moderate"), "moderate": ("moderate", "medium")},
)

_APT = OsRow(
    names="apt",
    keys={"PRODUCT": FREE_TEXT, "PRIORITY": _APT_PRIORITIES, "SECTION": FREE_TEXT},
    dates=False,
)
_AL2023 = _yum(_AL2023_SEVERITIES, {"medium": ("medium", "moderate")})

OS_TABLE: dict[OperatingSystem, OsRow] = {
    OperatingSystem.WINDOWS: OsRow(
        names="windows",
        keys={
            "PRODUCT": FREE_TEXT,
            "PRODUCT_FAMILY": FREE_TEXT,
            "CLASSIFICATION": _WIN_CLASSES,
            "MSRC_SEVERITY": _MSRC,
            "PATCH_SET": ("OS", "APPLICATION"),
        },
        linux=False,
    ),
    OperatingSystem.AMAZON_LINUX: _yum(),
    OperatingSystem.AMAZON_LINUX_2: _yum(),
    OperatingSystem.AMAZON_LINUX_2022: _AL2023,
    OperatingSystem.AMAZON_LINUX_2023: _AL2023,
    OperatingSystem.REDHAT_ENTERPRISE_LINUX: _RED_HAT,
    OperatingSystem.CENTOS: _RED_HAT,
    OperatingSystem.ORACLE_LINUX: _yum(_ORACLE_SEVERITIES),
    OperatingSystem.ROCKY_LINUX: _RED_HAT,
    OperatingSystem.ALMA_LINUX: _RED_HAT,
    OperatingSystem.SUSE: OsRow(
        names="zypper",
        keys={
            "PRODUCT": FREE_TEXT,
            "CLASSIFICATION": (
                "Security",
                "Recommended",
                "Optional",
                "Feature",
                "Document",
                "Yast",
            ),
            "SEVERITY": ("Critical", "Important", "Moderate", "Low"),
        },
    ),
    OperatingSystem.UBUNTU: _APT,
    OperatingSystem.DEBIAN: _APT,
    OperatingSystem.RASPBIAN: _APT,
    OperatingSystem.MACOS: OsRow(
        names="macos", keys={"PRODUCT": FREE_TEXT, "CLASSIFICATION": FREE_TEXT}, linux=False
    ),
}

OS_NAMES = tuple(o.value for o in OperatingSystem)


def os_row(os: OperatingSystem) -> OsRow:
    return OS_TABLE[os]


def parse_os(value: str) -> OperatingSystem:
    """The enum member for ``value``; raises ValueError listing the accepted names."""
    try:
        return OperatingSystem(value)
    except ValueError:
        raise ValueError(
            f"unknown operating system {value!r}; accepted: {', '.join(OS_NAMES)}"
        ) from None
