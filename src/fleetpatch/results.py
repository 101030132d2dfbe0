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


class HookRecord(BaseModel):
    """One hook run: where, its exit code and the tail of its output."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="pre_install, post_install, on_exit or health_check")
    exit_code: int | None
    output: str = ""


class PlannedPackage(BaseModel):
    """One package an install selects (or, in a dry run, would select), and why."""

    model_config = ConfigDict(frozen=True)

    name: str
    arch: str = ""
    installed_version: str | None = None
    version: str
    reason: str = ""
    dependency: bool = Field(default=False, description="pulled in by the package manager")


class InstallSummary(BaseModel):
    """What an install did on one host."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool = False
    batch: int | None = None
    planned: tuple[PlannedPackage, ...] = ()
    installed: tuple[str, ...] = ()
    failed: dict[str, str] = Field(default_factory=dict)
    reboot: str = Field(
        default="not-needed",
        description="not-needed, expected (dry run), rebooted, pending (reboot: never), "
        "failed (did not come back)",
    )
    reboot_seconds: float | None = None
    hooks: tuple[HookRecord, ...] = ()
    message: str = ""
    notes: tuple[str, ...] = Field(
        default=(),
        description="what happened besides the verdicts: an interrupted dpkg repaired before "
        "the install, an install attached to after a lost connection",
    )


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
    install: InstallSummary | None = None
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
