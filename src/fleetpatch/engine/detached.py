"""A detached job on a host: a script that runs on the host whether or not the controller stays
connected, and that the controller can find again.

An install must not die with its SSH connection: a package manager killed half-way leaves the
host half-upgraded (dpkg half-configured). So the install script is handed to the host as a
*job*: the host keeps it in a private job directory, runs it detached from the session, writes
its output to a journal and its exit status to a file. The controller follows the journal as it
grows (one streaming command, not polling); after a drop it reconnects and *attaches* to the
running or finished job instead of starting another.

This module is the engine's side, neutral in transport and shell:

* :class:`JobSpec` is what to run, under a deterministic id (:func:`job_id`: run id + host), so
  that any later attempt of the same run (a resume, a retried worker) finds the same job.
* :class:`JobHost` is what a kind of host implements: the scripts that start, attach and clean
  up, and the reader of their output lines. The POSIX implementation renders ``sh``
  (:mod:`fleetpatch.platforms.jobs`); Windows will use a SYSTEM scheduled task and JSON lines.
* :func:`follow_job` drives it: start (or attach), stream, reconnect with bounded backoff for a
  bounded time, attach from the last journal line received, and return the :class:`JobReport`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fleetpatch.errors import (
    AuthError,
    ConnectError,
    ConnectionLost,
    HostError,
    HostKeyError,
    ParseError,
)

JobState = Literal["finished", "lost", "absent"]
"""How a followed job ended: ``finished`` (it wrote its exit status), ``lost`` (it stopped
without one: the host rebooted or was killed mid-job), ``absent`` (no such job on the host)."""


def job_id(run_id: str, host: str) -> str:
    """The job id of ``host``'s install in run ``run_id``: the same for every attempt of that
    run (resume, a retried worker), different for every other run or host."""
    digest = hashlib.sha256(f"{run_id}\0{host}".encode()).hexdigest()
    return f"fp-{digest[:24]}"


@dataclass(frozen=True)
class JobSpec:
    """What to run detached: ``script`` in the host's own language, and ``meta``, an opaque
    text kept beside it (the engine stores what it needs to read the journal later, such as
    the packages the script was rendered for)."""

    id: str
    script: str
    meta: str = ""


@dataclass(frozen=True)
class JobLine:
    """One line of a job script's output, as read by :meth:`JobHost.parse_line`.

    ``kind`` is ``journal`` (a line the job wrote: ``text``), ``job`` (the header: ``origin``
    new/existing/absent, ``launcher``, ``started``), ``meta``, ``status`` (``state`` and
    ``rc``) or ``error`` (the job could not be started: ``text``)."""

    kind: Literal["journal", "job", "meta", "status", "error"]
    text: str = ""
    origin: str = ""
    launcher: str = ""
    started: str = ""
    state: str = ""
    rc: int | None = None


class JobHost(Protocol):
    """How one kind of host runs detached jobs (the scripts are in its own language)."""

    interpreter: str
    """the command that runs a script read from stdin (``sh -s``)"""

    def start(self, spec: JobSpec) -> str:
        """Start the job unless one with that id exists, then follow its journal from the
        start to its end."""
        ...

    def attach(self, job: str, *, offset: int) -> str:
        """Follow an existing job's journal from line ``offset`` + 1 to its end (or say it is
        absent)."""
        ...

    def cleanup(self, job: str) -> str:
        """Remove a job that is no longer running (its directory, journal and status)."""
        ...

    def parse_line(self, line: str) -> JobLine:
        """Classify one output line of those scripts (pure)."""
        ...


@dataclass
class JobReport:
    """What the controller learnt of a job."""

    id: str
    state: JobState
    rc: int | None = None
    journal: list[str] = field(default_factory=list)
    meta: str = ""
    origin: str = ""
    """``new`` when this call started it, ``existing`` when it was found running or finished"""
    launcher: str = ""
    started: str = ""
    reconnects: int = 0

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.journal)


class JobStartError(HostError):
    """The host could not start the job (no space for its directory, systemd-run refused)."""

    kind = "command"


RunScript = Callable[[str, str, Callable[[str], None]], Awaitable[object]]
"""``run(script, operation, on_output)``: run a job script on the host through the privileged
path, streaming its stdout to ``on_output``; raises the transport's errors."""


@dataclass
class _Reader:
    """Splits streamed output into lines and keeps what the job said."""

    host: JobHost
    report: JobReport
    on_line: Callable[[str], None] | None
    ended: bool = False
    _partial: str = ""

    def feed(self, chunk: str) -> None:
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""

    def drop_partial(self) -> None:
        """A cut connection: a line not finished by its newline is not kept (attach reads it
        again from the journal)."""
        self._partial = ""

    def _line(self, line: str) -> None:
        parsed = self.host.parse_line(line)
        report = self.report
        if parsed.kind == "journal":
            if self.ended:
                return
            report.journal.append(parsed.text)
            if self.on_line is not None:
                self.on_line(parsed.text)
        elif parsed.kind == "job":
            report.origin = report.origin or parsed.origin
            report.launcher, report.started = parsed.launcher, parsed.started
        elif parsed.kind == "meta":
            report.meta = parsed.text
        elif parsed.kind == "status":
            report.state = parsed.state  # type: ignore[assignment]
            report.rc = parsed.rc
            self.ended = True
        else:
            raise JobStartError(f"the host could not start the job: {parsed.text}")


_NOT_TRANSIENT = (AuthError, HostKeyError)


async def follow_job(
    host: JobHost,
    spec: JobSpec,
    *,
    run: RunScript,
    reconnect: Callable[[], Awaitable[None]],
    reconnect_timeout: float,
    on_line: Callable[[str], None] | None = None,
    attach_only: bool = False,
    backoff: tuple[float, float] = (1.0, 15.0),
) -> JobReport:
    """Start ``spec`` on the host (or find it there) and follow it to its end.

    After a dropped connection: reconnect with exponential backoff (``backoff`` = first and
    longest pause) for at most ``reconnect_timeout`` seconds, then attach from the last
    journal line received. ``attach_only`` never starts anything: a missing job is reported
    ``absent``. ``on_line`` sees each journal line once, as it arrives.

    Raises:
        ConnectionLost: the host could not be reached again within ``reconnect_timeout``; the
            ``stdout`` it carries is the journal received so far.
        JobStartError: the host refused to start the job.
        ParseError: the job script ended without its status line.
        HostError: anything else the transport raised (timeout, sudo, auth on reconnect).
    """
    report = JobReport(id=spec.id, state="absent")
    reader = _Reader(host, report, on_line)
    started = not attach_only
    first = True
    while True:
        if first and not attach_only:
            script, operation = host.start(spec), "job-start"
        else:
            script, operation = host.attach(spec.id, offset=len(report.journal)), "job-attach"
        first = False
        try:
            await run(script, operation, reader.feed)
            reader.close()
        except ConnectError as exc:
            if isinstance(exc, _NOT_TRANSIENT):
                raise
            reader.drop_partial()
            await _reconnect(reconnect, reconnect_timeout, backoff, report, exc)
            report.reconnects += 1
            continue
        if not reader.ended:
            raise ParseError(
                f"job {spec.id}: the job script ended without a status line "
                f"(last journal line: {report.journal[-1] if report.journal else '(none)'!r})"
            )
        if report.state == "absent" and started and operation == "job-attach":
            # the start never reached the host (cut before it ran): start it now
            first = True
            reader.ended = False
            continue
        return report


async def _reconnect(
    reconnect: Callable[[], Awaitable[None]],
    timeout: float,
    backoff: tuple[float, float],
    report: JobReport,
    cause: ConnectError,
) -> None:
    deadline = time.monotonic() + timeout
    pause, longest = backoff
    last: Exception = cause
    while time.monotonic() < deadline:
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, longest)
        try:
            await asyncio.wait_for(reconnect(), timeout=max(1.0, deadline - time.monotonic()))
            return
        except _NOT_TRANSIENT:
            raise
        except (ConnectError, TimeoutError) as exc:
            last = exc
    raise ConnectionLost(
        f"the connection dropped ({cause}) and the host could not be reached again within "
        f"{timeout:g}s (last: {last or 'timed out'})",
        stdout=report.text,
    )
