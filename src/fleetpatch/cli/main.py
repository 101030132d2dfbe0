"""The `fleetpatch` command."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

import typer

from fleetpatch import __version__
from fleetpatch.cli import baseline, inventory, lease, schema
from fleetpatch.cli.install import install, run
from fleetpatch.cli.report import report
from fleetpatch.cli.runs import runs
from fleetpatch.cli.scan import scan

_HELP = "Agentless patch manager: Patch Manager semantics over plain SSH."
_GROUPS: dict[str, typer.Typer] = {
    "inventory": inventory.app,
    "baseline": baseline.app,
    "schema": schema.app,
    "lease": lease.app,
}
_COMMANDS: dict[str, Callable[..., None]] = {
    "scan": scan,
    "report": report,
    "runs": runs,
    "install": install,
    "run": run,
}


def build_app(only: str | None = None) -> typer.Typer:
    """The command line, with every command, or only the command ``only`` (a top-level
    command or group name).

    typer turns every registered command's signature into click parameters each time the
    program starts (evaluating every annotation): ~30 ms for all of fleetpatch's commands,
    before the first host of a scan can be contacted (docs/benchmarks.md). Invoked as
    ``fleetpatch scan ...``, only ``scan`` needs building; help, errors and options behave
    the same, as the command's own."""
    new = typer.Typer(
        name="fleetpatch",
        no_args_is_help=True,
        help=_HELP,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
    )
    new.callback()(root)
    for name, group in _GROUPS.items():
        if only in (None, name):
            new.add_typer(group, name=name)
    for name, command in _COMMANDS.items():
        if only in (None, name):
            new.command(name)(command)
    return new


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fleetpatch {__version__}")
        raise typer.Exit()


def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Agentless patch manager: Patch Manager semantics over plain SSH.

    Exit codes: 0 compliant, 1 non-compliant, 2 bad input or an unusable store, 3 some host
    failed, 4 a reported run did not finish, 130 interrupted.
    """
    from fleetpatch.report.safe_text import PrintableLogFormatter

    handler = logging.StreamHandler()  # as logging.basicConfig, control characters escaped
    handler.setFormatter(PrintableLogFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


app = build_app()
"""Every command (what ``fleetpatch --help`` lists; the tests walk it)."""


def main() -> None:
    """Run the command line (raises SystemExit with the exit code, as typer does)."""
    first = sys.argv[1] if len(sys.argv) > 1 else None
    if first in _COMMANDS or first in _GROUPS:
        build_app(only=first)()
    else:  # no command, an option first (--help, --version) or a mistyped command
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
