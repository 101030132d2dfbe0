"""Run results: a host's outcome is a value, never an exception."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.compliance import HostCompliance
from fleetpatch.facts import HostFacts


class HostOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class HostFailure(BaseModel):
    """Why a host could not be scanned or patched. ``kind`` is one of the HostError kinds."""

    model_config = ConfigDict(frozen=True)

    kind: str
    message: str
    step: str = ""


class CommandRecord(BaseModel):
    """Audit record of one remote command. The script itself is not kept, only its digest."""

    model_config = ConfigDict(frozen=True)

    operation: str
    digest: str = Field(description="sha256 of the script/command text sent")
    exit_code: int | None
    started_at: datetime
    duration: float


class HostResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    address: str = ""
    outcome: HostOutcome
    failure: HostFailure | None = None
    patch_group: str | None = None
    facts: HostFacts | None = None
    compliance: HostCompliance | None = None
    commands: tuple[CommandRecord, ...] = ()
    started_at: datetime
    finished_at: datetime

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class RunResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    operation: str
    started_at: datetime
    finished_at: datetime
    inventory: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    hosts: tuple[HostResult, ...] = ()
    cancelled: bool = False
