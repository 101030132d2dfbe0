"""The process exit codes of ``fleetpatch scan`` / ``install`` / ``report``
(docs/report-schema.md)."""

from __future__ import annotations

from enum import IntEnum

from fleetpatch.report.status import HostStatus, host_status
from fleetpatch.results import RunResult


class ExitCode(IntEnum):
    OK = 0
    """every targeted host was scanned (or patched) and is compliant"""
    NON_COMPLIANT = 1
    """every targeted host was scanned, and at least one is non-compliant"""
    BAD_INPUT = 2
    """invalid inventory, baseline, playbook or option; raised by the CLI, nothing ran"""
    HOST_FAILED = 3
    """at least one host could not be scanned or patched (unreachable, auth, host key,
    timeout, unsupported, parse error, skipped or cancelled by itself); wins over
    NON_COMPLIANT"""
    INCOMPLETE = 4
    """the run did not finish: still running, or its controller died (interrupted); only a
    stored run read back (``fleetpatch report``) can be in that state; wins over 3 and 1"""
    CANCELLED = 130
    """the run was cancelled with Ctrl-C (128 + SIGINT); wins over everything"""


_NOT_DONE = frozenset(
    {HostStatus.FAILED, HostStatus.UNSUPPORTED, HostStatus.SKIPPED, HostStatus.CANCELLED}
)


def exit_code_for(run: RunResult) -> int:
    """The exit code for a run: finished, cancelled, or (read back from the store) still
    running or interrupted, which is never a success. Never returns BAD_INPUT."""
    statuses = {host_status(host) for host in run.hosts}
    if run.cancelled:
        return ExitCode.CANCELLED
    if not run.finished:
        return ExitCode.INCOMPLETE
    if statuses & _NOT_DONE:
        return ExitCode.HOST_FAILED
    if HostStatus.NON_COMPLIANT in statuses:
        return ExitCode.NON_COMPLIANT
    return ExitCode.OK
