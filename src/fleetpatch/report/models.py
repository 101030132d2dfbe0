"""The JSON report, version 1, as pydantic models: its JSON Schema is generated from them,
so document and schema cannot drift. Field names under ``counts`` and ``non_compliant_by_severity``
are SSM's. Described field by field in docs/report-schema.md."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.compliance import ComplianceLevel, PatchState
from fleetpatch.report.status import HostStatus
from fleetpatch.results import FAILURE_KINDS, HostOutcome, InstallSummary, RunStatus

REPORT_SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReportRun(_Model):
    run_id: str
    operation: str = Field(description="scan or install")
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    inventory: list[str] = Field(description="inventory files the targets came from")
    targets: list[str] = Field(description="target selectors as given")
    cancelled: bool = Field(description="the run was cancelled (Ctrl-C)")
    status: RunStatus = Field(
        default="finished",
        description="finished; cancelled (Ctrl-C); running (still under way) or interrupted "
        "(its controller died before finishing it): a stored run read back by fleetpatch report",
    )
    targeted_hosts: int | None = Field(
        default=None,
        description="hosts the run set out to do, when known; a run that did not finish may "
        "list fewer hosts",
    )


class SeveritySummary(_Model):
    """Non-compliant patches per compliance level (SSM's SeveritySummary)."""

    CriticalCount: int = 0
    HighCount: int = 0
    MediumCount: int = 0
    LowCount: int = 0
    InformationalCount: int = 0
    UnspecifiedCount: int = 0


class ReportSummary(_Model):
    hosts: int = Field(description="hosts in the run")
    compliant: int
    non_compliant: int
    failed: int = Field(description="hosts that could not be scanned or patched")
    unsupported: int
    skipped: int
    cancelled: int
    not_evaluated: int
    failures_by_kind: dict[str, int] = Field(
        description="failed and unsupported hosts per failure kind (unreachable, auth, ...)"
    )
    missing_security_patches: int = Field(description="security patches in state MISSING")
    security_non_compliant: int = Field(description="sum of SecurityNonCompliantCount")
    non_compliant_by_severity: SeveritySummary = Field(
        description="non-compliant patches across the fleet per compliance level"
    )
    exit_code: int = Field(description="the exit code fleetpatch returns for this run")


class ReportFailure(_Model):
    kind: str = Field(
        description="what failed: one of fleetpatch.results.FAILURE_KINDS "
        "(docs/report-schema.md lists them with their meaning)",
        json_schema_extra={"enum": list(FAILURE_KINDS)},
    )
    message: str
    step: str = Field(description="the step that failed, when known")


class ReportPlatform(_Model):
    family: str = Field(description="apt, dnf, yum, zypper or windows")
    distro: str
    version_id: str
    product: str = Field(description="SSM PRODUCT value, e.g. Debian12")
    operating_system: str = Field(description="SSM OperatingSystem, e.g. DEBIAN")
    kernel: str
    arch: str


class StateCounts(_Model):
    """SSM's InstancePatchState counters."""

    InstalledCount: int
    InstalledOtherCount: int
    InstalledPendingRebootCount: int
    InstalledRejectedCount: int
    MissingCount: int
    FailedCount: int
    NotApplicableCount: int
    AvailableSecurityUpdateCount: int
    CriticalNonCompliantCount: int
    SecurityNonCompliantCount: int
    OtherNonCompliantCount: int


class ReportPatch(_Model):
    id: str = Field(description="package name (apt/dnf), patch id (zypper) or KB (Windows)")
    arch: str
    title: str
    state: PatchState
    installed_version: str | None
    candidate_version: str | None
    classification: str | None
    severity: str | None = Field(description="vendor severity / apt priority")
    compliance_level: ComplianceLevel
    security: bool
    cves: list[str]
    advisory_ids: list[str]
    reason: str = Field(description="the rule or list entry that decided the state")
    message: str = Field(description="package manager message (FAILED)")


class ReportHost(_Model):
    host: str
    address: str
    patch_group: str | None
    outcome: HostOutcome
    status: HostStatus
    failure: ReportFailure | None
    platform: ReportPlatform | None = Field(description="null when no facts were collected")
    baseline: str | None
    overall_severity: ComplianceLevel | None
    counts: StateCounts | None = Field(description="null when no baseline was evaluated")
    non_compliant_by_severity: SeveritySummary
    reboot_required: bool | None = Field(description="null when unknown")
    metadata_age_seconds: int | None = Field(description="age of package metadata; null = unknown")
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    patches: list[ReportPatch] = Field(
        description="patch items; INSTALLED_OTHER ones only when asked for"
    )
    install: InstallSummary | None = Field(
        default=None, description="what an install (or its dry run) did or would do; null on scans"
    )


class ReportDocument(_Model):
    """A fleetpatch run report."""

    schema_version: Literal[1] = Field(description="bumped on any incompatible change")
    run: ReportRun
    summary: ReportSummary
    hosts: list[ReportHost]
