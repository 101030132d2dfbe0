"""What a command handler sees: the command as decoded from the wire, and a process to drive.

The endpoint decodes each WinRS Command into a ``CommandRequest`` and runs the host's
``CommandHandler.run(request, process)`` in a thread of its own, so a handler is written like
the ``main`` of a program: read stdin, write stdout/stderr, sleep, return the exit code. The
client meanwhile polls with Receive and gets whatever the process has written so far.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tests.winrm.soap import StreamChunk

if TYPE_CHECKING:
    from tests.winrm.host import EmulatedHost

# cmd.exe refuses a command line longer than 8191 characters ("The command line is too
# long.", exit code 1 - vagrant issue 3816 shows the pair as WinRM returns it); CreateProcess
# itself takes 32767. pywinrm's run_ps puts the whole base64 UTF-16 script on the line, so a
# script of about 3 KB is already too long (pywinrm issue 184, WinRb/WinRM issue 41).
CMD_LINE_LIMIT = 8191
CREATE_PROCESS_LIMIT = 32767
# STATUS_CONTROL_C_EXIT, the exit code of a console process stopped by Ctrl+C (0xC000013A).
CTRL_C_EXIT = 0xC000013A


def python_codec(codepage: int) -> str:
    """The Python codec of a Windows code page (65001 is UTF-8)."""
    return "utf-8" if codepage == 65001 else f"cp{codepage}"


@dataclass(frozen=True)
class ShellSettings:
    """What the client asked for in the Create: [MS-WSMV] 2.2.4.37 and the WINRS_ options."""

    shell_id: str
    codepage: int = 437
    working_directory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    noprofile: bool = False
    owner: str = ""
    client_ip: str = ""


@dataclass(frozen=True)
class CommandRequest:
    """One WinRS Command, decoded."""

    host_name: str
    shell: ShellSettings
    command_id: str
    command: str
    arguments: tuple[str, ...]
    skip_cmd_shell: bool = False
    console_mode_stdin: bool = True

    @property
    def command_line(self) -> str:
        """The line the process gets, as WinRS builds it: command, a space, the arguments."""
        return " ".join((self.command, *self.arguments)) if self.arguments else self.command

    @property
    def words(self) -> list[str]:
        """The command line split on white space (enough for base64 and simple commands)."""
        return self.command_line.split()

    @property
    def program(self) -> str:
        """The program name, lower case, without directory or ``.exe``: ``powershell``."""
        words = self.words
        if not words:
            return ""
        name = words[0].strip('"').replace("/", "\\").rsplit("\\", 1)[-1].lower()
        return name[:-4] if name.endswith(".exe") else name

    @property
    def powershell_script(self) -> str | None:
        """The script of ``powershell -EncodedCommand <base64 of UTF-16LE>`` (pywinrm's
        run_ps), decoded; None when this is not such a command line.

        Raises:
            ValueError: the argument after -EncodedCommand is not base64 of UTF-16LE text.
        """
        if self.program not in ("powershell", "pwsh"):
            return None
        words = self.words
        for index, word in enumerate(words[1:-1], start=1):
            lowered = word.lower()
            # PowerShell accepts any unambiguous prefix of -EncodedCommand, and -ec
            if lowered == "-ec" or (len(lowered) >= 2 and "-encodedcommand".startswith(lowered)):
                try:
                    raw = base64.b64decode(words[index + 1], validate=True)
                    return raw.decode("utf-16-le")
                except (binascii.Error, UnicodeDecodeError) as exc:
                    raise ValueError(f"-EncodedCommand is not base64 UTF-16LE: {exc}") from exc
        return None


class ProcessStopped(Exception):
    """Raised inside a handler's write when the command was terminated or the host went down;
    a handler need not catch it."""


class RemoteProcess:
    """The running command: its stdin as the client sends it, its output as Receive takes it.

    Thread-safe: the handler's thread writes, the endpoint's request threads read.
    """

    def __init__(self, request: CommandRequest, host: EmulatedHost) -> None:
        self.request = request
        self.host = host
        self._lock = threading.Condition()
        self._output: deque[StreamChunk] = deque()
        self._stdin: deque[bytes] = deque()
        self._stdin_closed = False
        self._exit_code: int | None = None
        self._stopped = False
        self._ctrl_c = False
        self.stdin_received: list[bytes] = []  # every chunk, in order, for tests to inspect

    # --- for handlers ---------------------------------------------------------------------

    @property
    def codepage(self) -> int:
        return self.request.shell.codepage

    def encode(self, text: str) -> bytes:
        """Text as the console writes it in the shell's code page; a character the code page
        lacks becomes ``?`` (WideCharToMultiByte's default character)."""
        return text.encode(python_codec(self.codepage), errors="replace")

    def decode(self, data: bytes) -> str:
        return data.decode(python_codec(self.codepage), errors="replace")

    def write(self, data: bytes | str, stream: str = "stdout") -> None:
        """Append output; ``str`` is encoded in the shell's code page.

        Raises:
            ProcessStopped: the command was terminated (its output goes nowhere).
        """
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"no output stream {stream!r}")
        payload = self.encode(data) if isinstance(data, str) else bytes(data)
        with self._lock:
            if self._stopped:
                raise ProcessStopped(self.request.command_id)
            if self._exit_code is not None:
                raise RuntimeError("write after the process exited")
            if payload:
                self._output.append(StreamChunk(stream, payload))
                self._lock.notify_all()

    def read_stdin(self, timeout: float | None = None) -> bytes | None:
        """The next chunk the client sent; None at end of input, when stopped, or on timeout
        (``stdin_closed`` and ``stopped`` tell which)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._stdin and not self._stdin_closed and not self._stopped:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._lock.wait(remaining)
            return self._stdin.popleft() if self._stdin else None

    def read_all_stdin(self) -> bytes:
        """Everything the client sends until it sends End (or the command is stopped)."""
        parts = []
        while (chunk := self.read_stdin()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def sleep(self, seconds: float) -> bool:
        """Wait; False (early) when the command is stopped or gets Ctrl+C."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while not self._stopped and not self._ctrl_c:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self._lock.wait(remaining)
            return False

    @property
    def stdin_closed(self) -> bool:
        return self._stdin_closed

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def ctrl_c(self) -> bool:
        return self._ctrl_c

    # --- for the endpoint -----------------------------------------------------------------

    def feed_stdin(self, data: bytes, end: bool) -> None:
        with self._lock:
            if data:
                self._stdin.append(data)
                self.stdin_received.append(data)
            if end:
                self._stdin_closed = True
            self._lock.notify_all()

    def finish(self, exit_code: int) -> None:
        with self._lock:
            if self._exit_code is None:
                self._exit_code = exit_code
            self._lock.notify_all()

    def stop(self) -> None:
        """Terminate: the handler's next write raises, its sleeps and reads return."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    def interrupt(self) -> None:
        with self._lock:
            self._ctrl_c = True
            self._lock.notify_all()

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    def take_output(
        self, max_bytes: int, deadline: float, max_chunks: int = 64
    ) -> tuple[list[StreamChunk], int | None] | None:
        """Wait until there is output or an exit code, then take up to ``max_bytes`` of it.

        Adjacent writes to one stream are merged into one chunk (at most ``max_chunks``), so
        a response stays under the client's MaxEnvelopeSize however the handler wrote.
        Returns the chunks, and the exit code when this answer completes the command (all its
        output taken); None when the deadline passed with nothing to say (the Receive times
        out) or the command was stopped.
        """
        with self._lock:
            while not self._output and self._exit_code is None and not self._stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)
            if self._stopped and not self._output:
                return None
            taken: list[tuple[str, bytearray]] = []
            budget = max_bytes
            while self._output and budget > 0:
                chunk = self._output[0]
                if taken and taken[-1][0] == chunk.name:
                    target = taken[-1][1]
                elif len(taken) < max_chunks:
                    taken.append((chunk.name, bytearray()))
                    target = taken[-1][1]
                else:
                    break
                piece = chunk.data[:budget]
                target += piece
                budget -= len(piece)
                self._output.popleft()
                if len(piece) < len(chunk.data):
                    self._output.appendleft(StreamChunk(chunk.name, chunk.data[len(piece) :]))
            chunks = [StreamChunk(name, bytes(data)) for name, data in taken]
            if self._output or self._exit_code is None:
                return chunks, None
            chunks += [StreamChunk("stdout", b"", end=True), StreamChunk("stderr", b"", end=True)]
            return chunks, self._exit_code


class CommandHandler(Protocol):
    """What an emulated host runs for each WinRS Command.

    ``run`` is called in a thread of its own when the Command arrives; it returns the exit
    code. It may block (``process.read_stdin``, ``process.sleep``) and write output at any
    time; the client sees output as it polls. It must not write after returning. An exception
    ends the command with exit code 1 and is recorded on the host (the test fixture fails the
    test with it).
    """

    def run(self, request: CommandRequest, process: RemoteProcess) -> int: ...
