"""Run results: a host's outcome is a value, never an exception."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetpatch.compliance import HostCompliance
from fleetpatch.facts import HostFacts


class HostOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FAILURE_KINDS: dict[str, str] = {
    "error": "a host problem of no more precise kind",
    "unreachable": "the host could not be reached (DNS, refused, no route, connect timeout)",
    "connection_lost": "an open connection dropped while a command ran (installs: and the host "
    "could not be reached again, or the install stopped on the host unfinished; the host may be "
    "partly upgraded; step says where)",
    "auth": "the host refused every authentication method offered",
    "host_key": "the host key is unknown or has changed",
    "certificate": "the host's TLS certificate was refused (WinRM over HTTPS: untrusted CA, "
    "expired, or for another name); nothing was sent",
    "winrm_fault": "the WinRM service answered with a fault (its WSManFault code or HTTP status "
    "is in the message)",
    "timeout": "a remote command ran past its timeout",
    "sudo": "sudo asked for a password fleetpatch does not have, or refused",
    "unsupported": "the host runs an OS or family fleetpatch does not support",
    "parse": "remote output did not have the expected shape",
    "command": "a remote step ended with an exit code it does not allow",
    "no_metadata": "package metadata is missing or unreadable for a configured source (or "
    "for all): the updates it would bring are unknown, so the verdict is unknown",
    "stale_metadata": "package metadata older than the maximum age: COMPLIANT cannot be "
    "known from it (a NON_COMPLIANT verdict stands)",
    "baseline": "no baseline could be evaluated for the host (none for its OS, a bad file)",
    "override": "install override ids match nothing on the host: nothing was installed",
    "internal": "a fleetpatch bug while handling this host (the message has the details)",
    "install": "the install left requested patches failed",
    "hook": "an install hook failed",
    "reboot": "the host did not come back from a reboot in time",
    "locked": "another run holds the host's install lease (not touched), or the package "
    "manager's lock was still held at --lock-timeout",
    "skipped": "a rollout stopped before this host started",
    "cancelled": "the run was cancelled before this host finished (an install in flight goes on "
    "on the host; resume attaches to it)",
}
"""Every ``HostFailure.kind`` fleetpatch can produce, with its meaning: the one registry the
report's JSON Schema (``fleetpatch schema report``) takes its enum from, and that
docs/report-schema.md lists (tests/unit/report/test_schema_contract.py walks the code for
kinds not in it). Add a kind here when you add it to the code."""


class HostFailure(BaseModel):
    """Why a host could not be scanned or patched. ``kind`` is one of :data:`FAILURE_KINDS`."""

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


RunStatus = Literal["running", "finished", "cancelled", "interrupted"]
"""``running``: under way; ``finished``: done; ``cancelled``: stopped with Ctrl-C, finished
hosts kept; ``interrupted``: its controller died before finishing it (fleetpatch.store.liveness).
"""


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
    status: RunStatus = "finished"
    """``cancelled`` when ``cancelled`` is set; ``running`` / ``interrupted`` only for a run read
    back from the store before it finished"""
    controller: str | None = None
    """``host:pid`` of the process running it: a stored run that did not finish"""
    targeted_hosts: int | None = None
    """hosts the run set out to do, when known (a stored run that did not finish may hold fewer)"""

    @model_validator(mode="after")
    def _cancelled_is_a_status(self) -> RunResult:
        if self.cancelled and self.status == "finished":
            object.__setattr__(self, "status", "cancelled")
        return self

    @property
    def finished(self) -> bool:
        """The run ended as planned or with Ctrl-C (not under way, not interrupted)."""
        return self.status in ("finished", "cancelled")
