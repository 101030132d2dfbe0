"""`fleetpatch runs`: the stored runs, newest first, with their status."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from fleetpatch.cli.common import input_errors
from fleetpatch.cli.scan import FormatOpt, StoreOpt

if TYPE_CHECKING:
    from fleetpatch.store.models import RunSummary


def runs(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Runs to list.")] = 20,
    store: StoreOpt = None,
    output_format: FormatOpt = "table",
) -> None:
    """List the stored runs, newest first: operation, status, hosts and who ran them.

    Status: **running** (under way), **finished**, **cancelled** (Ctrl-C; finished hosts
    kept), **interrupted** (its controller died, or its store failed, before the run was
    recorded as finished: an install can be continued with `fleetpatch run --resume RUN_ID`).

    Exit codes: 0 listed, 2 an unusable store.

    Examples:

      fleetpatch runs

      fleetpatch runs -n 5 --format json

      fleetpatch report --run RUN_ID      # one run in full
    """
    from fleetpatch.store import open_store_for_reading

    if output_format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    with input_errors():
        db = open_store_for_reading(store)
        try:
            found = db.list_runs(limit=limit)
        finally:
            db.close()
    if output_format == "json":
        typer.echo(json.dumps([run_entry(r) for r in found], indent=2))
        return
    render_runs_table(found)


def run_entry(run: RunSummary) -> dict[str, object]:
    """One run of the listing as JSON-ready data."""
    return {
        "run_id": run.run_id,
        "operation": run.operation,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "hosts": run.hosts,
        "targeted_hosts": run.targeted_hosts,
        "compliant": run.compliant,
        "non_compliant": run.non_compliant,
        "failed": run.failed,
        "controller": run.controller,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "inventory": list(run.inventory),
        "targets": list(run.targets),
    }


def render_runs_table(found: list[RunSummary]) -> None:
    import sys

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from fleetpatch.report.safe_text import cell

    table = Table(title=f"{len(found)} run(s), newest first", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("run", "operation", "status", "started (UTC)", "hosts"):
        table.add_column(column, no_wrap=True)
    for column in ("compliant", "non-compliant", "failed"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("controller", overflow="fold")
    for run in found:
        hosts = str(run.hosts)
        if run.targeted_hosts is not None and run.hosts != run.targeted_hosts:
            hosts += f" of {run.targeted_hosts}"
        table.add_row(
            run.run_id,
            cell(run.operation),
            run.status,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            hosts,
            str(run.compliant),
            str(run.non_compliant),
            str(run.failed),
            cell(run.controller or "-"),
        )
    width = None if sys.stdout.isatty() else 160
    Console(highlight=False, width=width).print(table)
