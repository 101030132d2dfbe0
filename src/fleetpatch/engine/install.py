"""The per-host install pipeline, SSM's with-hooks flow:

scan → select (baseline or install override list) → pre_install hook → install → post_install
hook → reboot if asked and needed → wait for a new boot identity → rescan → on_exit hook.

Like the scan pipeline it returns a value and never raises except on cancellation. A dry run
stops after the package manager's own simulation and changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from fleetpatch.baseline.compiled import compile_baseline
from fleetpatch.baseline.evaluate import apply_install_outcome, evaluate_baseline
from fleetpatch.baseline.model import Baseline
from fleetpatch.baseline.override import InstallOverrideList, unmatched_override_ids
from fleetpatch.compliance import HostCompliance, PatchState
from fleetpatch.engine.detached import JobHost
from fleetpatch.engine.install_job import (
    fallback_job_key,
    interrupted_packages,
    repair_interrupted,
    run_install_job,
)
from fleetpatch.engine.pipeline import (
    ScanContext,
    _failed,
    _Trace,
    collect_facts,
    digest,
    utcnow,
)
from fleetpatch.errors import ConnectError, HostError, InputError, UnsupportedPlatform
from fleetpatch.facts import HostFacts
from fleetpatch.inventory.model import Host
from fleetpatch.knowledge import knowledge_failure
from fleetpatch.platforms.framing import parse_frames
from fleetpatch.platforms.installers import FamilyInstaller, InstallOutcome, installer_for
from fleetpatch.platforms.reboot import (
    boot_identity_script,
    hook_script,
    parse_boot_identity,
    parse_reboot_scheduled,
    reboot_script,
)
from fleetpatch.results import (
    HookRecord,
    HostFailure,
    HostOutcome,
    HostResult,
    InstallSummary,
    PlannedPackage,
)
from fleetpatch.transport.base import Session

RebootOption = Literal["if-needed", "never", "always"]


def _posix_jobs() -> JobHost:
    from fleetpatch.platforms.jobs import PosixJobs

    return PosixJobs()


@dataclass(frozen=True)
class Hooks:
    """Commands run on the host (``sh -c``) at SSM's hook points."""

    pre_install: str | None = None
    post_install: str | None = None
    on_exit: str | None = None


@dataclass(frozen=True)
class InstallContext:
    scan: ScanContext
    reboot: RebootOption = "if-needed"
    dry_run: bool = False
    hooks: Hooks = field(default_factory=Hooks)
    install_override: InstallOverrideList | None = None
    reboot_timeout: float = 600.0
    reboot_poll: float = 2.0
    installers: Callable[[str], FamilyInstaller | None] = installer_for
    run_id: str = ""
    """the run the installs belong to: a host's install job id derives from it, so a later
    attempt of the same run attaches to the job instead of installing again"""
    jobs: JobHost = field(default_factory=_posix_jobs)
    reconnect_timeout: float = 300.0
    """how long to try reaching a host again after its connection dropped mid-install"""
    notify: Callable[[str, str], None] | None = None
    """progress notes, ``notify(host, text)``: what a host waits for (its package manager's
    lock)"""


@dataclass
class _HostRun:
    host: Host
    ctx: InstallContext
    batch: int | None
    trace: _Trace = field(default_factory=_Trace)
    hooks: list[HookRecord] = field(default_factory=list)
    started: datetime = field(default_factory=utcnow)
    session: Session | None = None
    fallback_id: str = field(default_factory=fallback_job_key)
    locked: str = ""
    """why the install gave up waiting for the package manager's lock, if it did"""
    notes: list[str] = field(default_factory=list)


def selection(compliance: HostCompliance) -> tuple[PlannedPackage, ...]:
    """Exactly the approved missing patches (the override list, when given, already replaced
    the baseline's selection in the evaluation)."""
    return tuple(
        PlannedPackage(
            name=item.id,
            arch=item.arch,
            installed_version=item.installed_version,
            version=item.candidate_version or "",
            reason=item.reason,
        )
        for item in compliance.items
        if item.state is PatchState.MISSING and item.candidate_version
    )


async def install_host(
    host: Host, ctx: InstallContext, *, batch: int | None = None, attach: bool = False
) -> HostResult:
    """Install the approved missing patches on one host. Never raises except on cancel.

    ``attach``: an earlier attempt of this run may have started the install (a resume, a
    retried worker): look for its job first and, when there is one, follow it to its end
    instead of selecting and installing again (the hooks before the install do not run again).
    """
    run = _HostRun(host, ctx, batch)
    facts: HostFacts | None = None
    try:
        run.session = await ctx.scan.connector.connect(host)
        facts = await collect_facts(host, ctx.scan, run.trace, run.session)
        try:
            baseline = ctx.scan.choose_baseline(host, facts.os)
            before = evaluate_baseline(
                facts, baseline, now=ctx.scan.now(), install_override=ctx.install_override
            )
        except InputError as exc:
            return _failed(
                host, run.started, run.trace, HostOutcome.FAILED, "baseline", str(exc), facts
            )
        if ctx.install_override is not None:
            family = compile_baseline(baseline).family
            unmatched = unmatched_override_ids(ctx.install_override, facts, family)
            if unmatched:  # a typo, or a list for another system: never a compliant no-op
                message = (
                    f"install override ids match nothing on {host.name}: "
                    f"{', '.join(unmatched)} (no available update or installed package of "
                    f"that name for {facts.os.product}); nothing was installed"
                )
                return _failed(
                    host, run.started, run.trace, HostOutcome.FAILED, "override", message, facts
                )
        installer = ctx.installers(facts.os.family)
        if installer is None:
            raise UnsupportedPlatform(
                f"installing on {facts.os.family} hosts ({facts.os.product}) is not supported yet"
            )
        if attach and not ctx.dry_run:
            found = await run_install_job(run, installer, (), attach_only=True)
            if found is not None:
                return await _after_install(run, facts, baseline, before, *found)
        if not ctx.dry_run and interrupted_packages(facts):
            # an earlier install was cut short: repair first (dpkg --configure -a), then
            # judge the host again from what it says now
            run.notes.extend(await repair_interrupted(run, installer))
            facts = await collect_facts(host, ctx.scan, run.trace, run.session)
            before = evaluate_baseline(
                facts, baseline, now=ctx.scan.now(), install_override=ctx.install_override
            )
        # missing or stale metadata: nothing is installed from it, whatever the verdict (the
        # plan would name superseded versions, or miss the missing source's updates)
        unknown = knowledge_failure(facts, None, ctx.scan.max_age_for(host))
        if unknown is not None:
            await _on_exit(run)
            message = f"install skipped: {unknown.message}"
            result = _failed(
                host, run.started, run.trace, HostOutcome.FAILED, unknown.kind, message, facts
            )
            summary = InstallSummary(
                dry_run=ctx.dry_run,
                batch=batch,
                hooks=tuple(run.hooks),
                message=message,
                notes=tuple(run.notes),
            )
            return _with_install(_with_compliance(result, before), summary)
        return await _install(run, installer, facts, baseline, before)
    except asyncio.CancelledError:
        raise
    except UnsupportedPlatform as exc:
        await _on_exit(run)
        return _failed(
            host, run.started, run.trace, HostOutcome.UNSUPPORTED, exc.kind, str(exc), facts
        )
    except HostError as exc:
        await _on_exit(run)
        failed = _failed(
            host, run.started, run.trace, HostOutcome.FAILED, exc.kind, str(exc), facts
        )
        step = getattr(exc, "step", "")
        if step and failed.failure is not None:
            failure = failed.failure.model_copy(update={"step": step})
            failed = failed.model_copy(update={"failure": failure})
        return _with_install(
            failed,
            InstallSummary(
                batch=batch, hooks=tuple(run.hooks), message=str(exc), notes=tuple(run.notes)
            ),
        )
    finally:
        if run.session is not None:
            await run.session.close()


async def _install(
    run: _HostRun,
    installer: FamilyInstaller,
    facts: HostFacts,
    baseline: Baseline,
    before: HostCompliance,
) -> HostResult:
    ctx, host = run.ctx, run.host
    wanted = selection(before)
    if ctx.dry_run:
        outcome = await _run_installer(run, installer, wanted, dry_run=True)
        expected = outcome.reboot_required or facts.reboot_required or ctx.reboot == "always"
        summary = InstallSummary(
            dry_run=True,
            batch=run.batch,
            planned=outcome.planned or wanted,
            failed=outcome.failed,
            reboot="expected" if expected and ctx.reboot != "never" else "not-needed",
            message=outcome.error,
        )
        problem = outcome.error or "; ".join(f"{n}: {m}" for n, m in outcome.failed.items())
        return _result(run, facts, before, summary, problem=problem)

    reboot_wanted = ctx.reboot == "always" or (ctx.reboot == "if-needed" and facts.reboot_required)
    if not wanted and not reboot_wanted:
        await _on_exit(run)
        summary = InstallSummary(
            batch=run.batch,
            hooks=tuple(run.hooks),
            message="nothing to install",
            notes=tuple(run.notes),
        )
        return _result(run, facts, before, summary)

    if not await _hook(run, "pre_install", ctx.hooks.pre_install):
        await _on_exit(run)
        summary = InstallSummary(
            batch=run.batch,
            planned=wanted,
            hooks=tuple(run.hooks),
            message="pre_install hook failed: install skipped",
        )
        result = _failed(
            host,
            run.started,
            run.trace,
            HostOutcome.FAILED,
            "hook",
            "pre_install hook failed: install skipped",
            facts,
        )
        return _with_install(_with_compliance(result, before), summary)

    outcome = InstallOutcome()
    if wanted:
        found = await run_install_job(run, installer, wanted)
        assert found is not None
        wanted, outcome = found
    return await _after_install(run, facts, baseline, before, wanted, outcome)


async def _after_install(
    run: _HostRun,
    facts: HostFacts,
    baseline: Baseline,
    before: HostCompliance,
    wanted: tuple[PlannedPackage, ...],
    outcome: InstallOutcome,
) -> HostResult:
    """post_install hook, reboot if asked and needed, rescan, on_exit hook, the verdict."""
    ctx, host = run.ctx, run.host
    post_ok = await _hook(run, "post_install", ctx.hooks.post_install)

    needs_reboot = outcome.reboot_required or facts.reboot_required
    reboot_state = "not-needed"
    reboot_seconds: float | None = None
    if ctx.reboot == "always" or (ctx.reboot == "if-needed" and needs_reboot):
        reboot_seconds = await _reboot(run, facts.boot_id)
        reboot_state = "rebooted"
    elif ctx.reboot == "never" and needs_reboot and outcome.installed:
        reboot_state = "pending"

    after_facts = await collect_facts(host, ctx.scan, run.trace, run.session)
    after = evaluate_baseline(after_facts, baseline, now=ctx.scan.now())
    pending = set(outcome.installed) if reboot_state == "pending" else set()
    after = apply_install_outcome(after, dict(outcome.failed), pending)
    await _on_exit(run)
    summary = InstallSummary(
        batch=run.batch,
        planned=outcome.planned or wanted,
        installed=outcome.installed,
        failed=outcome.failed,
        reboot=reboot_state,
        reboot_seconds=reboot_seconds,
        hooks=tuple(run.hooks),
        message=outcome.error,
        notes=(*run.notes, *outcome.notes),
    )
    problem = outcome.error or "; ".join(f"{n}: {m}" for n, m in outcome.failed.items())
    if problem and run.locked:
        return _result(run, after_facts, after, summary, problem=run.locked, kind="locked")
    if not problem and not post_ok:
        return _result(
            run, after_facts, after, summary, problem="post_install hook failed", kind="hook"
        )
    unknown = knowledge_failure(after_facts, after, ctx.scan.max_age_for(host))
    if not problem and unknown is not None:
        return _result(run, after_facts, after, summary, problem=unknown.message, kind=unknown.kind)
    return _result(run, after_facts, after, summary, problem=problem)


async def _run_installer(
    run: _HostRun,
    installer: FamilyInstaller,
    packages: tuple[PlannedPackage, ...],
    *,
    dry_run: bool,
) -> InstallOutcome:
    script = installer.render(packages, dry_run=dry_run)
    assert run.session is not None
    result = await run.trace.run(
        run.session,
        run.host,
        "sh -s",
        script=script,
        operation="install-simulate" if dry_run else "install",
        script_digest=digest(script),
        timeout=run.host.connection.command_timeout,
    )
    return installer.parse(result.stdout, packages, dry_run=dry_run)


async def _hook(run: _HostRun, name: str, command: str | None) -> bool:
    """Run a hook on the host; True when it is absent or exits 0."""
    if not command or run.session is None:
        return True
    script = hook_script(command)
    result = await run.trace.run(
        run.session,
        run.host,
        "sh -s",
        script=script,
        operation=f"hook:{name}",
        script_digest=digest(script),
        timeout=run.host.connection.command_timeout,
    )
    frames = parse_frames(result.stdout)
    section = frames.get("hook")
    rc = section.rc if section is not None else result.exit_status
    output = section.body[-2000:] if section is not None else result.stderr[-2000:]
    run.hooks.append(HookRecord(name=name, exit_code=rc, output=output))
    return rc == 0


async def _on_exit(run: _HostRun) -> None:
    """The on_exit hook always runs when the host can still be reached."""
    if run.ctx.dry_run or not run.ctx.hooks.on_exit or run.session is None:
        return
    try:
        await _hook(run, "on_exit", run.ctx.hooks.on_exit)
    except HostError as exc:
        run.hooks.append(HookRecord(name="on_exit", exit_code=None, output=str(exc)))


async def _reboot(run: _HostRun, boot_before: str) -> float:
    """Reboot and wait for a changed boot identity; return the seconds it took.

    Raises:
        HostError: the host did not come back within the reboot timeout.
    """
    assert run.session is not None
    started = time.monotonic()
    script = reboot_script()
    try:
        result = await run.trace.run(
            run.session,
            run.host,
            "sh -s",
            script=script,
            operation="reboot",
            script_digest=digest(script),
            timeout=60,
        )
    except ConnectError:
        pass  # the connection may drop as the host goes down: the reboot is under way
    else:
        parse_reboot_scheduled(parse_frames(result.stdout))  # raises if it was refused
    await run.session.close()
    run.session = None
    run.session = await wait_for_new_boot(
        run.host,
        run.ctx.scan.connector.connect,
        boot_before,
        timeout=run.ctx.reboot_timeout,
        poll=run.ctx.reboot_poll,
        trace=run.trace,
    )
    return time.monotonic() - started


async def wait_for_new_boot(
    host: Host,
    connect: Callable[[Host], Awaitable[Session]],
    boot_before: str,
    *,
    timeout: float,
    poll: float,
    trace: _Trace,
) -> Session:
    """Reconnect until the host answers with a boot identity other than ``boot_before``.

    Raises:
        HostError: not back with a new identity within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    script = boot_identity_script()
    last = "no answer"
    while time.monotonic() < deadline:
        session: Session | None = None
        try:
            session = await asyncio.wait_for(
                connect(host), timeout=max(1.0, deadline - time.monotonic())
            )
            result = await trace.run(
                session,
                host,
                "sh -s",
                script=script,
                operation="boot-identity",
                script_digest=digest(script),
                timeout=30,
            )
            identity = parse_boot_identity(parse_frames(result.stdout))
            if identity and identity != boot_before:
                return session
            last = "still the same boot (the reboot has not happened yet)"
        except (HostError, TimeoutError) as exc:
            last = str(exc) or type(exc).__name__
        if session is not None:
            await session.close()
        await asyncio.sleep(poll)
    raise RebootTimeout(
        f"did not come back with a new boot identity within {timeout:g}s (last: {last})"
    )


class RebootTimeout(HostError):
    kind = "reboot"


def _result(
    run: _HostRun,
    facts: HostFacts,
    compliance: HostCompliance,
    summary: InstallSummary,
    *,
    problem: str = "",
    kind: str = "install",
) -> HostResult:
    return HostResult(
        host=run.host.name,
        address=run.host.address,
        outcome=HostOutcome.FAILED if problem else HostOutcome.OK,
        failure=HostFailure(kind=kind, message=problem, step="install") if problem else None,
        patch_group=run.host.patch_group,
        facts=facts,
        compliance=compliance,
        commands=tuple(run.trace.records),
        install=summary,
        started_at=run.started,
        finished_at=utcnow(),
    )


def _with_install(result: HostResult, summary: InstallSummary) -> HostResult:
    return result.model_copy(update={"install": summary})


def _with_compliance(result: HostResult, compliance: HostCompliance) -> HostResult:
    return result.model_copy(update={"compliance": compliance})
