"""Detached jobs on POSIX hosts (:class:`fleetpatch.engine.detached.JobHost` in ``sh``).

Where: ``/var/lib/fleetpatch/jobs/<id>/`` (root, mode 0700): ``script`` (the job),
``meta``, ``run`` (the runner), ``launcher``, ``pid`` (``PID STARTTIME`` of the runner),
``started``, ``journal`` (the job's stdout and stderr) and ``rc`` (its exit status, written
last). How: ``systemd-run`` (a transient system unit, outside the SSH session's scope, so
logind's KillUserProcesses cannot end it) when systemd is PID 1, else ``setsid nohup``
(its own session: the SSH session's hang-up does not reach it). The runner redirects every
stream to files, so nothing of it waits on the connection.

The job directory is removed by the controller once it has read the journal to its end
(:meth:`PosixJobs.cleanup`); a start also prunes finished jobs older than a week that a
controller never came back for. The template is ``templates/job.sh.j2``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fleetpatch.engine.detached import JobLine, JobSpec
from fleetpatch.errors import InputError
from fleetpatch.platforms.render import render

JOBS_DIR = "/var/lib/fleetpatch/jobs"
MARK = "@@FPJOB@@ "
_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class PosixJobs:
    """Renders the job scripts (start, attach, cleanup) and reads their output."""

    interpreter = "sh -s"

    def __init__(
        self,
        *,
        jobs_dir: str = JOBS_DIR,
        keep_days: int = 7,
        init_comm: str = "/proc/1/comm",
        systemd_run: str = "systemd-run",
    ):
        # init_comm and systemd_run are where the launcher looks for systemd; tests point
        # them elsewhere to exercise the systemd path on a host without systemd
        if not jobs_dir.startswith("/"):
            raise InputError(f"the jobs directory must be an absolute path, got {jobs_dir!r}")
        self.jobs_dir = jobs_dir
        self.keep_days = int(keep_days)
        self.init_comm = init_comm
        self.systemd_run = systemd_run

    def start(self, spec: JobSpec) -> str:
        """Raises:
        InputError: the job id is not ``[a-z0-9-]`` (at most 64 characters).
        """
        script = spec.script if spec.script.endswith("\n") else spec.script + "\n"
        return self._render(
            "start",
            spec.id,
            script=script,
            delimiter=_delimiter(script),
            meta=base64.b64encode(spec.meta.encode()).decode(),
        )

    def attach(self, job: str, *, offset: int) -> str:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InputError(f"a journal offset is a line count >= 0, got {offset!r}")
        return self._render("attach", job, offset=offset)

    def cleanup(self, job: str) -> str:
        return self._render("cleanup", job)

    def _render(self, action: str, job: str, **params: object) -> str:
        if not _JOB_ID.fullmatch(job):
            raise InputError(f"{job!r} is not a valid job id")
        return render(
            "templates/job.sh.j2",
            action=action,
            job_id=job,
            jobs_dir=self.jobs_dir,
            keep_days=self.keep_days,
            init_comm=self.init_comm,
            systemd_run=self.systemd_run,
            **{"script": "", "delimiter": "", "meta": "", "offset": 0, **params},
        )

    def parse_line(self, line: str) -> JobLine:
        if not line.startswith(MARK):
            return JobLine("journal", text=line)
        verb, _, rest = line[len(MARK) :].partition(" ")
        parts = rest.split(" ")
        if verb == "JOB" and len(parts) == 4:
            return JobLine("job", origin=parts[1], launcher=parts[2], started=parts[3])
        if verb == "META" and len(parts) == 1:
            try:
                meta = base64.b64decode(parts[0], validate=True).decode()
            except ValueError:
                return JobLine("journal", text=line)
            return JobLine("meta", text=meta)
        if verb == "STATUS" and len(parts) == 2:
            rc = int(parts[1]) if parts[1].lstrip("-").isdigit() and parts[1] != "-" else None
            return JobLine("status", state=parts[0], rc=rc)
        if verb == "ERROR":
            return JobLine("error", text=rest)
        return JobLine("journal", text=line)


def _delimiter(script: str) -> str:
    """A here-document delimiter that is no line of ``script``."""
    salt = hashlib.sha256(script.encode()).hexdigest()[:16]
    delimiter = f"FP_JOB_SCRIPT_{salt}"
    while any(line == delimiter for line in script.splitlines()):
        delimiter += "_"
    return delimiter
