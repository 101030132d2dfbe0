"""Helpers shared by CLI commands: error reporting, exit codes, consoles."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from fleetpatch.errors import FleetpatchError, InputError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_NON_COMPLIANT = 1
EXIT_BAD_INPUT = 2
EXIT_HOSTS_FAILED = 3
EXIT_CANCELLED = 130

T = TypeVar("T")


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail_input(message: str) -> NoReturn:
    """Print a bad-input message and exit 2. Nothing has been written anywhere."""
    stderr_console().print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn InputError (and other controller-side fleetpatch errors) into exit code 2."""
    try:
        yield
    except InputError as exc:
        fail_input(_escape(str(exc)))
    except FleetpatchError as exc:
        fail_input(_escape(str(exc)))


def guarded(fn: Callable[[], T]) -> T:
    with input_errors():
        return fn()


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def is_terminal() -> bool:
    return sys.stderr.isatty()
