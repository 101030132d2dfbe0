"""`fleetpatch report`: render a stored run again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetpatch.cli.common import input_errors
from fleetpatch.cli.scan import FormatOpt, StoreOpt, emit_report
from fleetpatch.errors import InputError


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

    Examples:

      fleetpatch report

      fleetpatch report --run 20261122T044501Z-3f2a --format json -o run.json
    """
    from fleetpatch.report.exit_codes import exit_code_for
    from fleetpatch.store import open_store

    with input_errors():
        db = open_store(store)
        try:
            run_id = run or db.latest_run_id()
            if run_id is None:
                raise InputError("the store holds no run yet; run `fleetpatch scan` first")
            result = db.load_run(run_id)
        finally:
            db.close()
    emit_report(result, output_format=output_format, output=output, verbose=verbose)
    raise typer.Exit(exit_code_for(result))
