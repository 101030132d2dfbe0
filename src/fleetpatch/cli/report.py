"""`fleetpatch report`: render a stored run again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetpatch.cli.common import input_errors, stderr_console
from fleetpatch.cli.scan import FormatOpt, StoreOpt, emit_report
from fleetpatch.errors import InputError

if TYPE_CHECKING:
    from fleetpatch.results import RunResult


def report(
    run: Annotated[
        str | None, typer.Option("--run", help="Run id (default: the latest run).")
    ] = None,
    store: StoreOpt = None,
    output_format: FormatOpt = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Render a stored run again (table or JSON); exit code as the run's own.

    A run that did not finish says so: still **running**, or **interrupted** (its controller
    died, or its store failed, before the run was recorded as finished). It shows the hosts
    stored so far, and its exit code is 4, never a success.

    Exit codes: 0 compliant, 1 non-compliant, 2 bad input or an unusable store, 3 some host
    failed, 4 the run did not finish (running or interrupted), 130 the run was cancelled.

    Examples:

      fleetpatch report

      fleetpatch report --run 20261122T044501Z-3f2a --format json -o run.json

      fleetpatch runs          # the stored runs and their status
    """
    from fleetpatch.report.exit_codes import exit_code_for
    from fleetpatch.store import open_store_for_reading

    with input_errors():
        db = open_store_for_reading(store)
        try:
            run_id = run or db.latest_run_id()
            if run_id is None:
                raise InputError("the store holds no run yet; run `fleetpatch scan` first")
            result = db.load_run(run_id)
        finally:
            db.close()
    emit_report(result, output_format=output_format, output=output, verbose=verbose)
    code = exit_code_for(result)
    if not result.finished:
        stderr_console().print(unfinished_notice(result, code), markup=False, highlight=False)
    raise typer.Exit(code)


def unfinished_notice(run: RunResult, code: int) -> str:
    """What a report of a run that did not finish says about it."""
    from fleetpatch.report.safe_text import printable

    controller = printable(run.controller or "unknown")
    if run.status == "interrupted":
        why = f"its controller {controller} is gone without recording it as finished"
    else:
        why = f"its controller {controller} is still at it"
    stored = str(len(run.hosts))
    if run.targeted_hosts is not None:
        stored += f" of {run.targeted_hosts} targeted"
    text = (
        f"run {run.run_id} did not finish: {run.status} ({why}); {stored} hosts were stored; "
        f"exit code {code}"
    )
    if run.status == "interrupted" and run.operation == "install":
        text += f"; continue it with: fleetpatch run --resume {run.run_id}"
    return text
