"""The per-host scan pipeline: a plain async function from a Host to a HostResult.

Nothing here reads global state; everything a host needs comes in :class:`ScanContext`. Every
failure becomes a value: the pipeline only lets ``asyncio.CancelledError`` through.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from fleetpatch.baseline.evaluate import apply_install_outcome, evaluate_baseline
from fleetpatch.baseline.model import Baseline
from fleetpatch.errors import ConnectionLost, HostError, InputError, UnsupportedPlatform
from fleetpatch.facts import HostFacts, OsInfo
from fleetpatch.inventory.model import Host
from fleetpatch.knowledge import DEFAULT_MAX_METADATA_AGE, host_max_age, knowledge_failure
from fleetpatch.memo import RunMemo
from fleetpatch.platforms.framing import last_step
from fleetpatch.platforms.scan import parse_scan_output
from fleetpatch.results import CommandRecord, HostFailure, HostOutcome, HostResult
from fleetpatch.transport.base import CommandResult, Session
from fleetpatch.transport.sudo import check_sudo, run_privileged

log = logging.getLogger(__name__)


class Connector(Protocol):
    async def connect(self, host: Host) -> Session: ...

    async def close(self) -> None: ...


BaselineChooser = Callable[[Host, OsInfo], Baseline]


def utcnow() -> datetime:
    return datetime.now(UTC)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ScanContext:
    """Everything the scan pipeline needs, prepared once per run."""

    connector: Connector
    script: str
    choose_baseline: BaselineChooser
    now: Callable[[], datetime] = utcnow
    script_digest: str = field(default="")
    pending_reboots: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    """host -> (boot identity, patches) left pending by an earlier ``reboot: never`` install"""
    memo: RunMemo | None = field(default_factory=RunMemo)
    """the run's interning tables (:mod:`fleetpatch.memo`); None parses every host in full"""
    max_metadata_age: int | None = DEFAULT_MAX_METADATA_AGE
    """seconds beyond which metadata cannot support COMPLIANT (:mod:`fleetpatch.knowledge`);
    None = no maximum"""
    max_metadata_age_given: bool = False
    """the run's value was given explicitly: it wins over the hosts' inventory var"""

    def __post_init__(self) -> None:
        if not self.script_digest:
            object.__setattr__(self, "script_digest", digest(self.script))

    def max_age_for(self, host: Host) -> int | None:
        """The maximum metadata age for ``host`` (:func:`fleetpatch.knowledge.host_max_age`).

        Raises:
            ValueError: the host's inventory var is invalid (the CLI checks every host first).
        """
        return host_max_age(
            host.facts, self.max_metadata_age, run_value_given=self.max_metadata_age_given
        )


@dataclass
class _Trace:
    """Commands a host ran, for the audit log."""

    records: list[CommandRecord] = field(default_factory=list)

    async def run(
        self,
        session: Session,
        host: Host,
        command: str,
        *,
        script: str,
        operation: str,
        script_digest: str,
        timeout: float,
    ) -> CommandResult:
        """Run ``command`` (reading ``script``) with the host's privileges, and record it.

        Raises:
            HostError: as :func:`run_privileged` and :func:`check_sudo`; a ConnectionLost
                names the operation and the step the script was in.
        """
        started = utcnow()
        try:
            result = await run_privileged(session, host, command, script, timeout=timeout)
        except HostError as exc:
            self.records.append(
                CommandRecord(
                    operation=operation,
                    digest=script_digest,
                    exit_code=None,
                    started_at=started,
                    duration=(utcnow() - started).total_seconds(),
                )
            )
            if isinstance(exc, ConnectionLost):
                raise lost_in_step(exc, operation) from None
            raise
        self.records.append(
            CommandRecord(
                operation=operation,
                digest=script_digest,
                exit_code=result.exit_status,
                started_at=started,
                duration=result.duration,
            )
        )
        check_sudo(result, host)
        return result


def lost_in_step(exc: ConnectionLost, operation: str) -> ConnectionLost:
    """``exc`` with the step the script was in (from its partial framed output) and a message
    that names the operation and the step."""
    step = exc.step or last_step(exc.stdout) or "start"
    return ConnectionLost(
        f"connection lost during {operation}, in step {step!r}: {exc.reason}",
        stdout=exc.stdout,
        stderr=exc.stderr,
        step=step,
        reason=exc.reason,
    )


async def collect_facts(
    host: Host, ctx: ScanContext, trace: _Trace, session: Session | None = None
) -> HostFacts:
    """Connect (unless a session is given), run the scan script, parse it.

    Raises:
        HostError: any per-host failure (connect, auth, host key, timeout, sudo, parse, OS).
    """
    own = session is None
    if session is None:
        session = await ctx.connector.connect(host)
    try:
        result = await trace.run(
            session,
            host,
            "sh -s",
            script=ctx.script,
            operation="scan",
            script_digest=ctx.script_digest,
            timeout=host.connection.command_timeout,
        )
    finally:
        if own:
            await session.close()
    return parse_scan_output(result.stdout, host=host.name, collected_at=ctx.now(), memo=ctx.memo)


async def scan_host(host: Host, ctx: ScanContext) -> HostResult:
    """Scan one host and evaluate it against its baseline. Never raises except on cancel."""
    started = utcnow()
    trace = _Trace()
    facts: HostFacts | None = None
    try:
        facts = await collect_facts(host, ctx, trace)
        try:
            baseline = ctx.choose_baseline(host, facts.os)
            compliance = evaluate_baseline(facts, baseline, now=ctx.now(), memo=ctx.memo)
            pending = ctx.pending_reboots.get(host.name)
            if pending is not None and pending[0] == facts.boot_id:
                # same boot as the install that skipped its reboot: still pending (SSM)
                compliance = apply_install_outcome(compliance, {}, set(pending[1]))
        except InputError as exc:
            return _failed(host, started, trace, HostOutcome.FAILED, "baseline", str(exc), facts)
        unknown = knowledge_failure(facts, compliance, ctx.max_age_for(host))
        return HostResult(
            host=host.name,
            address=host.address,
            outcome=HostOutcome.OK if unknown is None else HostOutcome.FAILED,
            failure=unknown,
            patch_group=host.patch_group,
            facts=facts,
            compliance=compliance,
            commands=tuple(trace.records),
            started_at=started,
            finished_at=utcnow(),
        )
    except asyncio.CancelledError:
        raise
    except UnsupportedPlatform as exc:
        return _failed(host, started, trace, HostOutcome.UNSUPPORTED, exc.kind, str(exc), facts)
    except HostError as exc:
        step = exc.step if isinstance(exc, ConnectionLost) else ""
        return _failed(
            host, started, trace, HostOutcome.FAILED, exc.kind, str(exc), facts, step=step
        )
    except Exception as exc:  # a bug must never sink the other hosts
        log.exception("internal error while scanning %s", host.name)
        message = f"internal error: {type(exc).__name__}: {exc}"
        return _failed(host, started, trace, HostOutcome.FAILED, "internal", message, facts)


def _failed(
    host: Host,
    started: datetime,
    trace: _Trace,
    outcome: HostOutcome,
    kind: str,
    message: str,
    facts: HostFacts | None,
    *,
    step: str = "",
) -> HostResult:
    return HostResult(
        host=host.name,
        address=host.address,
        outcome=outcome,
        failure=HostFailure(kind=kind, message=message, step=step),
        patch_group=host.patch_group,
        facts=facts,
        commands=tuple(trace.records),
        started_at=started,
        finished_at=utcnow(),
    )
