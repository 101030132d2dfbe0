"""Detached jobs on Windows (:class:`fleetpatch.engine.detached.JobHost` in PowerShell).

The Windows Update Agent refuses to download or install from a network logon (WinRM's token:
E_ACCESSDENIED 0x80070005), so the install runs as a **SYSTEM scheduled task**
``\\fleetpatch\\<job id>`` that the start script registers and starts. Where:
``C:\\ProgramData\\fleetpatch\\jobs\\<id>\\`` (SYSTEM and Administrators only, no inherited
access: the script in it runs as SYSTEM): ``job.ps1`` (the job), ``run.ps1`` (the runner the
task starts: it points the job's records at ``journal.jsonl``, writes ``started`` first and
``rc`` last), ``meta``. The start and attach scripts follow the journal, printing each new
line once, until ``rc`` appears (finished) or the task no longer runs without one (lost: the
host rebooted or the task was killed). A dropped WinRM connection does not touch the task:
the controller reconnects and attaches from the last line it received
(:func:`fleetpatch.engine.detached.follow_job`).

The lines these scripts print are the POSIX jobs' (``@@FPJOB@@ JOB/META/STATUS/ERROR``,
:mod:`fleetpatch.platforms.jobs`); the journal lines are the job's JSON records.
"""

from __future__ import annotations

import base64
import re

from fleetpatch.engine.detached import JobLine, JobSpec
from fleetpatch.errors import InputError
from fleetpatch.platforms.render import render
from fleetpatch.platforms.windows.bootstrap import POWERSHELL_FROM_STDIN
from fleetpatch.platforms.windows.markers import marker_params

JOBS_DIR = "C:\\ProgramData\\fleetpatch\\jobs"
MARK = "@@FPJOB@@ "
TIME_LIMIT_HOURS = 12
"""the task is stopped by the Task Scheduler after this long (a hung install)"""
_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_WINDOWS_DIR = re.compile(r"^[A-Za-z]:\\(?:[A-Za-z0-9 ._-]+\\?)*$")


class WindowsJobs:
    """Renders the job scripts (start, attach, cleanup) and reads their output."""

    interpreter = POWERSHELL_FROM_STDIN

    def __init__(self, *, jobs_dir: str = JOBS_DIR, keep_days: int = 7) -> None:
        """Raises:
        InputError: ``jobs_dir`` is not an absolute Windows path of plain characters.
        """
        if not _WINDOWS_DIR.fullmatch(jobs_dir):
            raise InputError(
                f"the Windows jobs directory must be an absolute path like {JOBS_DIR}, "
                f"got {jobs_dir!r}"
            )
        self.jobs_dir = jobs_dir.rstrip("\\")
        self.keep_days = int(keep_days)

    def start(self, spec: JobSpec) -> str:
        """Raises:
        InputError: the job id is not ``[a-z0-9-]`` (at most 64 characters).
        """
        return self._render(
            "job-start",
            spec.id,
            script=base64.b64encode(spec.script.encode("utf-8")).decode("ascii"),
            meta=base64.b64encode(spec.meta.encode("utf-8")).decode("ascii"),
        )

    def attach(self, job: str, *, offset: int) -> str:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InputError(f"a journal offset is a line count >= 0, got {offset!r}")
        return self._render("job-attach", job, offset=offset)

    def cleanup(self, job: str) -> str:
        return self._render("job-cleanup", job)

    def _render(self, operation: str, job: str, **params: object) -> str:
        if not _JOB_ID.fullmatch(job):
            raise InputError(f"{job!r} is not a valid job id")
        return render(
            "windows/templates/job.ps1.j2",
            keep_days=self.keep_days,
            time_limit_hours=TIME_LIMIT_HOURS,
            **marker_params(operation, job=job, jobs_dir=self.jobs_dir, **params),
        )

    def parse_line(self, line: str) -> JobLine:
        line = line.rstrip("\r")
        if not line.startswith(MARK):
            return JobLine("journal", text=line)
        verb, _, rest = line[len(MARK) :].partition(" ")
        parts = rest.split(" ")
        if verb == "JOB" and len(parts) == 4:
            return JobLine("job", origin=parts[1], launcher=parts[2], started=parts[3])
        if verb == "META" and len(parts) == 1:
            try:
                meta = base64.b64decode(parts[0], validate=True).decode("utf-8")
            except ValueError:
                return JobLine("journal", text=line)
            return JobLine("meta", text=meta)
        if verb == "STATUS" and len(parts) == 2:
            rc = int(parts[1]) if parts[1].lstrip("-").isdigit() else None
            return JobLine("status", state=parts[0], rc=rc)
        if verb == "ERROR":
            return JobLine("error", text=rest)
        return JobLine("journal", text=line)
