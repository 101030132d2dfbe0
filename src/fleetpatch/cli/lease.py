"""`fleetpatch lease …`: the per-host leases that keep two runs off one host."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fleetpatch.cli.common import fail_input, input_errors
from fleetpatch.cli.scan import StoreOpt

app = typer.Typer(
    no_args_is_help=True,
    help="Per-host leases: a run holds one on each host it patches (docs/rollouts.md).",
)


@app.command("list")
def list_leases(
    store: StoreOpt = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List the leases held: host, run, controller (HOST:PID), since, expiry, and whether
    that controller still runs (``dead``: killed or interrupted; resume its run or release).

    Examples:

      fleetpatch lease list

      fleetpatch lease list --format json
    """
    from fleetpatch.engine.leases import holder_state
    from fleetpatch.store import open_store_for_reading
    from fleetpatch.store.rollouts import RolloutLedger

    with input_errors():
        db = open_store_for_reading(store)
    try:
        leases = RolloutLedger(db).leases()
    finally:
        db.close()
    rows = [
        {
            "host": lease.host,
            "run_id": lease.run_id,
            "holder": lease.holder,
            "holder_state": holder_state(lease),
            "acquired_at": lease.acquired_at.isoformat(),
            "expires_at": lease.expires_at.isoformat(),
        }
        for lease in leases
    ]
    if output_format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    if output_format != "table":
        fail_input(f"--format must be table or json, got {output_format!r}")
    if not rows:
        typer.echo("no lease is held")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="leases")
    for column in ("host", "run", "controller", "controller state", "since", "expires"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["host"],
            row["run_id"],
            row["holder"],
            row["holder_state"],
            row["acquired_at"],
            row["expires_at"],
        )
    Console(highlight=False).print(table)


@app.command("release")
def release(
    host: Annotated[str, typer.Argument(help="Inventory name of the host.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Release it even though its controller still runs."),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Release the lease on HOST, so that another run may patch it.

    Meant for a lease left by a controller that was killed: resuming its run
    (``fleetpatch run --resume RUN_ID``) is usually better, as it attaches to an install that
    may still run on the host. A lease whose controller is alive on this machine is kept
    unless --force. Exit code 0 released, 2 no lease on HOST or refused.

    Examples:

      fleetpatch lease release web-1

      fleetpatch lease release web-1 --force
    """
    from fleetpatch.engine.leases import holder_state
    from fleetpatch.store import open_store
    from fleetpatch.store.rollouts import RolloutLedger

    with input_errors():
        db = open_store(store)
    try:
        ledger = RolloutLedger(db)
        current = ledger.lease(host)
        if current is None:
            fail_input(f"{host} has no lease")
        if holder_state(current) == "running" and not force:
            fail_input(
                f"{host} is leased to run {current.run_id}, whose controller {current.holder} "
                "is still running on this machine; stop it first, or use --force"
            )
        released = ledger.release_any(host)
    finally:
        db.close()
    if released is not None:
        typer.echo(
            f"released the lease on {host} (run {released.run_id}, {released.holder}); "
            f"resume that run with: fleetpatch run --resume {released.run_id}"
        )
