"""The `fleetpatch` command."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

import typer

from fleetpatch import __version__
from fleetpatch.cli import baseline, inventory, schema
from fleetpatch.cli.install import install, run
from fleetpatch.cli.report import report
from fleetpatch.cli.scan import scan

app = typer.Typer(
    name="fleetpatch",
    no_args_is_help=True,
    help="Agentless patch manager: Patch Manager semantics over plain SSH.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(inventory.app, name="inventory")
app.add_typer(baseline.app, name="baseline")
app.add_typer(schema.app, name="schema")
app.command("scan")(scan)
app.command("report")(report)
app.command("install")(install)
app.command("run")(run)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fleetpatch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Agentless patch manager: Patch Manager semantics over plain SSH.

    Exit codes: 0 compliant, 1 non-compliant, 2 bad input, 3 some host failed, 130 interrupted.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Run the command line (raises SystemExit with the exit code, as typer does)."""
    app()


def run_process() -> NoReturn:
    """The ``fleetpatch`` process: :func:`main`, then exit without tearing the interpreter
    down.

    Every command has finished its work when typer raises SystemExit: stores are committed and
    closed, reports written. What remains at exit is Python freeing every object and module one
    by one, ~0.05-0.1 s of CPU after a scan (docs/benchmarks.md), a cost no user waits for
    usefully. The standard streams and logging are flushed, then the process ends with the
    command's exit code. An exception that escapes the command takes Python's normal path
    (traceback, exit code 1)."""
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # sys.exit("message"): Python prints it and exits 1
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (fleetpatch … | head)
            stream.flush()
    os._exit(code or 0)
