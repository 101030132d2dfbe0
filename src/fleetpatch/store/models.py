"""Light views the store returns besides full results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from fleetpatch.compliance import ComplianceLevel, ComplianceStatus, StateCounts
from fleetpatch.results import HostFailure, HostOutcome, RunStatus

__all__ = ["HostHistoryEntry", "RunStatus", "RunSummary"]


class RunSummary(BaseModel):
    """One stored run, with its host tallies."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    operation: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    cancelled: bool
    controller: str | None = None
    """``host:pid`` of the process that began (or resumed) the run"""
    heartbeat_at: datetime | None = None
    """last sign of life of that process while the run went"""
    targeted_hosts: int | None = None
    """hosts the run set out to do (``hosts`` counts those stored)"""
    inventory: tuple[str, ...]
    targets: tuple[str, ...]
    options: dict[str, Any] | None
    hosts: int
    """host results stored"""
    compliant: int
    non_compliant: int
    failed: int
    """hosts whose outcome is ``failed`` or ``unsupported``"""


class HostHistoryEntry(BaseModel):
    """One host's result in one run, without patch items or facts."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    operation: str
    host: str
    outcome: HostOutcome
    failure: HostFailure | None
    baseline: str | None
    status: ComplianceStatus | None
    overall_severity: ComplianceLevel | None
    counts: StateCounts | None
    reboot_required: bool | None
    started_at: datetime
    finished_at: datetime
