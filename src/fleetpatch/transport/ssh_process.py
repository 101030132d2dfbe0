"""A remote command driven as a dialogue over asyncssh (the transport's
:class:`fleetpatch.transport.base.RemoteProcess`), and the one way a lost connection is
reported.

The transport knows nothing of what is said in the dialogue (sudo's prompt, a script): it
writes what it is given, keeps what the command prints and tells whether it ended properly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import asyncssh

from fleetpatch.errors import CommandTimeout, ConnectionLost
from fleetpatch.transport.base import CommandResult, OutputCheck

_READ_SIZE = 65536


def lost_connection(reason: BaseException | None, stdout: str, stderr: str) -> ConnectionLost:
    """The error for a command whose connection went away (``reason``: what asyncssh said, if
    the connection itself closed; None when only the channel closed without an exit status).
    """
    text = str(reason) if reason is not None else ""
    if reason is None:
        why = (
            "the channel closed without an exit status (the remote command or the sshd "
            "serving it was killed)"
        )
    elif "keepalive" in text:
        why = f"the host stopped answering ({text}): network cut, or the host frozen or down"
    else:
        why = f"the connection was closed or reset ({text or type(reason).__name__}): the host, "
        why += "its sshd or the network went away"
    return ConnectionLost(
        f"connection lost while a command ran: {why}", stdout=stdout, stderr=stderr, reason=why
    )


class SshProcess:
    """One command in its own session channel; see
    :class:`fleetpatch.transport.base.RemoteProcess` for the contract."""

    def __init__(
        self,
        process: asyncssh.SSHClientProcess[str],
        connection_lost: Callable[[], BaseException | None],
        *,
        on_stdout: Callable[[str], None] | None = None,
    ) -> None:
        self._process = process
        self._connection_lost = connection_lost
        self._started = time.monotonic()
        self._out: list[str] = []
        self._err: list[str] = []
        self._changed = asyncio.Event()
        self._pumps = (
            asyncio.ensure_future(self._pump(process.stdout, self._out, on_stdout)),
            asyncio.ensure_future(self._pump(process.stderr, self._err, None)),
        )

    async def _pump(
        self,
        stream: asyncssh.SSHReader[str],
        into: list[str],
        on_chunk: Callable[[str], None] | None,
    ) -> None:
        try:
            while chunk := await stream.read(_READ_SIZE):
                into.append(chunk)
                self._changed.set()
                if on_chunk is not None:
                    on_chunk(chunk)
        except (asyncssh.Error, OSError):
            pass  # the channel went away: finish() tells how
        finally:
            self._changed.set()

    @property
    def _output(self) -> tuple[str, str]:
        return "".join(self._out), "".join(self._err)

    @property
    def _ended(self) -> bool:
        return all(pump.done() for pump in self._pumps)

    def write(self, data: str) -> None:
        """Send ``data``; dropped if the command already ended (:meth:`finish` says how)."""
        with contextlib.suppress(BrokenPipeError, OSError, asyncssh.Error):
            self._process.stdin.write(data)

    def write_eof(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, asyncssh.Error):
            self._process.stdin.write_eof()

    def kill(self) -> None:
        """SIGKILL by an SSH ``signal`` request (OpenSSH >= 7.9 delivers it to the session's
        process group; older servers ignore it)."""
        with contextlib.suppress(BrokenPipeError, OSError, asyncssh.Error):
            self._process.send_signal("KILL")

    async def watch(self, until: OutputCheck, *, timeout: float) -> bool:
        """See :meth:`fleetpatch.transport.base.RemoteProcess.watch`.

        Raises:
            CommandTimeout: ``until`` did not hold within ``timeout`` and the output goes on.
            ConnectionLost: the connection dropped before ``until`` held.
        """
        deadline = time.monotonic() + timeout
        while True:
            stdout, stderr = self._output
            if until(stdout, stderr):
                return True
            if self._ended:
                lost = self._connection_lost()
                if lost is not None:
                    raise lost_connection(lost, stdout, stderr)
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                raise CommandTimeout(
                    f"no expected answer within {timeout:g}s", stdout=stdout, stderr=stderr
                ) from None

    async def finish(self, *, timeout: float) -> CommandResult:
        """See :meth:`fleetpatch.transport.base.RemoteProcess.finish`.

        Raises:
            CommandTimeout: still running after ``timeout``; the channel is closed.
            ConnectionLost: the connection dropped, or no exit status came.
        """
        try:
            await asyncio.wait_for(self._wait_closed(), timeout)
        except TimeoutError:
            stdout, stderr = self._output
            self.close()
            raise CommandTimeout(
                f"command timed out after {timeout:g}s", stdout=stdout, stderr=stderr
            ) from None
        stdout, stderr = self._output
        status = self._process.exit_status
        if status is None and self._process.exit_signal is None:
            raise lost_connection(self._connection_lost(), stdout, stderr)
        return CommandResult(
            exit_status=status,
            stdout=stdout,
            stderr=stderr,
            duration=time.monotonic() - self._started,
        )

    async def _wait_closed(self) -> None:
        await self._process.wait_closed()
        await asyncio.gather(*self._pumps)

    def close(self) -> None:
        self._process.close()
        for pump in self._pumps:
            pump.cancel()
