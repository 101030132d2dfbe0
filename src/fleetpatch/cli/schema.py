"""`fleetpatch schema …`: JSON Schemas of the documents fleetpatch reads and writes."""

from __future__ import annotations

import json

import typer

# The models are imported when a command runs, not when the command line is built.

app = typer.Typer(no_args_is_help=True, help="Print JSON Schemas of fleetpatch's documents.")


@app.command("report")
def report_schema() -> None:
    """Print the JSON Schema of the report `scan --format json` writes.

    Examples:

      fleetpatch schema report > report.schema.json
    """
    from fleetpatch.report.json_report import report_json_schema

    typer.echo(json.dumps(report_json_schema(), indent=2))


@app.command("evaluation")
def evaluation_schema() -> None:
    """Print the JSON Schema of `baseline evaluate --format json`.

    Examples:

      fleetpatch schema evaluation > evaluation.schema.json
    """
    from fleetpatch.report.evaluation import evaluation_json_schema

    typer.echo(json.dumps(evaluation_json_schema(), indent=2))


@app.command("facts")
def facts_schema() -> None:
    """Print the JSON Schema of a host facts document (`scan --save-facts`).

    Examples:

      fleetpatch schema facts > facts.schema.json
    """
    from fleetpatch.facts import HostFacts

    schema = HostFacts.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "fleetpatch host facts")
    typer.echo(json.dumps(schema, indent=2))
