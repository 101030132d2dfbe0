"""Helpers shared by CLI commands: error reporting, exit codes, consoles."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from fleetpatch.errors import FleetpatchError

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


def print_error(message: str) -> None:
    """``error: message`` on stderr; the message is shown as it is (it may quote a file or a
    host: never read as markup, control characters escaped)."""
    from rich.text import Text

    from fleetpatch.report.safe_text import printable

    stderr_console().print(Text.assemble(("error:", "bold red"), " ", printable(message)))


def fail_input(message: str) -> NoReturn:
    """Print a bad-input message and exit 2. Nothing has been written anywhere."""
    print_error(message)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn InputError, store errors (and other controller-side fleetpatch errors) into exit
    code 2; an error of a database driver that reached here unnamed is reported as a store
    error too, never as a traceback."""
    try:
        yield
    except FleetpatchError as exc:
        fail_input(str(exc))
    except Exception as exc:
        from fleetpatch.store.failures import is_database_error

        if not is_database_error(exc):
            raise
        fail_input(f"the store failed: {exc}")


def guarded(fn: Callable[[], T]) -> T:
    with input_errors():
        return fn()


def is_terminal() -> bool:
    return sys.stderr.isatty()
