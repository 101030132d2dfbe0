"""An emulated Windows Server behind the WS-Management endpoint: the Windows Update Agent's
state, changed as a real host would change it, driven by fleetpatch's own scripts.

It does not run PowerShell. A command must be fleetpatch's bootstrap
(``fleetpatch.platforms.windows.bootstrap``) with a script on stdin; the script's marker
(``fleetpatch.platforms.windows.markers`` - the one place the contract is written) says the
operation and the very parameters the script acts on, and the host answers with the records
the real script prints (``fleetpatch.platforms.windows.records``), built here from its state:

* ``scan``: OS, boot time, pending-reboot flags, source, the offered updates (not installed,
  their prerequisites installed and rebooted), the installed ones, history, hotfixes;
* ``job-start`` of an ``install`` job: a "scheduled task" (a thread) installs the requested
  ids one by one, writing the journal; the start script follows the journal (as do
  ``job-attach`` and ``job-cleanup``); an install needing a reboot leaves the update
  installed and a reboot pending;
* ``reboot``: the identity, then the host goes down (connections refused) for the scenario's
  time and comes back with a new boot time; what waited for it is done, what the scenario
  re-offers is offered again, running jobs are gone (their journals stay: lost);
* ``boot-identity``, ``pending-reboot``; ``hook`` for three commands only: ``exit N``,
  ``Write-Output '<text>'``, ``throw '<text>'``.

Anything else - not the bootstrap, no marker, an unknown operation - raises, which fails the
test that made the host. State is in ``self`` (under a lock): tests check it, not only what
fleetpatch reports.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fleetpatch.platforms.windows.bootstrap import BOOTSTRAP
from fleetpatch.platforms.windows.markers import Marker, read_marker
from fleetpatch.platforms.windows.records import RECORD_FIELDS
from tests.winrm.process import CommandRequest, ProcessStopped, RemoteProcess, python_codec
from tests.winrm.windows_scenario import Scenario, UpdateSpec, load_scenario

WU_E_OPERATIONINPROGRESS = "0x80240009"
OK = "0x00000000"
JOB_MARK = "@@FPJOB@@"


def record(kind: str, **fields: Any) -> str:
    """One record line as Write-FpRecord prints it (non-ASCII as \\uXXXX), with exactly the
    fields of its type (RECORD_FIELDS: a drift fails the test that made the host)."""
    if set(fields) != RECORD_FIELDS[kind]:
        raise AssertionError(
            f"the emulator's {kind} record has {sorted(fields)}, the contract "
            f"{sorted(RECORD_FIELDS[kind])}"
        )
    return json.dumps({**fields, "t": kind}, ensure_ascii=True, separators=(",", ":"))


@dataclass
class Job:
    id: str
    meta: str
    ids: list[str]
    started: str
    journal: list[str] = field(default_factory=list)
    rc: int | None = None
    killed: bool = False
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.rc is None and not self.killed


class WindowsUpdateHost:
    """A CommandHandler (tests/winrm/process.py) playing one Windows Server."""

    def __init__(self, scenario: Scenario | str) -> None:
        self.scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.lock = threading.RLock()
        self.specs = {u.id: u for u in self.scenario.updates}
        self.installed: dict[str, str] = {
            u.id: "2024-03-14T02:11:40Z" for u in self.scenario.updates if u.installed
        }
        self.install_counts: dict[str, int] = {}
        self.pending_reboot: set[str] = set()
        """ids installed since the last boot that need a reboot to finish"""
        self.installed_before_boot: set[str] = set(self.installed)
        self.boot_time = datetime.fromisoformat(self.scenario.boot_time.replace("Z", "+00:00"))
        self.boots = 0
        self.busy = self.scenario.busy
        self.history: list[str] = []
        self.jobs: dict[str, Job] = {}
        self.operations: list[Marker] = []

    # --- the state machine --------------------------------------------------------------------

    def offered(self) -> list[UpdateSpec]:
        """What a search for IsInstalled=0 returns now."""
        with self.lock:
            return [
                spec
                for spec in self.scenario.updates
                if spec.id not in self.installed
                and all(r in self.installed_before_boot for r in spec.requires)
            ]

    @property
    def reboot_required(self) -> bool:
        return bool(self.pending_reboot)

    def rebooted(self) -> None:
        """The host restarted: a new boot time, pending work done, re-offered updates back,
        running jobs gone."""
        with self.lock:
            self.boots += 1
            self.boot_time += timedelta(hours=1, seconds=self.boots)
            self.pending_reboot.clear()
            for spec in self.scenario.updates:
                if spec.reoffer_after_reboot and spec.id in self.installed:
                    del self.installed[spec.id]
            self.installed_before_boot = set(self.installed)
            for job in self.jobs.values():
                if job.running:
                    job.killed = True

    def reboot_now(self, host: Any, *, down_for: float | None = None) -> None:
        """Restart at once (a reboot while an install runs)."""
        self.rebooted()
        host.reboot(down_for if down_for is not None else self.scenario.reboot_down_for)

    def _install_one(self, spec: UpdateSpec, job: Job) -> str:
        if spec.install_seconds:
            time.sleep(spec.install_seconds)
        with self.lock:
            if job.killed:
                raise ProcessStopped(job.id)
            self.install_counts[spec.id] = self.install_counts.get(spec.id, 0) + 1
            if spec.fail_hresult:
                self.history.append(spec.id + ":failed")
                return record(
                    "result",
                    id=spec.id,
                    kb=list(spec.kb),
                    title=spec.title,
                    result_code=4,
                    hresult=spec.fail_hresult,
                    reboot_required=False,
                )
            self.installed[spec.id] = self._now()
            self.history.append(spec.id + ":installed")
            needs_reboot = spec.reboot == 1
            if needs_reboot:
                self.pending_reboot.add(spec.id)
            return record(
                "result",
                id=spec.id,
                kb=list(spec.kb),
                title=spec.title,
                result_code=2,
                hresult=OK,
                reboot_required=needs_reboot,
            )

    def _now(self) -> str:
        return (self.boot_time + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- the handler --------------------------------------------------------------------------

    def run(self, request: CommandRequest, process: RemoteProcess) -> int:
        if request.powershell_script != BOOTSTRAP:
            raise AssertionError(f"not fleetpatch's bootstrap: {request.command_line[:120]!r}")
        script = process.read_all_stdin().decode("utf-8")
        marker = read_marker(script)
        with self.lock:
            self.operations.append(marker)
        out = _Output(process, self.scenario.console_codepage)
        handler = getattr(self, "_op_" + marker.operation.replace("-", "_"))
        handler(marker, out, process)
        return 0

    def _op_scan(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        with self.lock:
            out.step("os")
            out.line(record("os", **self.scenario.os))
            out.step("boot")
            out.line(self._boot_record())
            out.step("reboot")
            out.line(self._reboot_record())
            out.step("source")
            source = self.scenario.source
            out.line(
                record(
                    "source",
                    wsus=bool(source.get("wsus")),
                    server=source.get("server"),
                    service=source.get("service", "Microsoft Update"),
                    service_id="7971f918-a847-4430-9279-4a52d1efe18d",
                )
            )
            out.step("search")
            offered = self.offered()
            out.line(
                record(
                    "search", criteria="available", result_code=2, count=len(offered), warnings=0
                )
            )
            for spec in offered:
                out.line(_update_record("update", spec))
            out.step("installed")
            installed = [self.specs[i] for i in self.installed if i in self.specs]
            out.line(
                record(
                    "search", criteria="installed", result_code=2, count=len(installed), warnings=0
                )
            )
            for spec in installed:
                out.line(_update_record("installed", spec))
            out.step("history")
            for entry in self.history:
                update_id, _, outcome = entry.partition(":")
                spec = self.specs[update_id]
                out.line(
                    record(
                        "history",
                        id=spec.id,
                        rev=spec.rev,
                        title=spec.title,
                        operation=1,
                        result_code=2 if outcome == "installed" else 4,
                        hresult=OK if outcome == "installed" else (spec.fail_hresult or OK),
                        date=self._now(),
                        client="fleetpatch",
                    )
                )
            out.step("hotfix")
            out.step("done")
            out.exit("done")

    def _boot_record(self) -> str:
        return record("boot", last_boot=self.boot_time.strftime("%Y-%m-%dT%H:%M:%SZ"), servicing=0)

    def _reboot_record(self) -> str:
        pending = self.reboot_required
        return record("reboot", cbs=pending, wu=pending, file_rename=False, system_info=pending)

    def _op_boot_identity(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        with self.lock:
            out.step("boot")
            out.line(self._boot_record())
        out.step("done")
        out.exit("done")

    def _op_pending_reboot(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        with self.lock:
            out.step("reboot")
            out.line(self._reboot_record())
        out.step("done")
        out.exit("done")

    def _op_reboot(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        with self.lock:
            out.step("boot")
            out.line(self._boot_record())
        out.step("schedule")
        out.line(record("schedule", delay=int(marker.params["delay"]), scheduled=True))
        out.step("done")
        out.exit("done")
        host = process.host

        def restart() -> None:
            self.rebooted()
            host.reboot(self.scenario.reboot_down_for)

        timer = threading.Timer(self.scenario.reboot_after, restart)
        timer.daemon = True
        timer.start()

    def _op_hook(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        command = str(marker.params["command"]).strip()
        out.step("hook")
        if match := re.fullmatch(r"exit (\d+)", command):
            rc, output = int(match.group(1)), ""
        elif match := re.fullmatch(r"Write-Output '((?:[^']|'')*)'", command):
            rc, output = 0, match.group(1).replace("''", "'") + "\r\n"
        elif match := re.fullmatch(r"throw '((?:[^']|'')*)'", command):
            rc, output = 1, match.group(1).replace("''", "'") + "\r\n"
        else:
            raise AssertionError(f"the emulator cannot run the hook {command!r}")
        out.line(record("hook", rc=rc, output=output))
        out.step("done")
        out.exit("done")

    # --- jobs ---------------------------------------------------------------------------------

    def _op_job_start(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        job_id = str(marker.params["job"])
        inner = read_marker(marker.embedded_script())
        if inner.operation != "install":
            raise AssertionError(f"a job of {inner.operation!r}: only install jobs exist")
        with self.lock:
            self.operations.append(inner)
            job = self.jobs.get(job_id)
            origin = "existing"
            if job is None:
                origin = "new"
                job = Job(
                    job_id,
                    str(marker.params["meta"]),
                    [str(i).lower() for i in inner.params["ids"]],
                    started=self._now(),
                )
                self.jobs[job_id] = job
                job.thread = threading.Thread(
                    target=self._run_install_job, args=(job,), daemon=True, name=f"task-{job_id}"
                )
                job.thread.start()
        self._follow(job, origin, 0, out, process)

    def _op_job_attach(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        with self.lock:
            job = self.jobs.get(str(marker.params["job"]))
        if job is None:
            out.line(f"{JOB_MARK} JOB {marker.params['job']} absent - -")
            out.line(f"{JOB_MARK} STATUS absent -")
            return
        self._follow(job, "existing", int(marker.params["offset"]), out, process)

    def _op_job_cleanup(self, marker: Marker, out: _Output, process: RemoteProcess) -> None:
        with self.lock:
            job = self.jobs.get(str(marker.params["job"]))
            if job is None:
                out.line(f"{JOB_MARK} STATUS absent -")
            elif job.running:
                out.line(f"{JOB_MARK} STATUS running -")
            else:
                del self.jobs[job.id]
                out.line(f"{JOB_MARK} STATUS removed -")

    def _follow(
        self, job: Job, origin: str, offset: int, out: _Output, process: RemoteProcess
    ) -> None:
        out.line(f"{JOB_MARK} JOB {job.id} {origin} task {job.started}")
        out.line(f"{JOB_MARK} META {job.meta}")
        printed = offset
        while True:
            with self.lock:
                lines = list(job.journal)
                rc, killed = job.rc, job.killed
            for line in lines[printed:]:
                out.line(line)
            printed = max(printed, len(lines))
            if rc is not None:
                out.line(f"{JOB_MARK} STATUS finished {rc}")
                return
            if killed:
                out.line(f"{JOB_MARK} STATUS lost -")
                return
            if not process.sleep(0.05):
                return

    def _run_install_job(self, job: Job) -> None:
        def write(line: str) -> None:
            with self.lock:
                if job.killed:
                    raise ProcessStopped(job.id)
                job.journal.append(line)

        step = "start"
        try:
            step = "search"
            write(record("step", step=step))
            offered = {spec.id: spec for spec in self.offered()}
            chosen = [offered[i] for i in job.ids if i in offered]
            write(
                record(
                    "selected",
                    requested=job.ids,
                    found=[spec.id for spec in chosen],
                    missing=[i for i in job.ids if i not in offered],
                )
            )
            step = "download"
            write(record("step", step=step))
            for spec in chosen:
                write(record("download", id=spec.id, result_code=2, hresult=OK))
            step = "install"
            write(record("step", step=step))
            if self.busy:
                write(
                    record(
                        "exit",
                        step=step,
                        hresult=WU_E_OPERATIONINPROGRESS,
                        error="Another Windows Update operation is in progress",
                    )
                )
                with self.lock:
                    job.rc = 0
                return
            for spec in chosen:
                write(self._install_one(spec, job))
            step = "reboot"
            write(record("step", step=step))
            with self.lock:
                write(self._reboot_record())
            write(record("step", step="done"))
            write(record("exit", step="done", hresult=OK, error=""))
            with self.lock:
                job.rc = 0
        except ProcessStopped:
            return  # the host rebooted under the job: no rc, its journal stays (lost)


class _Output:
    """Writes lines to the client, in the console's code page when the scenario forces one."""

    def __init__(self, process: RemoteProcess, codepage: int | None) -> None:
        self.process = process
        self.codepage = codepage

    def line(self, text: str) -> None:
        data = text + "\r\n"
        if self.codepage is not None:
            self.process.write(data.encode(python_codec(self.codepage), errors="replace"))
        else:
            self.process.write(data)

    def step(self, name: str) -> None:
        self.line(record("step", step=name))

    def exit(self, step: str, hresult: str = OK, error: str = "") -> None:
        self.line(record("exit", step=step, hresult=hresult, error=error))


def _update_record(kind: str, spec: UpdateSpec) -> str:
    return record(
        kind,
        id=spec.id,
        rev=spec.rev,
        title=spec.title,
        kb=list(spec.kb),
        classifications=[spec.classification_category()],
        products=[
            {
                "id": base64.b32encode(spec.product.encode()).decode()[:16],
                "name": spec.product,
                "family": spec.family,
            }
        ],
        msrc=spec.msrc,
        released=spec.released,
        reboot=spec.reboot,
        cves=list(spec.cves),
        bulletins=list(spec.bulletins),
        downloaded=False,
        mandatory=False,
        eula=True,
        browse_only=False,
    )
