"""The `fleetpatch` command."""

from __future__ import annotations

import logging

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
    app()
