"""The Windows Remote Shell service of one emulated host: [MS-WSMV] 3.1.4.5-3.1.4.17.

Create makes a cmd shell, Command starts a process in it (the host's handler in a thread),
Send feeds its stdin, Receive long-polls its output (answering w:TimedOut when nothing comes
within the client's OperationTimeout, as Windows does), Signal terminates it or sends Ctrl+C,
Delete closes the shell and everything running in it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.winrm import soap
from tests.winrm.process import (
    CMD_LINE_LIMIT,
    CREATE_PROCESS_LIMIT,
    CommandRequest,
    ProcessStopped,
    RemoteProcess,
    ShellSettings,
)

if TYPE_CHECKING:
    from tests.winrm.host import EmulatedHost

# Room kept for the envelope around the streams of a ReceiveResponse, and the default
# MaxEnvelopeSize of Windows (and of pywinrm's requests) when a client sends none.
_ENVELOPE_OVERHEAD = 8192
DEFAULT_MAX_ENVELOPE = 153600
DEFAULT_OPERATION_TIMEOUT = 60.0


class FaultAnswer(Exception):
    """Answer the request with this WS-Management fault."""

    def __init__(self, fault: soap.WsmanFault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


@dataclass
class _Command:
    process: RemoteProcess
    thread: threading.Thread | None = None
    done_delivered: bool = False


@dataclass
class _Shell:
    settings: ShellSettings
    commands: dict[str, _Command] = field(default_factory=dict)


class ShellTable:
    """The shells open on one host."""

    def __init__(self, host: EmulatedHost) -> None:
        self._host = host
        self._shells: dict[str, _Shell] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._shells)

    def processes(self) -> list[RemoteProcess]:
        with self._lock:
            return [c.process for s in self._shells.values() for c in s.commands.values()]

    def close_all(self) -> None:
        """Every shell and process goes (a reboot, the endpoint stopping)."""
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            for command in shell.commands.values():
                command.process.stop()

    def _shell(self, request: soap.WsmanRequest) -> _Shell:
        shell_id = request.shell_id or ""
        with self._lock:
            shell = self._shells.get(shell_id.upper())
        if shell is None:
            raise FaultAnswer(soap.shell_not_found(shell_id))
        return shell

    def _command(self, shell: _Shell, command_id: str | None) -> _Command:
        with self._lock:
            command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise FaultAnswer(soap.UNKNOWN_COMMAND_ID)
        return command

    # --- the operations ----------------------------------------------------------------------

    def create(self, request: soap.WsmanRequest, owner: str, client_ip: str) -> bytes:
        body = soap.read_shell_create(request.body)
        codepage_text = request.options.get("WINRS_CODEPAGE", "437")
        try:
            codepage = int(codepage_text)
        except ValueError as exc:
            raise FaultAnswer(
                soap.schema_validation_error(f"WINRS_CODEPAGE {codepage_text!r}")
            ) from exc
        settings = ShellSettings(
            shell_id=soap.new_resource_id(),
            codepage=codepage,
            working_directory=body.working_directory,
            environment=body.environment,
            noprofile=request.option_flag("WINRS_NOPROFILE", False),
            owner=owner,
            client_ip=client_ip,
        )
        with self._lock:
            self._shells[settings.shell_id] = _Shell(settings)
        info = soap.ShellInfo(
            settings.shell_id, owner, client_ip, body.input_streams, body.output_streams
        )
        return soap.create_response(request, self._host.url, info)

    def command(self, request: soap.WsmanRequest) -> bytes:
        shell = self._shell(request)
        command, arguments = soap.read_command_line(request.body)
        decoded = CommandRequest(
            host_name=self._host.name,
            shell=shell.settings,
            command_id=soap.new_resource_id(),
            command=command,
            arguments=arguments,
            skip_cmd_shell=request.option_flag("WINRS_SKIP_CMD_SHELL", False),
            console_mode_stdin=request.option_flag("WINRS_CONSOLEMODE_STDIN", True),
        )
        process = RemoteProcess(decoded, self._host)
        entry = _Command(process)
        with self._lock:
            shell.commands[decoded.command_id] = entry
        limit = CREATE_PROCESS_LIMIT if decoded.skip_cmd_shell else CMD_LINE_LIMIT
        if len(decoded.command_line) > limit:
            # cmd.exe (or CreateProcess) refuses it; the handler never sees it.
            process.write("The command line is too long.\r\n", "stderr")
            process.finish(1)
        else:
            self._host.record_process(process)
            entry.thread = threading.Thread(
                target=self._run_handler,
                args=(process,),
                name=f"wsman-{self._host.name}-{decoded.command_id[:8]}",
                daemon=True,
            )
            entry.thread.start()
        return soap.command_response(request, decoded.command_id)

    def _run_handler(self, process: RemoteProcess) -> None:
        try:
            exit_code = self._host.handler.run(process.request, process)
        except ProcessStopped:
            exit_code = 1
        except Exception as exc:
            self._host.record_error(exc)
            with contextlib.suppress(ProcessStopped, RuntimeError):
                process.write(f"test endpoint: the handler raised {exc!r}\r\n", "stderr")
            exit_code = 1
        process.finish(exit_code)

    def send(self, request: soap.WsmanRequest) -> bytes:
        shell = self._shell(request)
        for stream in soap.read_send(request.body):
            command = self._command(shell, stream.command_id)
            try:
                data = base64.b64decode(stream.data_base64, validate=True)
            except binascii.Error as exc:
                raise FaultAnswer(soap.schema_validation_error(f"stdin base64: {exc}")) from exc
            command.process.feed_stdin(data, stream.end)
        return soap.empty_response(request, "SendResponse")

    def receive(self, request: soap.WsmanRequest) -> bytes:
        shell = self._shell(request)
        command_id, _streams = soap.read_receive(request.body)
        command = self._command(shell, command_id)
        if command.done_delivered:
            raise FaultAnswer(soap.UNKNOWN_COMMAND_ID)
        timeout = request.operation_timeout or DEFAULT_OPERATION_TIMEOUT
        envelope = request.max_envelope_size or DEFAULT_MAX_ENVELOPE
        max_bytes = max(1024, (envelope - _ENVELOPE_OVERHEAD) * 3 // 4)
        if self._host.max_receive_bytes is not None:
            max_bytes = min(max_bytes, self._host.max_receive_bytes)
        taken = command.process.take_output(max_bytes, time.monotonic() + timeout)
        if taken is None:
            if command.process.stopped:
                raise FaultAnswer(soap.UNKNOWN_COMMAND_ID)
            raise FaultAnswer(soap.OPERATION_TIMED_OUT)
        chunks, exit_code = taken
        if exit_code is not None:
            command.done_delivered = True
        return soap.receive_response(request, command.process.request.command_id, chunks, exit_code)

    def signal(self, request: soap.WsmanRequest) -> bytes:
        shell = self._shell(request)
        command_id, code = soap.read_signal(request.body)
        command = self._command(shell, command_id)
        if code == soap.SIGNAL_CTRL_C:
            command.process.interrupt()
        elif code.lower() == soap.SIGNAL_TERMINATE.lower():
            # terminate kills the process and releases the command id (pywinrm's
            # cleanup_command); a later Receive for it is a fault.
            command.process.stop()
            with self._lock:
                shell.commands.pop(command.process.request.command_id, None)
        else:
            raise FaultAnswer(soap.schema_validation_error(f"unknown signal code {code!r}"))
        return soap.empty_response(request, "SignalResponse")

    def delete(self, request: soap.WsmanRequest) -> bytes:
        shell = self._shell(request)
        with self._lock:
            self._shells.pop(shell.settings.shell_id, None)
        for command in shell.commands.values():
            command.process.stop()
        return soap.empty_response(request, None)
