"""Every command has --help with examples."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fleetpatch.cli.main import app


def _commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(root, [])
    return found


COMMANDS = _commands()


def test_the_expected_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {
        "scan",
        "report",
        "install",
        "run",
        "inventory list",
        "schema report",
        "schema facts",
        "baseline validate",
        "baseline show",
        "baseline import-ssm",
        "baseline export-ssm",
        "baseline evaluate",
        "baseline list",
    } <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_help_has_examples(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    assert f"fleetpatch {' '.join(command)}" in result.output
