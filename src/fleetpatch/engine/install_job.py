"""The install step as a detached job on the host (:mod:`fleetpatch.engine.detached`).

The family's install script runs on the host as a job under the id of (run, host); the
controller follows its journal, watches it for a package manager waiting on its lock (progress
says so), reconnects and attaches after a dropped connection, and parses the journal with the
family's own parser once the job has finished. A job that stopped without finishing (the host
was killed or rebooted mid-install), or a host that cannot be reached again, ends as
``connection_lost`` with the step the script was in: the host may be partly upgraded.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fleetpatch.engine.detached import JobHost, JobReport, JobSpec, follow_job, job_id
from fleetpatch.engine.pipeline import digest
from fleetpatch.errors import CommandTimeout, ConnectionLost, HostError, ParseError
from fleetpatch.facts import HostFacts
from fleetpatch.platforms.framing import last_step
from fleetpatch.platforms.installers import FamilyInstaller, InstallOutcome
from fleetpatch.platforms.locks import lock_timed_out, lock_wait
from fleetpatch.results import PlannedPackage
from fleetpatch.transport.base import CommandResult, RemoteProcess, Session

if TYPE_CHECKING:
    from fleetpatch.engine.install import _HostRun

PARTLY = "the host may be partly upgraded"


class _StreamingSession:
    """A session whose ``run`` streams stdout to a callback (when the transport can), so the
    privileged path (:class:`fleetpatch.engine.pipeline._Trace`) runs job scripts unchanged."""

    def __init__(self, session: Session, on_stdout: Callable[[str], None]):
        self._session = session
        self._on_stdout = on_stdout

    async def run(
        self, command: str, *, stdin: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        stream = getattr(self._session, "stream", None)
        if stream is None:
            result = await self._session.run(command, stdin=stdin, timeout=timeout)
            self._on_stdout(result.stdout)
            return result
        streamed: CommandResult = await stream(
            command, on_stdout=self._on_stdout, stdin=stdin, timeout=timeout
        )
        return streamed

    async def start(
        self, command: str, *, on_stdout: Callable[[str], None] | None = None
    ) -> RemoteProcess:
        """The sudo-with-password path (:mod:`fleetpatch.transport.sudo`): its stdout is the
        script's own, streamed the same way."""
        return await self._session.start(command, on_stdout=on_stdout or self._on_stdout)

    async def close(self) -> None:
        await self._session.close()


class LockWatch:
    """Tells progress, once per change, that a host waits for its package manager's lock."""

    def __init__(self, host: str, notify: Callable[[str, str], None] | None):
        self.host = host
        self.notify = notify
        self.waiting = ""

    def line(self, text: str) -> None:
        holder = lock_wait(text)
        if holder is None:
            return
        if holder != self.waiting:
            self.waiting = holder
            if self.notify is not None:
                self.notify(self.host, f"waiting for the package manager's lock: {holder}")


def install_job_id(run: _HostRun) -> str:
    run_id = run.ctx.run_id or run.fallback_id
    return job_id(run_id, run.host.name)


async def run_install_job(
    run: _HostRun,
    installer: FamilyInstaller,
    packages: tuple[PlannedPackage, ...],
    *,
    attach_only: bool = False,
) -> tuple[tuple[PlannedPackage, ...], InstallOutcome] | None:
    """Run (or, with ``attach_only``, find) the install job of this host and run; return the
    packages it was rendered for and the family's verdicts. None: ``attach_only`` and no job.

    Raises:
        ConnectionLost: the job stopped without finishing, or the host could not be reached
            again; ``step`` is the script's step, the message says the host may be partly
            upgraded.
        CommandTimeout: the job ran past the command timeout (it goes on on the host).
        HostError: anything else (sudo, parse, the job could not start).
    """
    spec = JobSpec(
        id=install_job_id(run),
        script="" if attach_only else installer.render(packages, dry_run=False),
        meta=json.dumps([p.model_dump(mode="json") for p in packages]),
    )
    report = await _follow(run, spec, attach_only=attach_only)
    if report.state == "absent":
        if attach_only:
            return None
        raise ParseError(f"job {spec.id}: the host reports no such job after starting it")
    await _cleanup(run, spec.id)
    if report.state == "lost":
        step = last_step(report.text) or "install"
        raise ConnectionLost(
            f"the install stopped on the host without finishing (the host was killed or "
            f"rebooted) in step {step}; {PARTLY}. The next install repairs an interrupted "
            f"package manager (dpkg --configure -a) before it installs",
            stdout=report.text,
            step=step,
        )
    wanted = _packages(report, packages)
    outcome = installer.parse(report.text, wanted, dry_run=False)
    if run.locked == "" and lock_timed_out(report.text):
        run.locked = lock_timed_out(report.text) or ""
    if report.origin == "existing" or report.reconnects:
        how = "attached to the install already running on the host"
        if report.reconnects:
            how = f"reconnected {report.reconnects} time(s) and attached to the install"
        outcome = InstallOutcome(
            planned=outcome.planned,
            installed=outcome.installed,
            failed=outcome.failed,
            reboot_required=outcome.reboot_required,
            error=outcome.error,
            notes=(*outcome.notes, how),
        )
    return wanted, outcome


async def _follow(run: _HostRun, spec: JobSpec, *, attach_only: bool) -> JobReport:
    """Follow one job of this host run to its end, through reconnects.

    Raises:
        ConnectionLost, CommandTimeout, HostError: see :func:`run_install_job`.
    """
    jobs: JobHost = run.ctx.jobs
    host = run.host
    watch = LockWatch(host.name, run.ctx.notify)

    async def run_script(script: str, operation: str, on_output: Callable[[str], None]) -> None:
        assert run.session is not None
        await run.trace.run(
            _StreamingSession(run.session, on_output),
            host,
            jobs.interpreter,
            script=script,
            operation=f"install:{operation}",
            script_digest=digest(script),
            timeout=host.connection.command_timeout,
        )

    async def reconnect() -> None:
        old, run.session = run.session, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        run.session = await run.ctx.scan.connector.connect(host)

    try:
        report = await follow_job(
            jobs,
            spec,
            run=run_script,
            reconnect=reconnect,
            reconnect_timeout=run.ctx.reconnect_timeout,
            on_line=watch.line,
            attach_only=attach_only,
        )
    except ConnectionLost as exc:
        step = last_step(exc.stdout) or "install"
        raise ConnectionLost(
            f"lost the connection during the install (step {step}): {exc}; {PARTLY}. The "
            f"install goes on there if the host is up: resuming the run attaches to it",
            stdout=exc.stdout,
            step=step,
        ) from None
    except CommandTimeout as exc:
        raise CommandTimeout(
            f"{exc}: the install goes on on the host (job {spec.id}); {PARTLY}",
            stdout=exc.stdout,
            stderr=exc.stderr,
        ) from None
    return report


def interrupted_packages(facts: HostFacts) -> list[str]:
    """Packages dpkg left not fully installed (unpacked, half-configured, reinst-required...):
    an install interrupted before this run."""
    return [
        p.name
        for p in facts.installed
        if len(p.status) >= 2 and (p.status[1] not in "inc" or p.status[2:3].strip())
    ]


async def repair_interrupted(run: _HostRun, installer: FamilyInstaller) -> tuple[str, ...]:
    """Repair the package manager an earlier install left interrupted, as a detached job
    (``dpkg --configure -a`` must not die with the connection either); the notes say what
    was done. Families without a repair step return ().

    Raises:
        HostError: as :func:`run_install_job`.
    """
    render_repair = getattr(installer, "repair_script", None)
    parse_repair = getattr(installer, "parse_repair", None)
    if render_repair is None or parse_repair is None:
        return ()
    run_id = run.ctx.run_id or run.fallback_id
    spec = JobSpec(id=job_id(run_id, f"{run.host.name}#repair"), script=render_repair())
    report = await _follow(run, spec, attach_only=False)
    await _cleanup(run, spec.id)
    if report.state != "finished":
        step = last_step(report.text) or "repair"
        raise ConnectionLost(
            f"the repair of an interrupted install stopped on the host in step {step}; {PARTLY}",
            stdout=report.text,
            step=step,
        )
    notes: tuple[str, ...] = parse_repair(report.text)
    return notes


def _packages(report: JobReport, fallback: Sequence[PlannedPackage]) -> tuple[PlannedPackage, ...]:
    """The packages the job was rendered for (kept with the job), else ``fallback``."""
    if not report.meta:
        return tuple(fallback)
    try:
        return tuple(PlannedPackage.model_validate(p) for p in json.loads(report.meta))
    except ValueError:
        return tuple(fallback)


async def _cleanup(run: _HostRun, job: str) -> None:
    """Remove the job's directory once read; a failure only leaves it for a later prune."""
    if run.session is None:
        return
    script = run.ctx.jobs.cleanup(job)
    with contextlib.suppress(HostError):
        await run.trace.run(
            run.session,
            run.host,
            run.ctx.jobs.interpreter,
            script=script,
            operation="install:job-cleanup",
            script_digest=digest(script),
            timeout=60,
        )


def fallback_job_key() -> str:
    """A run id for installs outside a stored run (library use): one job per call."""
    return f"adhoc-{uuid.uuid4().hex}"
