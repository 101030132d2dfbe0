"""`fleetpatch scan`: a read-only compliance scan of the targeted hosts."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetpatch.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    input_errors,
    is_terminal,
    print_error,
    stderr_console,
)
from fleetpatch.cli.inventory import InventoryOpt, RefreshInventoryOpt, TargetOpt
from fleetpatch.knowledge import DEFAULT_MAX_METADATA_AGE

# Only what typer needs to build the command line is imported at module level; the engine,
# the store, the reports and rich are imported when a command runs (start-up CPU counts in
# the per-host budget, docs/benchmarks.md), each only by the commands that use it.
if TYPE_CHECKING:
    from fleetpatch.engine.pipeline import BaselineChooser, ScanContext
    from fleetpatch.engine.progress import RunProgress
    from fleetpatch.engine.scan_run import StoreGuard
    from fleetpatch.inventory.model import Host
    from fleetpatch.report.spool import ReportSpool
    from fleetpatch.results import HostResult, RunResult
    from fleetpatch.transport.ssh import SshConnector

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the compliance store (default: SQLite in the user data dir, "
        "or $FLEETPATCH_STORE).",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json")]
MaxMetadataAgeOpt = Annotated[
    str | None,
    typer.Option(
        "--max-metadata-age",
        metavar="AGE",
        help="Package metadata older than this cannot make a host COMPLIANT (failure "
        "stale_metadata; a NON_COMPLIANT verdict stands): 7d, 36h, 90m, 2w or off. Default "
        "7d, or the host's inventory var max_metadata_age; given here, it applies to every "
        "host. --refresh brings the metadata up to date.",
    ),
]


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
    max_metadata_age: MaxMetadataAgeOpt = None,
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
    connect_retries: Annotated[
        int | None,
        typer.Option(
            "--connect-retries",
            min=0,
            max=10,
            help="Times a refused connection (or one closed before login) is tried again, "
            "with growing waits; 0 fails at once. Overrides the inventory (default 4).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every non-compliant patch.")
    ] = False,
) -> None:
    """Scan hosts read-only and report their compliance against their baselines.

    Nothing is installed and nothing is changed on the hosts. Results are kept in the store
    (every run; the latest scan of a host is its current compliance).

    Exit codes: 0 all compliant, 1 some host non-compliant, 2 bad input or an unusable store
    (a store that fails after the hosts were scanned: the report is still printed or written,
    and says the results were not stored), 3 some host could not be scanned, 130 interrupted.

    Examples:

      fleetpatch scan -i inventory/lab.yaml

      fleetpatch scan -i inventory/prod.yaml -t "tag:Patch Group=web" --format json -o web.json

      fleetpatch scan -i hosts.ini -t group:db --baseline baselines/db.yaml --save-facts facts/

      fleetpatch scan -i inventory/prod.yaml --refresh --max-metadata-age 1d

      fleetpatch scan -i inventory/lab.yaml --connect-retries 0 --connect-timeout 5
    """
    if output_format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    # Before the first host is contacted: the inputs that say which hosts and how (the
    # inventory, host keys, explicitly given baselines) are loaded and checked.
    with start_up_gc():
        from fleetpatch.engine.aio import run_main
        from fleetpatch.engine.connecting import new_connector, with_timeouts
        from fleetpatch.engine.progress import RunProgress
        from fleetpatch.inventory.loader import load_inventory
        from fleetpatch.inventory.targets import select_hosts
        from fleetpatch.knowledge import check_max_metadata_ages, max_metadata_age_option

        with input_errors():
            inv = load_inventory(inventory, refresh_inventory=refresh_inventory)
            hosts = [
                with_timeouts(
                    h,
                    connect=connect_timeout,
                    command=command_timeout,
                    connect_retries=connect_retries,
                )
                for h in select_hosts(inv, target or [])
            ]
            choose = _baseline_choice(baseline, patch_groups) if baseline or patch_groups else None
            max_age = max_metadata_age_option(max_metadata_age, "--max-metadata-age")
            if not max_age[1]:
                check_max_metadata_ages(hosts)
            connector = new_connector(inv, accept_new_host_keys=accept_new_host_keys)
    if save_facts is not None:
        save_facts.mkdir(parents=True, exist_ok=True)
    mode = "quiet" if quiet else ("bar" if is_terminal() else "lines")
    if output_format == "json" and output is None and mode == "lines":
        mode = "quiet"  # keep stdout a clean JSON document; progress lines would go to stderr
    setup = _ScanSetup(
        inventory=inventory,
        targets=list(target or []),
        choose=choose,
        refresh=refresh,
        store=store,
        options={
            "concurrency": concurrency,
            "baseline": baseline,
            "refresh": refresh,
            "max_metadata_age": max_metadata_age,
        },
        json_spool=output_format == "json",
        save_facts=save_facts,
        max_metadata_age=max_age,
    )
    # the table needs only the non-compliant items, and only with --verbose
    keep_non_compliant = output_format == "table" and verbose
    err = None if mode == "quiet" else stderr_console()  # quiet: rich.console is not needed
    with RunProgress(len(hosts), mode=mode, console=err) as progress:
        run, spool, stored = run_main(
            _scan(hosts, connector, setup, concurrency, progress, keep_non_compliant)
        )
    try:
        emit_report(
            run,
            output_format=output_format,
            output=output,
            verbose=verbose,
            spool=spool,
            max_metadata_age=max_age[0],
        )
    finally:
        if spool is not None:
            spool.close()
    if stored.error is not None:
        print_error(
            f"the results of this run were not stored ({stored.stored} of {len(run.hosts)} "
            f"hosts were, before the store failed); the report "
            f"{f'in {output}' if output is not None else 'above'} is all there is of run "
            f"{run.run_id}: {stored.error}"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if run.cancelled:
        err = err or stderr_console()
        err.print(f"interrupted: results of finished hosts stored as run {run.run_id}")
        raise typer.Exit(EXIT_CANCELLED)
    from fleetpatch.report.exit_codes import exit_code_for

    raise typer.Exit(exit_code_for(run))


def _baseline_choice(baseline: list[str] | None, patch_groups: Path | None) -> BaselineChooser:
    from fleetpatch.engine.context import load_baseline_choice

    return load_baseline_choice(baselines=baseline or (), patch_groups=patch_groups)


@dataclass(frozen=True)
class _ScanSetup:
    """The options of what a scan prepares once its first handshakes are under way."""

    inventory: Sequence[Path]
    targets: list[str]
    choose: BaselineChooser | None
    refresh: bool
    store: str | None
    options: dict[str, object]
    json_spool: bool
    save_facts: Path | None
    max_metadata_age: tuple[int | None, bool]
    """(seconds or None, given explicitly)"""


async def _scan(
    hosts: Sequence[Host],
    connector: SshConnector,
    setup: _ScanSetup,
    concurrency: int,
    progress: RunProgress,
    keep_non_compliant_items: bool,
) -> tuple[RunResult, ReportSpool | None, StoreGuard]:
    """Connect to the first ``concurrency`` hosts, prepare the run while they handshake
    (baselines, script, store, report spool: ~0.15 s of imports and loading that would
    otherwise delay the first connection, docs/benchmarks.md), then scan every host.

    A bad input found while preparing (a store that cannot be opened or written, say) still
    ends the run with exit 2 before anything has run on any host: the early connections are
    closed unused. A store that fails once hosts are being scanned does not stop the run:
    the returned guard holds its error (the results were not stored)."""
    from dataclasses import replace

    connector.start_connecting(hosts[:concurrency])
    try:
        ctx = await _prepare(connector, setup)
        from fleetpatch.engine.pipeline import utcnow
        from fleetpatch.engine.scan_run import (
            StoreGuard,
            keep_no_items,
            keep_non_compliant,
            make_run,
            scan_hosts,
            store_recorder,
        )
        from fleetpatch.store.ids import new_run_id
        from fleetpatch.store.sqlite_scan import open_scan_store

        run_id = new_run_id()
        started = utcnow()
        with input_errors():
            db = open_scan_store(setup.store)
            try:
                ctx = replace(ctx, pending_reboots=db.pending_reboots([h.name for h in hosts]))
                db.begin_run(
                    run_id=run_id,
                    operation="scan",
                    started_at=started,
                    inventory=[str(p) for p in setup.inventory],
                    targets=setup.targets,
                    options=setup.options,
                    targeted_hosts=len(hosts),
                )
            except BaseException:
                db.close()
                raise
        stored = StoreGuard(db)
        recorder = store_recorder(stored, run_id)
        # the JSON report's host entries are rendered as hosts finish
        spool = _new_spool() if setup.json_spool else None
        save_facts = setup.save_facts

        def on_result(result: HostResult) -> None:
            progress.host_done(result)
            recorder.add(result)
            if save_facts is not None and result.facts is not None:
                _save_facts(result, save_facts)
            if spool is not None:
                spool.add(result)

        results, cancelled = await scan_hosts(
            hosts,
            ctx,
            concurrency=concurrency,
            on_result=on_result,
            keep_items=keep_non_compliant if keep_non_compliant_items else keep_no_items,
        )
    finally:
        await connector.close()
    recorder.flush()
    run = make_run(
        run_id=run_id,
        operation="scan",
        started_at=started,
        inventory=[str(p) for p in setup.inventory],
        targets=setup.targets,
        hosts=results,
        cancelled=cancelled,
    )
    stored.finish_run(run.run_id, finished_at=run.finished_at, cancelled=cancelled)
    db.close()
    return run, spool, stored


_RUN_MODULES = (  # in the order they build on each other, each step a few tens of ms
    "fleetpatch.facts",
    "fleetpatch.baseline.model",
    "fleetpatch.baseline.compiled",
    "fleetpatch.baseline.evaluate",
    "fleetpatch.platforms.render",
    "fleetpatch.engine.scan_run",  # the pipeline and parsers
    "fleetpatch.store.sqlite_scan",
)


async def _prepare(connector: SshConnector, setup: _ScanSetup) -> ScanContext:
    """Import what the run needs once hosts answer (pipeline, parsers, evaluation, store,
    report) and build its scan context (baselines, the rendered script), one step at a time:
    between steps the event loop answers the handshakes in flight."""
    import asyncio
    import importlib

    modules = _RUN_MODULES + (("fleetpatch.report.spool",) if setup.json_spool else ())
    await asyncio.sleep(0.005)  # the early connections' first steps (their SYNs are out)
    with start_up_gc():
        for module in modules:
            importlib.import_module(module)
            await asyncio.sleep(0)
        from fleetpatch.engine.context import build_scan_context, load_baseline_choice

        choose = setup.choose or load_baseline_choice()
        await asyncio.sleep(0)
        return build_scan_context(
            connector,
            choose=choose,
            refresh=setup.refresh,
            max_metadata_age=setup.max_metadata_age[0],
            max_metadata_age_given=setup.max_metadata_age[1],
        )


def _new_spool() -> ReportSpool:
    from fleetpatch.report.spool import ReportSpool

    return ReportSpool()


def emit_report(
    run: RunResult,
    *,
    output_format: str,
    output: Path | None,
    verbose: bool,
    spool: ReportSpool | None = None,
    max_metadata_age: int | None = DEFAULT_MAX_METADATA_AGE,
) -> None:
    if output_format == "json":
        from fleetpatch.report.json_report import write_report_json

        if output is not None:
            with output.open("w") as fh:
                write_report_json(run, fh, spool=spool)
        else:
            write_report_json(run, sys.stdout, spool=spool)
        return
    from rich.console import Console

    from fleetpatch.report.table import render_run_table

    if output is not None:
        with output.open("w") as fh:
            render_run_table(
                run,
                Console(file=fh, no_color=True, width=140),
                verbose=verbose,
                max_metadata_age=max_metadata_age,
            )
        return
    # a pipe or a CI log gets a wide, colourless table rather than rich's 80-column default
    width = None if sys.stdout.isatty() else 160
    render_run_table(
        run,
        Console(highlight=False, width=width),
        verbose=verbose,
        max_metadata_age=max_metadata_age,
    )


def _save_facts(result: HostResult, directory: Path) -> None:
    """Write one host's facts as it finishes (the run keeps only a slim result)."""
    assert result.facts is not None
    (directory / f"{result.host}.json").write_text(result.facts.model_dump_json(indent=2) + "\n")


@contextmanager
def start_up_gc() -> Iterator[None]:
    """Keep the collector off while start-up allocates (modules, templates, baselines: objects
    that live as long as the run), then move all of it out of the collector's way with
    ``gc.freeze()``, so the collections that do run walk only the run's own objects
    (docs/benchmarks.md). Start-up makes next to no cyclic garbage (~80 objects, for 1 or 200
    hosts), so nothing is collected first: that full collection cost ~50 ms of CPU, and the
    ~200 collections that would run during the imports ~0.1 s. Only EC2 discovery (boto3,
    ~10,000 objects of garbage per client) is collected before the freeze.

    The thresholds stay as they are: closed connections leave cyclic garbage behind, and a
    collector told to run rarely lets it pile up to ~0.8 MB per host. On an error the collector
    is turned back on without freezing anything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if "botocore" in sys.modules:
            gc.collect()
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
