"""Detached jobs, POSIX side: the rendered scripts run with the local /bin/sh against a jobs
directory under tmp_path (the same scripts the lab runs as root on its hosts), and the
engine's driver follows them, through cut connections too."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetpatch.engine.detached import JobReport, JobSpec, follow_job, job_id
from fleetpatch.errors import ConnectionLost, InputError
from fleetpatch.platforms.jobs import PosixJobs


def sh(script: str) -> str:
    proc = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def report_of(jobs: PosixJobs, text: str) -> JobReport:
    """What the driver makes of one script's whole output."""
    report = JobReport(id="", state="absent")
    for line in text.splitlines():
        parsed = jobs.parse_line(line)
        if parsed.kind == "journal":
            report.journal.append(parsed.text)
        elif parsed.kind == "status":
            report.state, report.rc = parsed.state, parsed.rc  # type: ignore[assignment]
        elif parsed.kind == "meta":
            report.meta = parsed.text
        elif parsed.kind == "job":
            report.origin, report.launcher = parsed.origin, parsed.launcher
    return report


@pytest.fixture
def jobs(tmp_path: Path) -> PosixJobs:
    return PosixJobs(jobs_dir=str(tmp_path / "var" / "jobs"))


def test_job_id_is_the_same_for_a_run_and_host_and_differs_otherwise() -> None:
    assert job_id("run-1", "web-1") == job_id("run-1", "web-1")
    assert len({job_id("run-1", "web-1"), job_id("run-2", "web-1"), job_id("run-1", "web-2")}) == 3


def test_start_runs_the_script_once_and_follows_its_journal(
    jobs: PosixJobs, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    script = f"echo run >> {counter}\necho one\nsleep 1\necho two >&2\nprintf three\nexit 3\n"
    spec = JobSpec(id="fp-test-1", script=script, meta='{"packages": ["a b"]}')
    first = report_of(jobs, sh(jobs.start(spec)))
    assert (first.state, first.rc, first.origin) == ("finished", 3, "new")
    assert first.journal == ["one", "two", "three"]
    assert first.meta == '{"packages": ["a b"]}'
    assert first.launcher == "setsid"
    again = report_of(jobs, sh(jobs.start(spec)))  # same id: attached, not run again
    assert (again.state, again.rc, again.origin) == ("finished", 3, "existing")
    assert again.journal == ["one", "two", "three"]
    assert counter.read_text() == "run\n"
    job_dir = Path(jobs.jobs_dir) / "fp-test-1"
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(jobs.jobs_dir).stat().st_mode) == 0o700
    assert sorted(p.name for p in job_dir.iterdir()) == [
        "journal",
        "launcher",
        "meta",
        "pid",
        "rc",
        "run",
        "script",
        "started",
    ]


def test_attach_from_an_offset_and_cleanup(jobs: PosixJobs) -> None:
    spec = JobSpec(id="fp-test-2", script="echo a\necho b\necho c\n")
    sh(jobs.start(spec))
    tail = report_of(jobs, sh(jobs.attach("fp-test-2", offset=2)))
    assert (tail.state, tail.rc, tail.journal) == ("finished", 0, ["c"])
    assert "STATUS removed" in sh(jobs.cleanup("fp-test-2"))
    assert not (Path(jobs.jobs_dir) / "fp-test-2").exists()
    gone = report_of(jobs, sh(jobs.attach("fp-test-2", offset=0)))
    assert gone.state == "absent"


def test_a_job_whose_runner_dies_is_lost_not_finished(jobs: PosixJobs) -> None:
    # the script kills its runner (what a host killed mid-install does to it): no exit status
    spec = JobSpec(id="fp-test-3", script="echo before\nkill -KILL $PPID\nsleep 1\necho after\n")
    report = report_of(jobs, sh(jobs.start(spec)))
    assert (report.state, report.rc) == ("lost", None)
    assert report.journal[0] == "before"
    assert "STATUS removed" in sh(jobs.cleanup("fp-test-3"))


def test_cleanup_leaves_a_running_job_alone(jobs: PosixJobs, tmp_path: Path) -> None:
    spec = JobSpec(id="fp-test-4", script="sleep 3\n")
    script = tmp_path / "start.sh"
    script.write_text(jobs.start(spec))
    with script.open() as stdin:
        proc = subprocess.Popen(["sh", "-s"], stdin=stdin, stdout=subprocess.PIPE, text=True)
    pid = Path(jobs.jobs_dir) / "fp-test-4" / "pid"
    for _ in range(50):
        if pid.exists():
            break
        time.sleep(0.1)
    assert "STATUS running" in sh(jobs.cleanup("fp-test-4"))
    proc.communicate(timeout=30)
    assert "STATUS removed" in sh(jobs.cleanup("fp-test-4"))


def test_systemd_path_runs_the_runner_through_systemd_run(
    tmp_path: Path,
) -> None:
    comm = tmp_path / "comm"
    comm.write_text("systemd\n")
    calls = tmp_path / "systemd-run.args"
    fake = tmp_path / "systemd-run"
    # stands in for systemd-run: records its arguments and starts the command detached
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > ' + str(calls) + "\n"
        'while [ "${1#--}" != "$1" ]; do shift; done\n'
        'setsid "$@" </dev/null >/dev/null 2>&1 &\n'
    )
    fake.chmod(0o755)
    jobs = PosixJobs(jobs_dir=str(tmp_path / "jobs"), init_comm=str(comm), systemd_run=str(fake))
    report = report_of(jobs, sh(jobs.start(JobSpec(id="fp-test-5", script="echo via unit\n"))))
    assert (report.state, report.rc, report.journal) == ("finished", 0, ["via unit"])
    assert report.launcher == "systemd-run"
    args = calls.read_text().splitlines()
    assert "--unit=fleetpatch-job-fp-test-5" in args
    assert "--collect" in args and "--property=KillMode=process" in args
    assert args[-2:] == ["/bin/sh", str(tmp_path / "jobs" / "fp-test-5" / "run")]


def test_scripts_refuse_bad_ids_and_offsets(jobs: PosixJobs) -> None:
    with pytest.raises(InputError, match="not a valid job id"):
        jobs.attach("../etc", offset=0)
    with pytest.raises(InputError, match="line count"):
        jobs.attach("fp-x", offset=-1)


def test_a_script_line_equal_to_the_delimiter_cannot_end_the_here_document(
    jobs: PosixJobs,
) -> None:
    probe = jobs.start(JobSpec(id="fp-probe", script="echo x\n"))
    delimiter = next(ln for ln in probe.splitlines() if ln.startswith("FP_JOB_SCRIPT_"))
    script = f"echo {delimiter}\ncat <<'{delimiter}'\n{delimiter}\necho done\n"
    report = report_of(jobs, sh(jobs.start(JobSpec(id="fp-test-6", script=script))))
    assert report.journal[-1] == "done" and report.rc == 0


class CuttingRunner:
    """Runs job scripts with the local sh; the first ``cuts`` calls lose the connection after
    ``after`` lines of output (the rest of that output never arrives)."""

    def __init__(self, cuts: int, after: int):
        self.cuts = cuts
        self.after = after
        self.calls: list[str] = []
        self.reconnects = 0

    async def run(self, script: str, operation: str, on_output: Callable[[str], None]) -> None:
        self.calls.append(operation)
        out = await asyncio.to_thread(sh, script)
        if self.cuts:
            self.cuts -= 1
            kept = "".join(line + "\n" for line in out.splitlines()[: self.after])
            on_output(kept + "half a li")  # and a line cut in the middle
            raise ConnectionLost("connection lost while running a command")
        on_output(out)

    async def reconnect(self) -> None:
        self.reconnects += 1


async def test_driver_reattaches_from_the_last_line_it_received(jobs: PosixJobs) -> None:
    script = "".join(f"echo line{i}\n" for i in range(6)) + "exit 5\n"
    runner = CuttingRunner(cuts=2, after=4)  # header + meta + 2 journal lines, then a cut
    seen: list[str] = []
    report = await follow_job(
        jobs,
        JobSpec(id="fp-test-7", script=script, meta="m"),
        run=runner.run,
        reconnect=runner.reconnect,
        reconnect_timeout=30,
        on_line=seen.append,
        backoff=(0.01, 0.01),
    )
    assert runner.calls == ["job-start", "job-attach", "job-attach"]
    assert (report.state, report.rc, report.reconnects) == ("finished", 5, 2)
    assert report.journal == [f"line{i}" for i in range(6)]  # each line once, in order
    assert seen == report.journal
    assert (report.origin, report.meta) == ("new", "m")


async def test_driver_gives_up_after_the_reconnect_timeout(jobs: PosixJobs) -> None:
    async def never(script: str, operation: str, on_output: Callable[[str], None]) -> None:
        on_output("@@FPJOB@@ JOB fp-test-8 new setsid -\n@@FP@@ BEGIN apt.install\nUnpack")
        raise ConnectionLost("connection lost")

    async def refused() -> None:
        from fleetpatch.errors import ConnectError

        raise ConnectError("connection refused")

    with pytest.raises(ConnectionLost, match=r"could not be reached again within 0\.2s") as info:
        await follow_job(
            jobs,
            JobSpec(id="fp-test-8", script="true\n"),
            run=never,
            reconnect=refused,
            reconnect_timeout=0.2,
            backoff=(0.05, 0.05),
        )
    assert info.value.stdout == "@@FP@@ BEGIN apt.install\n"


def test_apt_repair_script_is_valid_sh_and_its_note_says_what_was_done() -> None:
    from fleetpatch.platforms.apt.install import apt_repair_script, parse_apt_repair

    script = apt_repair_script(lock_timeout=5)
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert (
        "fp_section apt.dpkg_recover" in script
        and "apt-get -q -y" not in script.split("fp_section apt.dpkg_recover")[1].split("exit 0")[0]
    )
    transcript = (
        "@@FP@@ BEGIN apt.dpkg_recover\naudit\tThe following packages are only half configured\n"
        "state\tinterrupted\naction\tconfigure\nrc\t0\n\n@@FP@@ END apt.dpkg_recover 0\n"
        "@@FP@@ EXIT done 0\n"
    )
    assert parse_apt_repair(transcript) == (
        "dpkg was interrupted before this run; dpkg --configure -a succeeded",
    )
