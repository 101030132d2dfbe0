"""Every command has --help with examples."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fleetpatch.cli import main as cli_main
from fleetpatch.cli.main import app, build_app


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


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_command_built_alone_behaves_as_in_the_whole_app(command: list[str]) -> None:
    """main() builds only the invoked command (typer's per-start cost): its help, and its
    error for a bad option, are what the whole app gives."""
    alone = build_app(only=command[0])
    for args in ([*command, "--help"], [*command, "--no-such-option"]):
        whole = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
        single = CliRunner().invoke(alone, args, env={"COLUMNS": "120"})
        assert (single.exit_code, single.output) == (whole.exit_code, whole.output)


def test_main_builds_only_the_invoked_command(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str | None] = []
    real = cli_main.build_app

    def spy(only: str | None = None) -> typer.Typer:
        built.append(only)
        return real(only)

    monkeypatch.setattr(cli_main, "build_app", spy)
    for argv, expected in ((["scan", "--help"], ["scan"]), (["baseline", "list"], ["baseline"])):
        monkeypatch.setattr("sys.argv", ["fleetpatch", *argv])
        with pytest.raises(SystemExit) as exit_info:
            cli_main.main()
        assert exit_info.value.code == 0
        assert built == expected
        built.clear()
    monkeypatch.setattr("sys.argv", ["fleetpatch", "scna"])  # a typo: the whole app says so
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main()
    assert exit_info.value.code == 2
    assert built == []
