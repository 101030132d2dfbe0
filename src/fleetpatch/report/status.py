"""Per-host verdicts shared by every report format and the exit code."""

from __future__ import annotations

from enum import StrEnum

from fleetpatch.compliance import LEVEL_ORDER, ComplianceLevel
from fleetpatch.results import HostOutcome, HostResult


class HostStatus(StrEnum):
    """What a report says about one host."""

    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    FAILED = "FAILED"
    """could not be scanned or patched (unreachable, auth, host key, timeout, parse error…)"""
    UNSUPPORTED = "UNSUPPORTED"
    SKIPPED = "SKIPPED"
    """never attempted (e.g. the rollout stopped at its error budget)"""
    CANCELLED = "CANCELLED"
    NOT_EVALUATED = "NOT_EVALUATED"
    """reached and scanned, but the operation evaluated no baseline"""


_OUTCOME_STATUS = {
    HostOutcome.FAILED: HostStatus.FAILED,
    HostOutcome.UNSUPPORTED: HostStatus.UNSUPPORTED,
    HostOutcome.SKIPPED: HostStatus.SKIPPED,
    HostOutcome.CANCELLED: HostStatus.CANCELLED,
}


def host_status(result: HostResult) -> HostStatus:
    if result.outcome is not HostOutcome.OK:
        return _OUTCOME_STATUS[result.outcome]
    if result.compliance is None:
        return HostStatus.NOT_EVALUATED
    return HostStatus(result.compliance.status.value)


def non_compliant_by_level(result: HostResult) -> dict[ComplianceLevel, int]:
    """Non-compliant patch items per compliance level, every level present (SSM's
    SeveritySummary of the NonCompliantSummary)."""
    if result.compliance is None:
        return dict.fromkeys(LEVEL_ORDER, 0)
    return dict(result.compliance.non_compliant_by_level)


def missing_security(result: HostResult) -> int:
    """Security patches in state MISSING."""
    return result.compliance.missing_security if result.compliance is not None else 0


def reboot_required(result: HostResult) -> bool | None:
    """The host says it needs a reboot; None when no facts were collected."""
    return result.facts.reboot_required if result.facts is not None else None


def platform_product(result: HostResult) -> str:
    return result.facts.os.product if result.facts is not None else ""
