"""Host facts: what a scan collects from a host, before any baseline is applied.

This is the document ``fleetpatch scan --save-facts`` writes and ``baseline evaluate`` reads;
its JSON Schema is printed by ``fleetpatch schema facts``. Everything here is data the host's
own package manager reported; nothing is a verdict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Family = Literal["apt", "dnf", "yum", "zypper", "windows"]
FACTS_FORMAT_VERSION = 1


class OsInfo(BaseModel):
    """Platform identity, from ``/etc/os-release`` and ``uname``."""

    model_config = ConfigDict(frozen=True)

    family: Family
    distro: str = Field(description="os-release ID, e.g. debian, ubuntu, rocky, amzn, sles")
    version_id: str = Field(description="os-release VERSION_ID, e.g. 12, 22.04, 9.4")
    pretty_name: str = ""
    codename: str = ""
    product: str = Field(description="SSM PRODUCT value, e.g. Debian12, Ubuntu22.04")
    operating_system: str = Field(description="SSM OperatingSystem enum, e.g. DEBIAN, UBUNTU")
    kernel: str = ""
    arch: str = ""


class Advisory(BaseModel):
    """One vendor advisory (an updateinfo notice) as it concerns one package: the version of
    that package it ships, and its own type, severity, dates and references. A baseline judges
    each advisory on its own (SSM: dnf/yum ``update-minimal``)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="advisory id, e.g. RHSA-2024:2447, ALAS2023-2024-123")
    version: str = Field(description="the package version this advisory ships ([E:]V-R)")
    classification: str | None = Field(
        default=None, description="SSM CLASSIFICATION of the advisory's type, e.g. Security"
    )
    severity: str | None = None
    issued: datetime | None = None
    updated: datetime | None = Field(
        default=None, description="dnf shows one date, max(issued, updated): it is given here"
    )
    cves: tuple[str, ...] = ()
    bugzilla_ids: tuple[str, ...] = ()
    title: str = ""


class InstalledPackage(BaseModel):
    """One installed package (one row per name+arch+version; kernels may repeat)."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str
    version: str = Field(description="full version as the package manager prints it (with epoch)")
    source_name: str = ""
    source_version: str = ""
    status: str = Field(default="", description="dpkg db:Status-Abbrev or rpm-equivalent")
    priority: str = ""
    section: str = ""
    security_origin: bool = Field(
        default=False,
        description="this exact version is published by a security source (apt: security pocket)",
    )
    install_time: datetime | None = None
    advisories: tuple[Advisory, ...] = Field(
        default=(),
        description="advisories this installed version already satisfies (dnf/yum: "
        "updateinfo list --installed): approved by the baseline, the package is INSTALLED",
    )


class AvailableUpdate(BaseModel):
    """One pending update: an installed package and the candidate version the host would get.

    For zypper and Windows, ``name`` is the patch / update id and ``packages`` lists what it
    touches.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str = ""
    installed_version: str | None = None
    candidate_version: str
    kind: Literal["package", "patch", "update"] = "package"
    origins: tuple[str, ...] = Field(
        default=(), description="where the candidate comes from (apt Label:Version/Archive)"
    )
    security: bool = Field(description="the candidate comes from a security source / advisory")
    classification: str | None = None
    severity: str | None = None
    priority: str | None = None
    section: str | None = None
    advisory_ids: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    bugzilla_ids: tuple[str, ...] = ()
    release_date: datetime | None = None
    build_time: datetime | None = None
    reboot_suggested: bool = False
    packages: tuple[str, ...] = ()
    title: str = ""
    update_id: str = Field(
        default="", description="Windows: the update's UpdateID (a GUID), what an install asks for"
    )
    advisories: tuple[Advisory, ...] = Field(
        default=(),
        description="every advisory for a version above the installed one up to the candidate, "
        "oldest version first (dnf/yum); the baseline judges each on its own and approves the "
        "newest version one of them passes. The fields above summarise them: classification, "
        "severity, release_date and title of the most important one, every id and CVE",
    )


class HostFacts(BaseModel):
    """Everything one scan learned about one host."""

    model_config = ConfigDict(frozen=True)

    format_version: int = FACTS_FORMAT_VERSION
    host: str
    collected_at: datetime
    os: OsInfo
    installed: tuple[InstalledPackage, ...] = ()
    updates: tuple[AvailableUpdate, ...] = ()
    reboot_required: bool = False
    reboot_required_packages: tuple[str, ...] = ()
    boot_id: str = ""
    metadata_age_seconds: int | None = Field(
        default=None, description="age of the package lists / repo metadata; None = unknown"
    )
    metadata_missing: tuple[str, ...] = Field(
        default=(),
        description="configured package sources whose metadata is missing, unreadable or "
        "failed to load, each named with why; not empty = the updates they would bring are "
        "unknown (docs/reliability.md)",
    )
    warnings: tuple[str, ...] = ()
