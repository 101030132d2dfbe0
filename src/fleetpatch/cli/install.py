"""`fleetpatch install` and `fleetpatch run`: rolling installs, from options or a playbook."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetpatch.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    fail_input,
    input_errors,
    is_terminal,
    print_error,
    stderr_console,
)
from fleetpatch.cli.inventory import InventoryOpt, TargetOpt
from fleetpatch.cli.scan import MaxMetadataAgeOpt, StoreOpt
from fleetpatch.errors import FleetpatchError, InputError

# Only what typer needs to build the command line is imported at module level: the rollout
# engine, playbooks, the store, the reports and rich are imported when a command runs.
if TYPE_CHECKING:
    from fleetpatch.engine.rollout_job import JobOutcome, PreparedRollout, RolloutRequest
    from fleetpatch.playbook.model import Playbook
    from fleetpatch.results import HostResult
    from fleetpatch.store import Store

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json")]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Compute and print the full plan with the package manager's own simulation; "
        "change nothing.",
    ),
]


def install(
    inventory: InventoryOpt,
    target: TargetOpt = None,
    all_hosts: Annotated[
        bool,
        typer.Option(
            "--all-hosts",
            help="Patch every host of the inventory (an install needs --target or this).",
        ),
    ] = False,
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", "-b", help="Baseline file or predefined name (per OS)."),
    ] = None,
    patch_groups: Annotated[
        Path | None, typer.Option("--patch-groups", help="Patch group → baseline mapping.")
    ] = None,
    batch: Annotated[
        list[str] | None,
        typer.Option(
            "--batch",
            help="Batch size: a count or a % of the targeted hosts; repeat for each batch, "
            "the last repeats (default: all at once).",
        ),
    ] = None,
    max_concurrency: Annotated[
        str, typer.Option("--max-concurrency", help="Hosts at once inside a batch (N or N%).")
    ] = "50",
    max_errors: Annotated[
        str,
        typer.Option(
            "--max-errors",
            help="Failures tolerated (N or N%); new hosts stop at the next one (SSM's rule).",
        ),
    ] = "0",
    canary: Annotated[
        bool, typer.Option("--canary", help="The first batch must fully succeed first.")
    ] = False,
    on_failure: Annotated[
        str, typer.Option("--on-failure", help="continue (default) or halt at any failure.")
    ] = "continue",
    reboot: Annotated[
        str, typer.Option("--reboot", help="if-needed (default), never or always.")
    ] = "if-needed",
    pre_install: Annotated[str | None, typer.Option("--pre-install", help="Host hook.")] = None,
    post_install: Annotated[str | None, typer.Option("--post-install", help="Host hook.")] = None,
    on_exit: Annotated[str | None, typer.Option("--on-exit", help="Host hook (always).")] = None,
    health_check: Annotated[
        str | None,
        typer.Option("--health-check", help="Controller command after each batch; 0 = healthy."),
    ] = None,
    install_override: Annotated[
        Path | None,
        typer.Option("--install-override", help="SSM install override list (YAML)."),
    ] = None,
    window_end: Annotated[
        str | None, typer.Option("--window-end", help="End of the maintenance window.")
    ] = None,
    cutoff: Annotated[
        str | None, typer.Option("--cutoff", help="No new start this long before the end.")
    ] = None,
    lock_timeout: Annotated[
        int | None,
        typer.Option(
            "--lock-timeout",
            min=0,
            help="Seconds the package manager waits for a lock another process holds "
            "(default: apt 300, dnf 60, zypper 70); then the host fails as locked.",
        ),
    ] = None,
    reconnect_timeout: Annotated[
        float,
        typer.Option(
            "--reconnect-timeout",
            min=0,
            help="Seconds to try reaching a host again after its connection dropped "
            "mid-install; the install goes on on the host meanwhile.",
        ),
    ] = 300.0,
    dry_run: DryRunOpt = False,
    accept_new_host_keys: Annotated[
        bool, typer.Option("--accept-new-host-keys", help="Record first-seen host keys.")
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh", help="Refresh package metadata (apt-get update) before each scan."
        ),
    ] = False,
    max_metadata_age: MaxMetadataAgeOpt = None,
    store: StoreOpt = None,
    output_format: FormatOpt = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Install the approved missing patches, in rolling batches.

    A host whose package metadata is missing for a configured source, or older than
    --max-metadata-age, is not installed on (failure no_metadata / stale_metadata): use
    --refresh.

    Which hosts is always said: --target (repeatable), or --all-hosts for every host of the
    inventory; a whole inventory is never patched by omission.

    Exit codes: 0 every host patched and compliant, 1 patched but still non-compliant (e.g.
    pending reboot), 2 bad input or an unusable store (nothing ran), 3 some host failed or was
    skipped (even when max-errors tolerated it; an install override id that matches nothing on
    a host fails that host), 130 interrupted.

    Examples:

      fleetpatch install -i inventory/prod.yaml -t "tag:Patch Group=web" --dry-run

      fleetpatch install -i prod.yaml -t group:web --batch 1 --batch 10% --max-errors 2 --canary

      fleetpatch install -i lab.yaml --all-hosts --reboot never --pre-install "systemctl stop app"

      fleetpatch install -i prod.yaml -t group:web --dry-run --format json -o plan.json

      fleetpatch install -i prod.yaml -t group:web --refresh --max-metadata-age 1d

      fleetpatch install -i prod.yaml -t group:web --lock-timeout 600 --reconnect-timeout 900
    """
    if target and all_hosts:
        fail_input("give --target or --all-hosts, not both")
    if not target and not all_hosts:
        fail_input(
            "which hosts? give --target (e.g. -t group:web, repeatable), or --all-hosts to "
            "patch every host of the inventory: a whole inventory is never patched by omission"
        )
    from fleetpatch.engine.rollout_job import RolloutRequest, prepare
    from fleetpatch.store import open_store

    request = RolloutRequest(
        inventory=tuple(str(p) for p in inventory),
        targets=tuple(target or ()),
        baselines=tuple(baseline or ()),
        patch_groups=str(patch_groups) if patch_groups else None,
        batches=tuple(_size(b) for b in batch) if batch else ("100%",),
        max_concurrency=_size(max_concurrency),
        max_errors=_size(max_errors),
        canary=canary,
        on_failure=on_failure,
        reboot=reboot,
        pre_install=pre_install,
        post_install=post_install,
        on_exit=on_exit,
        health_check=health_check,
        install_override=str(install_override) if install_override else None,
        window_end=window_end,
        cutoff=cutoff,
        dry_run=dry_run,
        accept_new_host_keys=accept_new_host_keys,
        refresh=refresh,
        max_metadata_age=max_metadata_age,
        lock_timeout=lock_timeout,
        reconnect_timeout=reconnect_timeout,
        workdir=str(Path.cwd()),
    )
    with input_errors():
        prepared = prepare(request)
        db = open_store(store)
    _go(prepared, db, output_format=output_format, quiet=quiet, output=output)


def run(
    playbook: Annotated[
        Path | None, typer.Argument(help="Playbook file (YAML); see docs/playbooks.md.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Continue an install run a killed controller left."),
    ] = None,
    dry_run: DryRunOpt = False,
    store: StoreOpt = None,
    output_format: FormatOpt = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run a playbook: a scan or a rolling install declared in a file.

    With --resume RUN_ID, an install run whose controller died continues with the hosts it had
    not finished; a host that completed is never installed again.

    Examples:

      fleetpatch run playbooks/rolling-install.yaml --dry-run

      fleetpatch run playbooks/rolling-install.yaml

      fleetpatch run --resume 20261122T031500123Z-8f3ab2c1d4
    """
    from fleetpatch.playbook.loader import load_playbook
    from fleetpatch.store import open_store

    with input_errors():
        if resume is not None:
            from fleetpatch.engine.rollout_job import load_for_resume

            db = open_store(store)
            prepared, finished, in_flight = load_for_resume(db, resume)
            db.claim_run(resume)  # this process now runs it (fleetpatch runs shows it running)
            _go(
                prepared,
                db,
                output_format=output_format,
                quiet=quiet,
                output=output,
                resume=resume,
                finished=finished,
                in_flight=in_flight,
            )
            return
        if playbook is None:
            raise InputError("give a playbook file, or --resume RUN_ID")
        book = load_playbook(playbook)
        if not book.is_install:
            from fleetpatch.cli.scan import scan

            scan(
                inventory=list(book.inventory),
                target=list(book.targets),
                concurrency=book.concurrency,
                baseline=[book.baseline] if book.baseline else None,
                patch_groups=book.patch_groups,
                accept_new_host_keys=book.accept_new_host_keys,
                store=store,
                output_format=output_format,
                output=output,
                quiet=quiet,
                connect_timeout=book.timeouts.connect,
                command_timeout=book.timeouts.command,
                refresh=book.refresh,
                max_metadata_age=book.max_metadata_age,
            )
            return
        from fleetpatch.engine.rollout_job import prepare

        request = request_from_playbook(book, dry_run=dry_run)
        prepared = prepare(request)
        db = open_store(store)  # only once every input is known to be good
    _go(prepared, db, output_format=output_format, quiet=quiet, output=output)


def request_from_playbook(book: Playbook, *, dry_run: bool) -> RolloutRequest:
    from fleetpatch.engine.rollout_job import RolloutRequest

    r = book.rollout
    window = book.window
    return RolloutRequest(
        inventory=tuple(str(p) for p in book.inventory),
        targets=tuple(book.targets),
        baselines=(book.baseline,) if book.baseline else (),
        patch_groups=str(book.patch_groups) if book.patch_groups else None,
        batches=tuple(str(b) for b in r.batches) if r.batches else ("100%",),
        max_concurrency=str(r.max_concurrency),
        max_errors=str(r.max_errors),
        canary=r.canary,
        on_failure=r.on_failure,
        reboot=book.reboot,
        pre_install=book.hooks.pre_install,
        post_install=book.hooks.post_install,
        on_exit=book.hooks.on_exit,
        health_check=book.hooks.health_check,
        install_override=str(book.install_override_list) if book.install_override_list else None,
        window_end=window.end.text if window else None,
        cutoff=f"{int(window.cutoff.total_seconds())}s" if window and window.cutoff else None,
        dry_run=dry_run,
        accept_new_host_keys=book.accept_new_host_keys,
        refresh=book.refresh,
        max_metadata_age=book.max_metadata_age,
        connect_timeout=book.timeouts.connect,
        command_timeout=book.timeouts.command,
        reboot_timeout=book.timeouts.reboot,
        health_check_timeout=book.timeouts.health_check,
        lock_timeout=book.timeouts.lock,
        reconnect_timeout=book.timeouts.reconnect,
        workdir=str(book.source.parent),
        playbook=str(book.source),
    )


def _size(value: str | int) -> int | str:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _go(
    prepared: PreparedRollout,
    db: Store,
    *,
    output_format: str,
    quiet: bool,
    output: Path | None = None,
    resume: str | None = None,
    finished: dict[str, bool] | None = None,
    in_flight: set[str] | None = None,
) -> None:
    from fleetpatch.engine.progress import RunProgress
    from fleetpatch.engine.rollout_job import execute
    from fleetpatch.results import HostOutcome

    err = stderr_console()
    total = sum(len(b) for b in prepared.plan) - len(finished or {})
    mode = "quiet" if quiet or output_format == "json" else ("bar" if is_terminal() else "lines")
    label = "planning" if prepared.request.dry_run else "installing"
    with RunProgress(total, mode=mode, console=err, label=label) as progress:

        def on_result(result: HostResult) -> None:
            if result.outcome is not HostOutcome.SKIPPED:
                progress.host_done(result)

        try:
            job = execute(
                prepared,
                db,
                on_result=on_result,
                resume_run=resume,
                finished=finished,
                in_flight=in_flight,
                on_note=progress.host_note,
            )
        except FleetpatchError as exc:  # the store failed (nothing ran if no host had finished)
            fail_input(f"{exc}; {progress.done} host(s) had finished when it failed")
        finally:
            db.close()  # the process ends without tearing the interpreter down (cli.main)
    _print(job, prepared, output_format=output_format, output=output)
    if job.store_error is not None:
        print_error(not_stored_message(job, output))
        raise typer.Exit(EXIT_BAD_INPUT)
    if job.run.cancelled:
        err.print(
            f"interrupted: progress stored; resume with: fleetpatch run --resume {job.run.run_id}"
        )
        raise typer.Exit(EXIT_CANCELLED)
    raise typer.Exit(_exit_code(job))


def not_stored_message(job: JobOutcome, output: Path | None) -> str:
    """What an install run whose store failed part-way says: which hosts ran and were not
    stored (an install may have changed them), which were never started, and what to do."""
    from fleetpatch.results import HostOutcome

    not_run = (HostOutcome.SKIPPED, HostOutcome.CANCELLED)
    unstored = [
        r.host for r in job.run.hosts if r.host not in job.stored_hosts and r.outcome not in not_run
    ]
    not_started = [r.host for r in job.run.hosts if r.outcome is HostOutcome.SKIPPED]
    where = f"in {output}" if output is not None else "above"
    return (
        f"the store failed during run {job.run.run_id}: {job.store_error}; "
        f"results not stored: {', '.join(unstored) or 'none'} (these hosts ran, and an "
        f"install may have changed them: the report {where} is all there is of them); "
        f"not started: {', '.join(not_started) or 'none'} (no host is started whose result "
        f"could not be stored); {len(job.stored_hosts)} of {len(job.run.hosts)} host(s) were "
        "stored before the failure. Once the store works again, continue with: fleetpatch run "
        f"--resume {job.run.run_id} (hosts already patched have nothing left to install)"
    )


def _exit_code(job: JobOutcome) -> int:
    from fleetpatch.report.exit_codes import exit_code_for
    from fleetpatch.results import HostOutcome

    if job.run.operation == "install-dry-run":
        return 0 if all(h.outcome is HostOutcome.OK for h in job.run.hosts) else 3
    return exit_code_for(job.run)


def _print(
    job: JobOutcome, prepared: PreparedRollout, *, output_format: str, output: Path | None = None
) -> None:
    """The run's report on stdout, or in ``output`` (as ``scan -o``)."""
    if output is not None:
        with output.open("w") as fh, contextlib.redirect_stdout(fh):
            _print_to_stdout(job, prepared, output_format=output_format, file=True)
        return
    _print_to_stdout(job, prepared, output_format=output_format)


def _print_to_stdout(
    job: JobOutcome, prepared: PreparedRollout, *, output_format: str, file: bool = False
) -> None:
    decisions = [d.reason for d in job.rollout.decisions]
    if output_format == "json":
        from fleetpatch.report.json_report import run_to_report

        doc = run_to_report(job.run)
        doc["rollout"] = {
            "plan": job.plan,
            "decisions": decisions,
            "stopped_reason": job.rollout.stopped_reason,
            "dry_run": prepared.request.dry_run,
            "resumed": job.resumed,
        }
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    from rich.console import Console

    from fleetpatch.report.rollout import render_outcome, render_plan
    from fleetpatch.report.safe_text import printable
    from fleetpatch.report.table import render_run_table

    console = (
        Console(file=sys.stdout, no_color=True, highlight=False, width=140)
        if file
        else Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    )
    r = prepared.request
    header = (
        f"run {job.run.run_id}: {len(job.plan)} batch(es), max_concurrency {r.max_concurrency}, "
        f"max_errors {r.max_errors}, reboot {r.reboot}"
        + (", canary" if r.canary else "")
        + (", resumed" if job.resumed else "")
    )
    if r.dry_run:
        render_plan(
            job.plan, job.run.hosts, console, header=f"dry run (nothing changed) — {header}"
        )
        for line in decisions:
            console.print(f"  - {printable(line)}", markup=False)
        return
    console.print(printable(header), markup=False)
    render_outcome(job.plan, job.run.hosts, decisions, console)
    render_run_table(job.run, console)
