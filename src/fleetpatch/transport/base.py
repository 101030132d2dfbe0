"""The transport protocol every remote backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    """What one remote command produced. ``exit_status`` is None when the remote side did not
    report one (killed by a signal). The transport never decides what success means."""

    exit_status: int | None
    stdout: str
    stderr: str
    duration: float


class Session(Protocol):
    """An open connection to one host."""

    async def run(
        self, command: str, *, stdin: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command``; feed ``stdin``; raise CommandTimeout (with partial output) after
        ``timeout`` seconds; raise ConnectError if the connection drops."""
        ...

    async def close(self) -> None: ...
