"""``fleetpatch baseline``: validate, show, convert and evaluate patch baselines.

Thin: every command parses options, calls :mod:`fleetpatch.baseline` and prints.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetpatch.errors import InputError

# Only what typer needs to build the command line is imported at module level: the baseline
# machinery and rich are imported when a command runs.
if TYPE_CHECKING:
    from fleetpatch.baseline import Baseline
    from fleetpatch.compliance import HostCompliance

app = typer.Typer(
    help="Patch baselines: validate, show, import/export SSM JSON, evaluate host facts.",
    rich_markup_mode="markdown",
    no_args_is_help=True,
)

EXIT_BAD_INPUT = 2
_SEARCH_DIRS = (Path("baselines"),)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _fail(exc: InputError) -> typer.Exit:
    from fleetpatch.report.safe_text import printable

    typer.echo(f"error: {printable(str(exc))}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _resolve(ref: str) -> Baseline:
    from fleetpatch.baseline import resolve_baseline

    return resolve_baseline(ref, search_dirs=_SEARCH_DIRS)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc}", path=str(out)) from None


def _summary(b: Baseline) -> str:
    rules = len(b.approval_rules)
    parts = [
        f"{b.name} ({b.operating_system.value})",
        f"{rules} approval rule{'s' if rules != 1 else ''}",
        f"{len(b.global_filters)} global filters",
        f"{len(b.approved_patches)} approved",
        f"{len(b.rejected_patches)} rejected ({b.rejected_patches_action.value})",
    ]
    if b.sources:
        parts.append(f"{len(b.sources)} sources")
    return ", ".join(parts)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Baseline file (.yaml, .yml or .json).")],
) -> None:
    """Check a baseline file; print OK and a summary, or the error (exit 2).

    Checks keys and values against the baseline's operating system and SSM's limits.
    Approved/rejected entries are checked against the OS family's patch name formats.

    Examples:

        fleetpatch baseline validate baselines/web-security.yaml

        fleetpatch baseline validate exported-from-aws.json
    """
    from fleetpatch.baseline import load_baseline

    try:
        b = load_baseline(file)
    except InputError as exc:
        raise _fail(exc) from None
    typer.echo(f"OK {file}: {_summary(b)}")


@app.command()
def show(
    baseline: Annotated[str, typer.Argument(help="Predefined baseline name or a file.")],
) -> None:
    """Print a baseline (predefined or from a file) as YAML in fleetpatch's format.

    Examples:

        fleetpatch baseline show AWS-UbuntuDefaultPatchBaseline

        fleetpatch baseline show AWS-RedHatDefaultPatchBaseline > baselines/my-rhel.yaml

        fleetpatch baseline show exported-from-aws.json
    """
    from fleetpatch.baseline import baseline_to_yaml

    try:
        _write(baseline_to_yaml(_resolve(baseline)), None)
    except InputError as exc:
        raise _fail(exc) from None


@app.command("import-ssm")
def import_ssm_cmd(
    file: Annotated[Path, typer.Argument(help="JSON printed by `aws ssm get-patch-baseline`.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here (default stdout).")
    ] = None,
) -> None:
    """Convert the output of [italic]aws ssm get-patch-baseline[/italic] to a YAML baseline.

    Examples:

        aws ssm get-patch-baseline --baseline-id pb-0123456789abcdef0 > web.json

        fleetpatch baseline import-ssm web.json -o baselines/web.yaml
    """
    from fleetpatch.baseline import baseline_to_yaml, import_ssm

    try:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read file: {exc}", path=str(file)) from None
        _write(baseline_to_yaml(import_ssm(text, path=str(file))), output)
    except InputError as exc:
        raise _fail(exc) from None


@app.command("export-ssm")
def export_ssm_cmd(
    baseline: Annotated[str, typer.Argument(help="Predefined baseline name or a file.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON here (default stdout).")
    ] = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Only the keys `aws ssm create-patch-baseline --cli-input-json` accepts.",
        ),
    ] = False,
) -> None:
    """Print a baseline in SSM's JSON shape (as get-patch-baseline prints it).

    Examples:

        fleetpatch baseline export-ssm baselines/web-security.yaml

        fleetpatch baseline export-ssm baselines/web-security.yaml --create -o web.json

        aws ssm create-patch-baseline --cli-input-json file://web.json
    """
    from fleetpatch.baseline import export_ssm

    try:
        data = export_ssm(_resolve(baseline), for_create=create)
        _write(json.dumps(data, indent=2), output)
    except InputError as exc:
        raise _fail(exc) from None


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--now {value!r} is not an ISO-8601 date or time (e.g. 2024-05-01T00:00:00Z)"
        ) from None
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _print_table(result: HostCompliance, host: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from fleetpatch.report.safe_text import cell, printable

    console = Console(highlight=False, width=160)
    table = Table(title=cell(f"{host} against {result.baseline}"))
    for column in ("patch", "arch", "installed", "candidate", "state", "level", "reason"):
        table.add_column(column)
    for item in result.items:  # facts come from hosts: shown as they are
        table.add_row(
            cell(item.id),
            cell(item.arch),
            cell(item.installed_version or ""),
            cell(item.candidate_version or ""),
            item.state.value,
            item.compliance_level.value,
            cell(item.reason),
        )
    console.print(table)
    c = result.counts
    severity = result.overall_severity.value if result.overall_severity else "-"
    console.print(
        printable(f"{host}: {result.status.value} (severity {severity}); ")
        + f"installed {c.installed}, installed_other {c.installed_other}, "
        f"installed_rejected {c.installed_rejected}, missing {c.missing}, failed {c.failed}, "
        f"pending_reboot {c.installed_pending_reboot}, not_applicable {c.not_applicable}, "
        f"available_security_update {c.available_security_update}; "
        f"critical_non_compliant {c.critical_non_compliant}, "
        f"security_non_compliant {c.security_non_compliant}, "
        f"other_non_compliant {c.other_non_compliant}",
        markup=False,
    )


@app.command()
def evaluate(
    baseline: Annotated[
        str, typer.Option("--baseline", "-b", help="Predefined baseline name or a file.")
    ],
    facts: Annotated[Path, typer.Option("--facts", "-f", help="Host facts JSON file.")],
    now: Annotated[
        str | None,
        typer.Option(help="Evaluate as of this ISO-8601 time (UTC if no zone). Default: now."),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
    install_override: Annotated[
        Path | None,
        typer.Option("--install-override", help="An InstallOverrideList file (patches: [...])."),
    ] = None,
) -> None:
    """Evaluate saved host facts against a baseline, offline.

    Prints every patch's state, the rule or list entry that decided it, and the host summary.
    `--format json` writes the document of `fleetpatch schema evaluation` (the scan report's
    names: counts, non_compliant_by_severity, patches). Exit code: 0 compliant, 1
    non-compliant, 2 bad input.

    Examples:

        fleetpatch baseline evaluate --baseline AWS-DebianDefaultPatchBaseline --facts web1.json

        fleetpatch baseline evaluate -b baselines/web-security.yaml -f web1.json \\
            --now 2024-05-01T00:00:00Z --format json
    """
    from fleetpatch.baseline import evaluate_baseline, load_facts, load_install_override
    from fleetpatch.compliance import ComplianceStatus

    try:
        b = _resolve(baseline)
        host_facts = load_facts(facts)
        override = load_install_override(install_override) if install_override else None
        result = evaluate_baseline(host_facts, b, now=_parse_now(now), install_override=override)
    except InputError as exc:
        raise _fail(exc) from None
    if output_format is OutputFormat.json:
        from fleetpatch.report.evaluation import evaluation_to_json

        typer.echo(json.dumps(evaluation_to_json(host_facts.host, result), indent=2))
    else:
        _print_table(result, host_facts.host)
    raise typer.Exit(0 if result.status is ComplianceStatus.COMPLIANT else 1)


@app.command("list")
def list_cmd() -> None:
    """List the predefined baselines with their operating system.

    Examples:

        fleetpatch baseline list

        fleetpatch baseline show "$(fleetpatch baseline list | grep REDHAT | cut -f1)"
    """
    from fleetpatch.baseline import get_predefined, list_predefined

    for name in list_predefined():
        b = get_predefined(name)
        typer.echo(f"{name}\t{b.operating_system.value}")


__all__ = ["app"]
