"""Pure parts of the Windows platform: records, the job lines, the install journal, rounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fleetpatch.errors import InputError, ParseError
from fleetpatch.facts import AvailableUpdate, HostFacts, OsInfo
from fleetpatch.platforms.render import ps_quote
from fleetpatch.platforms.windows.install import (
    UpdateTarget,
    describe_hresult,
    install_targets,
    locked_reason,
    parse_install_journal,
    plan_install,
)
from fleetpatch.platforms.windows.jobs import WindowsJobs
from fleetpatch.platforms.windows.markers import marker_params, read_marker
from fleetpatch.platforms.windows.records import last_step, parse_records
from fleetpatch.platforms.windows.rounds import RoundResult, next_round
from fleetpatch.results import PlannedPackage

A = "8d8a6a54-3b6e-4f3a-9a58-0f6b1a5f6a01"
B = "0f3a9b2c-5d6e-4f70-8192-a3b4c5d6e706"


def line(kind: str, **fields: object) -> str:
    return json.dumps({"t": kind, **fields})


def exit_line(step: str = "done", hresult: str = "0x00000000", error: str = "") -> str:
    return line("exit", step=step, hresult=hresult, error=error)


# --- records ---------------------------------------------------------------------------------


def test_records_keep_noise_and_need_their_exit_record() -> None:
    text = "\r\n".join(["profile chatter", line("step", step="os"), exit_line()]) + "\r\n"
    records = parse_records(text)
    assert records.noise == ("profile chatter",) and records.exit.ok
    with pytest.raises(ParseError, match="cut short in step 'os'"):
        parse_records(line("step", step="os"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"t": "step"', "line 1: expected a JSON record"),
        ('{"step": "x"}', "with a type 't'"),
        (line("step"), "step record without step"),
        (line("bogus", a=1), "unknown record type 'bogus'"),
        (exit_line() + "\n" + line("step", step="x"), "after the exit record"),
    ],
)
def test_records_fail_loudly_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_records(text + "\n" + exit_line())


def test_last_step_never_raises() -> None:
    assert last_step("garbage\n{not json\n" + line("step", step="install")) == "install"
    assert last_step("") == ""


def test_marker_round_trip_and_refusals() -> None:
    params = marker_params("hook", command="it's")
    literal = ps_quote(params["params_json"])
    script = f"$FpOperation = 'hook'\n$FpParams = {literal} | ConvertFrom-Json\n"
    assert read_marker(script).params == {"command": "it's"}
    with pytest.raises(ParseError, match="no \\$FpOperation"):
        read_marker("Write-Output 1")
    with pytest.raises(ValueError):
        marker_params("format-disk")


# --- jobs --------------------------------------------------------------------------------------


def test_job_lines_are_the_posix_protocol_with_crlf() -> None:
    jobs = WindowsJobs()
    assert jobs.parse_line("@@FPJOB@@ JOB fp-1 new task 2024-05-01T00:00:00Z\r").origin == "new"
    assert jobs.parse_line("@@FPJOB@@ META bWV0YQ==\r").text == "meta"
    status = jobs.parse_line("@@FPJOB@@ STATUS finished 0\r")
    assert (status.kind, status.state, status.rc) == ("status", "finished", 0)
    lost = jobs.parse_line("@@FPJOB@@ STATUS lost -")
    assert (lost.state, lost.rc) == ("lost", None)
    journal = jobs.parse_line(line("step", step="install") + "\r")
    assert journal.kind == "journal" and journal.text.endswith("}")


@pytest.mark.parametrize("bad", ["C:relative", "/var/lib", "C:\\a;b", "\\\\server\\share"])
def test_job_directory_must_be_a_plain_absolute_windows_path(bad: str) -> None:
    with pytest.raises(InputError):
        WindowsJobs(jobs_dir=bad)


def test_job_ids_are_checked() -> None:
    with pytest.raises(InputError):
        WindowsJobs().cleanup("x'; Remove-Item C:\\")
    with pytest.raises(InputError):
        WindowsJobs().attach("fp-1", offset=-1)


# --- install --------------------------------------------------------------------------------


def facts(*updates: AvailableUpdate) -> HostFacts:
    return HostFacts(
        host="h",
        collected_at=datetime(2024, 5, 1, tzinfo=UTC),
        os=OsInfo(
            family="windows",
            distro="windows",
            version_id="10.0.17763",
            product="WindowsServer2019",
            operating_system="WINDOWS",
        ),
        updates=updates,
    )


def update(name: str, update_id: str, reboot: bool = True) -> AvailableUpdate:
    return AvailableUpdate(
        name=name,
        candidate_version="200",
        kind="update",
        security=True,
        update_id=update_id,
        title=f"{name} title",
        reboot_suggested=reboot,
    )


def test_targets_are_every_update_of_an_approved_kb_and_nothing_else() -> None:
    host = facts(update("KB1", A), update("KB1", B, reboot=False), update("KB2", "c" * 8 + A[8:]))
    targets = install_targets(host, [PlannedPackage(name="kb1", version="200")])
    assert [t.update_id for t in targets] == [A, B]
    with pytest.raises(InputError, match="KB9 is not among"):
        install_targets(host, [PlannedPackage(name="KB9", version="1")])
    with pytest.raises(InputError, match="not an update id"):
        install_targets(facts(update("KB1", "'; rm")), [PlannedPackage(name="KB1", version="1")])


def test_the_dry_run_plan_names_ids_titles_rules_and_the_reboot() -> None:
    host = facts(update("KB1", A, reboot=False), update("KB2", B, reboot=True))
    plan = plan_install(
        host, [PlannedPackage(name="KB2", version="200", reason="approval_rules[0]")]
    )
    assert plan.reboot_required
    assert plan.planned[0].reason == f"approval_rules[0]; update {B}: KB2 title"


TARGETS = [UpdateTarget(A, "KB1", "one", "200", True), UpdateTarget(B, "KB2", "two", "1", False)]


def test_journal_verdicts() -> None:
    journal = "\n".join(
        [
            line("selected", requested=[A, B], found=[A, B], missing=[]),
            line(
                "result",
                id=A,
                kb=["KB1"],
                title="one",
                result_code=2,
                hresult="0x00000000",
                reboot_required=True,
            ),
            line(
                "result",
                id=B,
                kb=["KB2"],
                title="two",
                result_code=4,
                hresult="0x80070643",
                reboot_required=False,
            ),
            line("reboot", cbs=True, wu=False, file_rename=False, system_info=True),
            exit_line(),
        ]
    )
    outcome = parse_install_journal(journal, TARGETS)
    assert outcome.installed == ("KB1",) and outcome.reboot_required
    assert "0x80070643 ERROR_INSTALL_FAILURE" in outcome.failed["KB2"]
    assert "failed (result code 4)" in outcome.failed["KB2"]


def test_journal_of_a_job_that_stopped_fails_what_did_not_run() -> None:
    journal = "\n".join(
        [
            line("selected", requested=[A, B], found=[A], missing=[B]),
            exit_line("install", "0x80240009", "busy"),
        ]
    )
    outcome = parse_install_journal(journal, TARGETS)
    assert "KB1" in outcome.failed and "WU_E_OPERATIONINPROGRESS" in outcome.failed["KB1"]
    assert "KB2" not in outcome.failed and "KB2 is no longer offered" in outcome.notes[0]
    assert locked_reason(journal) is not None
    assert locked_reason(exit_line()) is None and locked_reason("{broken") is None


def test_a_result_for_an_id_never_requested_is_refused() -> None:
    journal = line(
        "result",
        id="ffffffff" + A[8:],
        kb=[],
        title="",
        result_code=2,
        hresult="0x0",
        reboot_required=False,
    )
    with pytest.raises(ParseError, match="never requested"):
        parse_install_journal(journal + "\n" + exit_line(), TARGETS)


def test_hresult_names() -> None:
    assert describe_hresult("0x80240009").startswith("0x80240009 WU_E_OPERATIONINPROGRESS")
    assert describe_hresult("0x8024FFFF") == "0x8024FFFF"
    assert describe_hresult("nonsense") == "nonsense"


# --- rounds ----------------------------------------------------------------------------------


def test_rounds() -> None:
    offered = {A: "KB1 (one)", B: "KB2 (two)"}
    assert next_round([], offered).install == (B, A) or next_round([], offered).install == tuple(
        sorted(offered)
    )
    assert next_round([], {}).action == "done"
    # B failed in round 1 and is offered again: not retried, not a loop
    done = next_round([RoundResult(installed=(A,), failed={B: "x"})], {B: "KB2 (two)"})
    assert done.action == "done"
    # A reported installed in round 1 and is offered again: a loop, named
    loop = next_round([RoundResult(installed=(A,))], offered)
    assert loop.action == "failed" and loop.looping == (A,)
    assert "KB1 (one) (reported installed in round 1)" in loop.message
    # something new after the last allowed round
    spent = next_round([RoundResult(installed=("z",))] * 2, {B: "KB2 (two)"}, max_rounds=2)
    assert spent.action == "failed" and "after 2 round(s): KB2 (two)" in spent.message
    with pytest.raises(ValueError):
        next_round([], offered, max_rounds=0)
