"""`fleetpatch scan`: a read-only compliance scan of the targeted hosts."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fleetpatch.cli.common import (
    EXIT_CANCELLED,
    input_errors,
    is_terminal,
    stderr_console,
)
from fleetpatch.cli.inventory import InventoryOpt, RefreshInventoryOpt, TargetOpt
from fleetpatch.engine.context import build_scan_context, load_baseline_choice, with_timeouts
from fleetpatch.engine.pipeline import ScanContext, utcnow
from fleetpatch.engine.progress import RunProgress
from fleetpatch.engine.scan_run import make_run, scan_hosts, store_recorder
from fleetpatch.inventory.loader import load_inventory
from fleetpatch.inventory.model import Host
from fleetpatch.inventory.targets import select_hosts
from fleetpatch.report.exit_codes import exit_code_for
from fleetpatch.report.json_report import write_report_json
from fleetpatch.report.table import render_run_table
from fleetpatch.results import HostResult, RunResult
from fleetpatch.store import new_run_id, open_store

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the compliance store (default: SQLite in the user data dir, "
        "or $FLEETPATCH_STORE).",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json")]


def scan(
    inventory: InventoryOpt,
    target: TargetOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Hosts scanned at once.")
    ] = 50,
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline",
            "-b",
            help="Baseline file or predefined name; applies to the hosts of its operating "
            "system (repeat for several systems). Others use their patch group's baseline.",
        ),
    ] = None,
    patch_groups: Annotated[
        Path | None,
        typer.Option("--patch-groups", help="Patch group → baseline mapping file."),
    ] = None,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-keys",
            help="Trust and record keys of hosts never seen before (changed keys still fail).",
        ),
    ] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Refresh package metadata first (apt-get update).")
    ] = False,
    store: StoreOpt = None,
    output_format: FormatOpt = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    save_facts: Annotated[
        Path | None,
        typer.Option("--save-facts", help="Write each host's collected facts (JSON) here."),
    ] = None,
    refresh_inventory: RefreshInventoryOpt = False,
    connect_timeout: Annotated[
        float | None,
        typer.Option("--connect-timeout", min=0.1, help="Seconds; overrides the inventory."),
    ] = None,
    command_timeout: Annotated[
        float | None,
        typer.Option("--command-timeout", min=0.1, help="Seconds; overrides the inventory."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every non-compliant patch.")
    ] = False,
) -> None:
    """Scan hosts read-only and report their compliance against their baselines.

    Nothing is installed and nothing is changed on the hosts. Results are kept in the store
    (every run; the latest scan of a host is its current compliance).

    Exit codes: 0 all compliant, 1 some host non-compliant, 2 bad input, 3 some host could
    not be scanned, 130 interrupted.

    Examples:

      fleetpatch scan -i inventory/lab.yaml

      fleetpatch scan -i inventory/prod.yaml -t "tag:Patch Group=web" --format json -o web.json

      fleetpatch scan -i hosts.ini -t group:db --baseline baselines/db.yaml --save-facts facts/
    """
    if output_format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    with input_errors():
        inv = load_inventory(inventory, refresh_inventory=refresh_inventory)
        hosts = [
            with_timeouts(h, connect=connect_timeout, command=command_timeout)
            for h in select_hosts(inv, target or [])
        ]
        choose = load_baseline_choice(baselines=baseline or (), patch_groups=patch_groups)
        ctx = build_scan_context(
            inv, choose=choose, accept_new_host_keys=accept_new_host_keys, refresh=refresh
        )
        db = open_store(store)
        ctx = replace(ctx, pending_reboots=db.pending_reboots([h.name for h in hosts]))
    run_id = new_run_id()
    started = utcnow()
    targets = list(target or [])
    db.begin_run(
        run_id=run_id,
        operation="scan",
        started_at=started,
        inventory=[str(p) for p in inventory],
        targets=targets,
        options={"concurrency": concurrency, "baseline": baseline, "refresh": refresh},
    )
    err = stderr_console()
    mode = "quiet" if quiet else ("bar" if is_terminal() else "lines")
    if output_format == "json" and output is None and mode == "lines":
        mode = "quiet"  # keep stdout a clean JSON document; progress lines would go to stderr
    recorder = store_recorder(db, run_id)
    if save_facts is not None:
        save_facts.mkdir(parents=True, exist_ok=True)
    tune_gc_for_a_run()
    with RunProgress(len(hosts), mode=mode, console=err) as progress:

        def on_result(result: HostResult) -> None:
            progress.host_done(result)
            recorder.add(result)
            if save_facts is not None and result.facts is not None:
                _save_facts(result, save_facts)

        results, cancelled = asyncio.run(
            _scan(hosts, ctx, concurrency=concurrency, on_result=on_result)
        )
    recorder.flush()
    run = make_run(
        run_id=run_id,
        operation="scan",
        started_at=started,
        inventory=[str(p) for p in inventory],
        targets=targets,
        hosts=results,
        cancelled=cancelled,
    )
    db.finish_run(run_id, finished_at=run.finished_at, cancelled=cancelled)
    emit_report(run, output_format=output_format, output=output, verbose=verbose)
    if cancelled:
        err.print(f"interrupted: results of finished hosts stored as run {run_id}")
        raise typer.Exit(EXIT_CANCELLED)
    raise typer.Exit(exit_code_for(run))


async def _scan(
    hosts: Sequence[Host],
    ctx: ScanContext,
    *,
    concurrency: int,
    on_result: Callable[[HostResult], None],
) -> tuple[list[HostResult], bool]:
    try:
        return await scan_hosts(hosts, ctx, concurrency=concurrency, on_result=on_result)
    finally:
        await ctx.connector.close()


def emit_report(run: RunResult, *, output_format: str, output: Path | None, verbose: bool) -> None:
    if output_format == "json":
        if output is not None:
            with output.open("w") as fh:
                write_report_json(run, fh)
        else:
            write_report_json(run, sys.stdout)
        return
    if output is not None:
        with output.open("w") as fh:
            render_run_table(run, Console(file=fh, no_color=True, width=140), verbose=verbose)
        return
    # a pipe or a CI log gets a wide, colourless table rather than rich's 80-column default
    width = None if sys.stdout.isatty() else 160
    render_run_table(run, Console(highlight=False, width=width), verbose=verbose)


def _save_facts(result: HostResult, directory: Path) -> None:
    """Write one host's facts as it finishes (the run keeps only a slim result)."""
    assert result.facts is not None
    (directory / f"{result.host}.json").write_text(result.facts.model_dump_json(indent=2) + "\n")


def tune_gc_for_a_run() -> None:
    """Move what start-up allocated (modules, templates, baselines) out of the collector's way,
    so the collections that do run walk only the run's own objects (docs/benchmarks.md).

    The thresholds stay as they are: closed connections leave cyclic garbage behind, and a
    collector told to run rarely lets it pile up to ~0.8 MB per host."""
    gc.collect()
    gc.freeze()
