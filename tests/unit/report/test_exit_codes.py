"""exit_code_for, table-driven."""

from __future__ import annotations

import pytest
from result_builders import failed_host, ok_host, patch_item, run_of

from fleetpatch.compliance import PatchState
from fleetpatch.report import ExitCode, exit_code_for
from fleetpatch.results import HostOutcome, HostResult

COMPLIANT = ok_host("ok-1", [patch_item("bash", PatchState.INSTALLED)])
NON_COMPLIANT = ok_host("nc-1", [patch_item("openssl", PatchState.MISSING)])
PENDING_REBOOT = ok_host("pr-1", [patch_item("linux", PatchState.INSTALLED_PENDING_REBOOT)])
NOT_EVALUATED = COMPLIANT.model_copy(update={"host": "ne-1", "compliance": None})


def _failed(kind: str, outcome: HostOutcome = HostOutcome.FAILED) -> HostResult:
    return failed_host(f"f-{kind}", kind, outcome=outcome)


CASES: list[tuple[str, list[HostResult], bool, int]] = [
    ("empty run", [], False, 0),
    ("all compliant", [COMPLIANT], False, 0),
    ("not evaluated counts as scanned", [COMPLIANT, NOT_EVALUATED], False, 0),
    ("one non-compliant", [COMPLIANT, NON_COMPLIANT], False, 1),
    ("pending reboot is non-compliant", [PENDING_REBOOT], False, 1),
    *(
        (f"{kind} wins over non-compliant", [NON_COMPLIANT, _failed(kind)], False, 3)
        for kind in ("unreachable", "auth", "host_key", "timeout", "parse")
    ),
    ("unsupported", [COMPLIANT, _failed("unsupported", HostOutcome.UNSUPPORTED)], False, 3),
    ("skipped host", [COMPLIANT, _failed("budget", HostOutcome.SKIPPED)], False, 3),
    ("host cancelled alone", [COMPLIANT, _failed("window", HostOutcome.CANCELLED)], False, 3),
    ("ctrl-c wins over everything", [NON_COMPLIANT, _failed("auth")], True, 130),
    ("ctrl-c with nothing done", [], True, 130),
]


@pytest.mark.parametrize(
    ("hosts", "cancelled", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_exit_code_for(hosts: list[HostResult], cancelled: bool, expected: int) -> None:
    assert exit_code_for(run_of(hosts, cancelled=cancelled)) == expected


def test_documented_values() -> None:
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("NON_COMPLIANT", 1),
        ("BAD_INPUT", 2),
        ("HOST_FAILED", 3),
        ("INCOMPLETE", 4),
        ("CANCELLED", 130),
    ]


@pytest.mark.parametrize("status", ["running", "interrupted"])
@pytest.mark.parametrize(
    "hosts", [[], [COMPLIANT], [COMPLIANT, NON_COMPLIANT, _failed("auth")]], ids=["0", "1", "3"]
)
def test_a_run_that_did_not_finish_is_never_a_success(status: str, hosts: list[HostResult]) -> None:
    run = run_of(hosts).model_copy(update={"status": status})
    assert exit_code_for(run) == ExitCode.INCOMPLETE == 4
