"""Compliance verdicts: SSM's patch states, per-patch items and the per-host rollup."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PatchState(StrEnum):
    INSTALLED = "INSTALLED"
    INSTALLED_OTHER = "INSTALLED_OTHER"
    INSTALLED_PENDING_REBOOT = "INSTALLED_PENDING_REBOOT"
    INSTALLED_REJECTED = "INSTALLED_REJECTED"
    MISSING = "MISSING"
    FAILED = "FAILED"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    AVAILABLE_SECURITY_UPDATE = "AVAILABLE_SECURITY_UPDATE"


NON_COMPLIANT_STATES = frozenset(
    {
        PatchState.INSTALLED_PENDING_REBOOT,
        PatchState.INSTALLED_REJECTED,
        PatchState.MISSING,
        PatchState.FAILED,
    }
)


class ComplianceLevel(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFORMATIONAL = "INFORMATIONAL"
    UNSPECIFIED = "UNSPECIFIED"


LEVEL_ORDER = [
    ComplianceLevel.CRITICAL,
    ComplianceLevel.HIGH,
    ComplianceLevel.MEDIUM,
    ComplianceLevel.LOW,
    ComplianceLevel.INFORMATIONAL,
    ComplianceLevel.UNSPECIFIED,
]


class ComplianceStatus(StrEnum):
    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"


class PatchItem(BaseModel):
    """One patch's verdict, with the rule or list entry that decided it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="package name (apt/dnf), patch id (zypper) or KB (Windows)")
    arch: str = ""
    title: str = ""
    installed_version: str | None = None
    candidate_version: str | None = None
    state: PatchState
    classification: str | None = None
    severity: str | None = Field(default=None, description="vendor severity / apt priority")
    compliance_level: ComplianceLevel = ComplianceLevel.UNSPECIFIED
    security: bool = False
    cves: tuple[str, ...] = ()
    advisory_ids: tuple[str, ...] = ()
    reason: str = Field(default="", description="why: the rule or list entry that decided")
    message: str = Field(default="", description="package manager message (FAILED)")


class StateCounts(BaseModel):
    """SSM's InstancePatchState counters."""

    installed: int = 0
    installed_other: int = 0
    installed_pending_reboot: int = 0
    installed_rejected: int = 0
    missing: int = 0
    failed: int = 0
    not_applicable: int = 0
    available_security_update: int = 0
    critical_non_compliant: int = 0
    security_non_compliant: int = 0
    other_non_compliant: int = 0


class HostCompliance(BaseModel):
    """The rollup of one host against one baseline."""

    model_config = ConfigDict(frozen=True)

    baseline: str
    status: ComplianceStatus
    overall_severity: ComplianceLevel | None = None
    counts: StateCounts
    items: tuple[PatchItem, ...] = ()
    non_compliant_by_level: dict[ComplianceLevel, int] = Field(
        default_factory=dict,
        description="non-compliant items per compliance level, every level present (SSM's "
        "SeveritySummary); derived from items when not given",
    )
    missing_security: int = Field(
        default=0, description="security items in state MISSING; derived from items when not given"
    )

    @model_validator(mode="after")
    def _derive_from_items(self) -> HostCompliance:
        """Fill the item-derived figures unless given, so they survive a copy of the rollup
        without its items (a run keeps only that much of each host in memory)."""
        if "non_compliant_by_level" not in self.model_fields_set:
            by_level, missing = summarize_items(self.items)
            object.__setattr__(self, "non_compliant_by_level", by_level)
            if "missing_security" not in self.model_fields_set:
                object.__setattr__(self, "missing_security", missing)
        return self


def summarize_items(items: Iterable[PatchItem]) -> tuple[dict[ComplianceLevel, int], int]:
    """(non-compliant items per level with every level present, MISSING security items)."""
    by_level = dict.fromkeys(LEVEL_ORDER, 0)
    missing = 0
    for item in items:
        if item.state in NON_COMPLIANT_STATES:
            by_level[item.compliance_level] += 1
            if item.state is PatchState.MISSING and item.security:
                missing += 1
    return by_level, missing
