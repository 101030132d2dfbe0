"""The transport protocol every remote backend implements."""

from __future__ import annotations

from collections.abc import Callable
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


OutputCheck = Callable[[str, str], bool]
"""Called with everything a process printed so far (stdout, stderr)."""


class RemoteProcess(Protocol):
    """A command started with :meth:`Session.start`, whose input the caller writes as it goes
    while watching its output (a dialogue: answer a prompt only once it has appeared)."""

    def write(self, data: str) -> None:
        """Send ``data`` to the command's stdin."""
        ...

    def write_eof(self) -> None:
        """Close the command's stdin."""
        ...

    def kill(self) -> None:
        """SIGKILL the command's process group at once (a remote side that cannot deliver
        signals ignores it; :meth:`finish` still ends when the command does)."""
        ...

    async def watch(self, until: OutputCheck, *, timeout: float) -> bool:
        """Wait until ``until(stdout, stderr)`` holds (True) or the output ended (False).

        Raises:
            CommandTimeout: neither within ``timeout`` seconds; carries the output so far.
            ConnectionLost: the connection dropped; carries the output so far.
        """
        ...

    async def finish(self, *, timeout: float) -> CommandResult:
        """Wait for the command to end; its whole output since it started.

        Raises:
            CommandTimeout: still running after ``timeout`` seconds; carries the output.
            ConnectionLost: the connection dropped, or the command ended without an exit
                status; carries the output.
        """
        ...

    def close(self) -> None:
        """Abandon the command (closes its channel; the connection stays open)."""
        ...


class Session(Protocol):
    """An open connection to one host."""

    async def run(
        self, command: str, *, stdin: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command``; feed ``stdin``; raise CommandTimeout (with partial output) after
        ``timeout`` seconds; raise ConnectionLost (with partial output) if the connection
        drops or the command ends without an exit status."""
        ...

    async def start(
        self, command: str, *, on_stdout: Callable[[str], None] | None = None
    ) -> RemoteProcess:
        """Start ``command`` and hand over its stdin and output (see :class:`RemoteProcess`);
        ``on_stdout`` also gets each piece of stdout as it arrives.

        Raises:
            ConnectError: the command could not be started.
        """
        ...

    async def close(self) -> None: ...
