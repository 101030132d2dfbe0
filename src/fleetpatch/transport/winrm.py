"""WinRM transport on pywinrm: the :class:`fleetpatch.transport.base.Session` protocol over
WS-Management.

pywinrm is synchronous and one ``Protocol`` must not be used by two threads at once, so:

* one :class:`WinrmConnector` per run owns a bounded thread pool (its size is the run's
  concurrency) where every pywinrm call runs, one call at a time per host;
* one :class:`WinrmSession` per host holds one pywinrm ``Protocol`` (one authenticated HTTP
  connection) and one remote shell, in which each command runs;
* fleetpatch keeps its own deadline around every call: pywinrm's ``get_command_output``
  retries ``OperationTimeout`` faults forever, so fleetpatch asks for output one Receive at a
  time, with an OperationTimeout no longer than what is left of the command's timeout, and
  stops waiting for a call that runs past it.

A command's stdin is sent in chunks of :data:`STDIN_CHUNK` bytes, as UTF-8, whatever its
length, and its output is decoded as UTF-8 (the shell is opened with code page 65001)
incrementally, so a character split between two Receives survives. Errors are fleetpatch's
(:mod:`fleetpatch.transport.winrm_errors`); a lost connection and a timeout carry the output
received so far.

The transport runs command lines; it knows nothing of PowerShell or scripts: the Windows
platform's interpreter (:data:`fleetpatch.platforms.windows.bootstrap.POWERSHELL_FROM_STDIN`)
is a command line that reads its script from stdin.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

from fleetpatch.errors import CommandTimeout, ConnectError, ConnectionLost, HostError
from fleetpatch.inventory.model import Host
from fleetpatch.transport.base import CommandResult, OutputCheck
from fleetpatch.transport.winrm_errors import command_error, connect_error
from fleetpatch.transport.winrm_settings import WinrmTarget, winrm_target

log = logging.getLogger(__name__)

T = TypeVar("T")

UTF8_CODEPAGE = 65001
STDIN_CHUNK = 32768
"""bytes of stdin per Send: ~44 KB of base64 in an envelope, well under the 150 KB
MaxEnvelopeSize of every Windows version"""
OPERATION_TIMEOUT = 20
"""the longest a Receive waits on the host for output (seconds, WS-Management's
OperationTimeout); fleetpatch's deadline is checked at least this often"""
READ_MARGIN = 10
"""how much longer than the OperationTimeout the HTTP read may take before the connection
counts as lost"""
CALL_MARGIN = 15.0
"""how much longer than its own timeouts fleetpatch waits for one pywinrm call"""
RETRY_DELAY_CAP = 10.0


@dataclass
class WinrmConnector:
    """Opens WinRM sessions for one run; every pywinrm call runs in its bounded thread pool.

    ``threads`` bounds the blocking calls in flight across all hosts (the run's concurrency).
    """

    threads: int = 16
    operation_timeout: int = OPERATION_TIMEOUT
    jitter: random.Random | None = None

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"the WinRM thread pool needs at least 1 thread, got {self.threads}")
        self.thread_prefix = f"fp-winrm-{id(self):x}"
        self.pool = ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix=self.thread_prefix
        )
        self._random = self.jitter or random.Random()

    async def call(self, fn: Callable[[], T], *, timeout: float) -> T:
        """Run the blocking ``fn`` in the pool; give up waiting after ``timeout`` seconds
        (the thread finishes on its own, bounded by the HTTP read timeout).

        Raises:
            TimeoutError: ``fn`` did not return in time.
        """
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self.pool, fn), timeout)

    async def connect(self, host: Host) -> WinrmSession:
        """Log in and open a shell on ``host``; refused connections (the host rebooting, the
        service restarting) are tried again ``connect_retries`` times with backoff.

        Raises:
            AuthError: refused credentials, a missing password variable, Kerberos without
                its extra.
            CertificateError: the HTTPS certificate was refused.
            ConnectError: unreachable, refused, timed out.
            WinrmFault: the service answered the shell's creation with a fault.
        """
        target = winrm_target(host, operation_timeout=self.operation_timeout)
        settings = host.connection
        started = time.monotonic()
        for attempt in range(settings.connect_retries + 1):
            try:
                return await self._open(target)
            except ConnectError as exc:
                if not exc.args or "connection refused" not in str(exc):
                    raise
                if attempt == settings.connect_retries:
                    seconds = time.monotonic() - started
                    raise ConnectError(
                        f"{exc} ({attempt + 1} attempts over {seconds:.1f}s); is the WinRM "
                        f"listener on port {host.port} and the firewall open for it?"
                    ) from None
                step = min(RETRY_DELAY_CAP, settings.connect_retry_delay * 2.0**attempt)
                await asyncio.sleep(step / 2 + self._random.uniform(0, step / 2))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _open(self, target: WinrmTarget) -> WinrmSession:
        if target.insecure:
            log.warning(
                "%s: TLS certificate validation is OFF (winrm_insecure_skip_cert_validation)",
                target.what,
            )
        protocol = target.protocol()
        try:
            shell_id = await self.call(
                partial(protocol.open_shell, codepage=UTF8_CODEPAGE, noprofile=True),
                timeout=target.connect_timeout * 3 + CALL_MARGIN,
            )
        except TimeoutError:
            protocol.transport.close_session()
            raise ConnectError(
                f"{target.what}: no answer to the login within the timeout"
            ) from None
        except Exception as exc:
            protocol.transport.close_session()
            raise connect_error(exc, target.what) from None
        return WinrmSession(self, target, protocol, shell_id)

    async def close(self) -> None:
        """Stop the pool (calls still running finish on their own)."""
        self.pool.shutdown(wait=False, cancel_futures=True)


class WinrmSession:
    """One host: a pywinrm Protocol and one shell, used by one call at a time."""

    def __init__(
        self, connector: WinrmConnector, target: WinrmTarget, protocol: Protocol, shell_id: str
    ) -> None:
        self._connector = connector
        self.target = target
        self._protocol = protocol
        self.shell_id = shell_id
        self._lock = asyncio.Lock()
        self._broken: str = ""
        """why the session cannot be used any more (a call abandoned at its deadline)"""
        self._background: set[asyncio.Task[None]] = set()

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a terminate signal) without waiting; :meth:`close` waits for it."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def __repr__(self) -> str:
        return f"WinrmSession({self.target.what}, shell {self.shell_id})"

    async def _call(self, operation: str, fn: Callable[[], T], *, timeout: float) -> T:
        """One pywinrm call, alone on this session, within ``timeout``.

        Raises:
            TimeoutError: it ran past ``timeout`` (the session is then unusable).
            ConnectionLost: an earlier call was abandoned.
        """
        if self._broken:
            raise ConnectionLost(self._broken, reason=self._broken)
        async with self._lock:
            try:
                return await self._connector.call(fn, timeout=timeout)
            except TimeoutError:
                self._broken = f"a WinRM {operation} did not return in time; the session was closed"
                raise

    async def run(
        self, command: str, *, stdin: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command`` (a command line), send ``stdin`` in chunks, wait for its end.

        Raises:
            CommandTimeout: ran past ``timeout``; carries the output so far (the command is
                stopped).
            ConnectionLost: the connection dropped or the host lost the shell (a reboot);
                carries the output so far.
            WinrmFault, AuthError, ConnectError: the service refused a request.
        """
        return await self.stream(command, on_stdout=None, stdin=stdin, timeout=timeout)

    async def stream(
        self,
        command: str,
        *,
        on_stdout: Callable[[str], None] | None,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """:meth:`run`, handing stdout to ``on_stdout`` as it arrives. Same errors."""
        process = await self.start(command, on_stdout=on_stdout)
        try:
            if stdin:
                process.write(stdin)
            process.write_eof()
            return await process.finish(timeout=timeout if timeout is not None else 1e9)
        finally:
            process.close()

    async def start(
        self, command: str, *, on_stdout: Callable[[str], None] | None = None
    ) -> WinrmProcess:
        """Start ``command`` (:class:`fleetpatch.transport.base.RemoteProcess`).

        Raises:
            ConnectionLost, WinrmFault, AuthError, ConnectError: the command could not start.
        """
        protocol = self._protocol
        try:
            command_id = await self._call(
                "Command",
                partial(protocol.run_command, self.shell_id, command, console_mode_stdin=False),
                timeout=self._request_timeout(),
            )
        except TimeoutError:
            why = "the host did not answer the Command request in time"
            raise ConnectionLost(f"connection lost: {why}", reason=why) from None
        except Exception as exc:
            raise command_error(exc, "Command") from None
        return WinrmProcess(self, command_id, on_stdout)

    def _request_timeout(self) -> float:
        return float(self.target.read_timeout) + CALL_MARGIN

    async def close(self) -> None:
        """Delete the shell and close the HTTP connection (best effort: the host may be down)."""
        protocol = self._protocol
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if not self._broken:
            with contextlib.suppress(Exception):
                await self._call(
                    "Delete",
                    partial(protocol.close_shell, self.shell_id),
                    timeout=min(10.0, self._request_timeout()),
                )
        self._broken = self._broken or "the session is closed"
        with contextlib.suppress(Exception):
            protocol.transport.close_session()


class WinrmProcess:
    """A running command: queued stdin goes out in chunks, output is received until the end.

    One task (the pump) does all the WS-Management requests of the command in order: Sends
    while there is input to send, then Receives, each with an OperationTimeout no longer than
    the deadline allows.
    """

    def __init__(
        self,
        session: WinrmSession,
        command_id: str,
        on_stdout: Callable[[str], None] | None,
    ) -> None:
        self._session = session
        self.command_id = command_id
        self._on_stdout = on_stdout
        self._started = time.monotonic()
        self._stdin: list[bytes] = []
        self._eof = False
        self._eof_sent = False
        self._out: list[str] = []
        self._err: list[str] = []
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for name in ("stdout", "stderr")
        }
        self._exit: int | None = None
        self._error: HostError | None = None
        self._timed_out = False
        self._deadline = float("inf")
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._pump = asyncio.ensure_future(self._run())

    # --- the RemoteProcess protocol -----------------------------------------------------------

    def write(self, data: str) -> None:
        """Queue ``data`` (UTF-8) for the command's stdin."""
        raw = data.encode("utf-8")
        for start in range(0, len(raw), STDIN_CHUNK):
            self._stdin.append(raw[start : start + STDIN_CHUNK])
        self._wake.set()

    def write_eof(self) -> None:
        self._eof = True
        self._wake.set()

    def kill(self) -> None:
        """Terminate the command (a WinRS ``terminate`` signal, sent when the pump stops)."""
        self._pump.cancel()

    @property
    def _output(self) -> tuple[str, str]:
        return "".join(self._out), "".join(self._err)

    async def watch(self, until: OutputCheck, *, timeout: float) -> bool:
        """See :meth:`fleetpatch.transport.base.RemoteProcess.watch`."""
        deadline = time.monotonic() + timeout
        while True:
            stdout, stderr = self._output
            if until(stdout, stderr):
                return True
            if self._pump.done():
                if self._error is not None:
                    raise self._with_output(self._error)
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                raise CommandTimeout(
                    f"no expected answer within {timeout:g}s", stdout=stdout, stderr=stderr
                ) from None

    async def finish(self, *, timeout: float) -> CommandResult:
        """Wait for the command's end, at most ``timeout`` seconds.

        Raises:
            CommandTimeout: still running then; carries the output (the command is stopped).
            ConnectionLost, WinrmFault, AuthError: as the request that failed; with output.
        """
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._pump), timeout + CALL_MARGIN)
        except TimeoutError:
            self._timed_out = True
        stdout, stderr = self._output
        if not self._pump.done() or self._timed_out:
            self.close()
            raise CommandTimeout(
                f"command timed out after {timeout:g}s", stdout=stdout, stderr=stderr
            )
        if self._error is not None:
            raise self._with_output(self._error)
        return CommandResult(
            exit_status=self._exit,
            stdout=stdout,
            stderr=stderr,
            duration=time.monotonic() - self._started,
        )

    def close(self) -> None:
        """Stop following the command; a command still running is terminated (best effort)."""
        if not self._pump.done():
            self._pump.cancel()

    # --- the pump -----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._send_input()
            await self._receive_all()
        except asyncio.CancelledError:
            if self._exit is None:
                self._session.in_background(self._terminate())
            raise
        except _Timeout:
            self._timed_out = True
            if self._exit is None:
                await self._terminate()
        except HostError as exc:
            self._error = exc
        finally:
            self._flush_decoders()
            self._changed.set()

    async def _send_input(self) -> None:
        session = self._session
        protocol = session._protocol
        while not self._eof_sent:
            if not self._stdin and not self._eof:
                self._wake.clear()
                await self._wake.wait()
                continue
            chunk = self._stdin.pop(0) if self._stdin else b""
            end = self._eof and not self._stdin
            await self._request(
                "Send",
                partial(
                    protocol.send_command_input,
                    session.shell_id,
                    self.command_id,
                    chunk,
                    end=end,
                ),
                float(session.target.read_timeout) + CALL_MARGIN,
            )
            self._eof_sent = end

    async def _receive_all(self) -> None:
        session = self._session
        protocol = session._protocol
        ceiling = session.target.operation_timeout
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout
            # pywinrm reads the OperationTimeout from the protocol when it builds the request;
            # this session's calls are serialised, so setting it per call is safe
            wait = max(1, min(ceiling, int(remaining)))

            def receive(wait: int = wait) -> tuple[bytes, bytes, int, bool]:
                protocol.operation_timeout_sec = wait
                try:
                    result: tuple[bytes, bytes, int, bool] = protocol.get_command_output_raw(
                        session.shell_id, self.command_id
                    )
                    return result
                finally:
                    protocol.operation_timeout_sec = ceiling

            try:
                stdout, stderr, code, done = await self._request(
                    "Receive", receive, float(session.target.read_timeout) + CALL_MARGIN
                )
            except _OperationTimedOut:
                continue  # nothing within the OperationTimeout: ask again (deadline permitting)
            self._take("stdout", stdout)
            self._take("stderr", stderr)
            if done:
                self._exit = code
                return

    async def _request(self, operation: str, fn: Callable[[], T], timeout: float) -> T:
        stdout, stderr = self._output
        try:
            return await self._session._call(operation, fn, timeout=timeout)
        except WinRMOperationTimeoutError:
            raise _OperationTimedOut from None
        except TimeoutError:
            why = f"the host did not answer a WinRM {operation} in time"
            raise ConnectionLost(
                f"connection lost while a command ran: {why}",
                stdout=stdout,
                stderr=stderr,
                reason=why,
            ) from None
        except HostError:
            raise
        except Exception as exc:
            raise command_error(exc, operation, stdout, stderr) from None

    async def _terminate(self) -> None:
        session = self._session
        with contextlib.suppress(Exception):
            await session._call(
                "Signal",
                partial(session._protocol.cleanup_command, session.shell_id, self.command_id),
                timeout=10.0,
            )

    def _take(self, stream: str, data: bytes) -> None:
        if not data:
            return
        text = self._decoders[stream].decode(data)
        if not text:
            return
        (self._out if stream == "stdout" else self._err).append(text)
        if stream == "stdout" and self._on_stdout is not None:
            self._on_stdout(text)
        self._changed.set()

    def _flush_decoders(self) -> None:
        for stream, decoder in self._decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest:
                (self._out if stream == "stdout" else self._err).append(rest)
                if stream == "stdout" and self._on_stdout is not None:
                    self._on_stdout(rest)

    def _with_output(self, error: HostError) -> HostError:
        if isinstance(error, ConnectionLost):
            stdout, stderr = self._output
            return ConnectionLost(
                str(error), stdout=stdout, stderr=stderr, step=error.step, reason=error.reason
            )
        return error


class _OperationTimedOut(Exception):
    """A Receive got the OperationTimeout fault: no output yet, ask again."""


class _Timeout(Exception):
    """The command's deadline passed."""


def winrm_session_options(host: Host) -> dict[str, Any]:
    """What fleetpatch tells pywinrm for ``host``, without the password (for ``--explain``
    style output and tests)."""
    target = winrm_target(host, require_password=False)
    return target.options(with_secret=False)
