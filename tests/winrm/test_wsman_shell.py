"""The endpoint's shell lifecycle, driven by the real pywinrm client over NTLM + encryption."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest
import winrm
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

from tests.winrm.clients import GatedHandler, WireTap, protocol_for, session_for, wait_until
from tests.winrm.process import CTRL_C_EXIT
from tests.winrm.soap import SIGNAL_CTRL_C
from tests.winrm.toy_handler import big_output

# an exception in one of the endpoint's threads fails the test that caused it
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def test_ntlm_with_message_encryption_hides_commands_and_output(wsman_host):
    host = wsman_host()
    tap = WireTap(host.port)
    credentials = host.credentials
    try:
        session = winrm.Session(
            tap.url(),
            auth=(credentials.username, credentials.password),
            transport="ntlm",
            message_encryption="always",
            ca_trust_path=None,
        )
        result = session.run_cmd("echo", ["TopSecretMarker"])
    finally:
        tap.close()

    assert (result.status_code, result.std_out, result.std_err) == (
        0,
        b"TopSecretMarker\r\n",
        b"",
    )
    # What went over the wire: an NTLM handshake, then only sealed MIME parts.
    assert b"Authorization: Negotiate TlRMTVNTUAAB" in tap.to_server  # NEGOTIATE
    assert b"WWW-Authenticate: Negotiate TlRMTVNTUAAC" in tap.to_client  # CHALLENGE
    assert b"application/HTTP-SPNEGO-session-encrypted" in tap.to_server
    assert b"application/HTTP-SPNEGO-session-encrypted" in tap.to_client
    for marker in (b"TopSecretMarker", base64.b64encode(b"TopSecretMarker\r\n"), b"CommandLine"):
        assert marker not in tap.to_server
        assert marker not in tap.to_client
    assert host.outcomes("Create") == ["ok"]
    assert host.outcomes("Delete") == ["ok"]


def test_run_cmd_reports_exit_code_and_stderr(wsman_host):
    session = session_for(wsman_host())

    failed = session.run_cmd("cmd /c stderr disk is full")
    exited = session.run_cmd("exit", ["/b", "7"])
    unknown = session.run_cmd("nosuchtool.exe")

    assert (failed.status_code, failed.std_out, failed.std_err) == (1, b"", b"disk is full\r\n")
    assert exited.status_code == 7
    assert unknown.status_code == 1
    assert b"'nosuchtool.exe' is not recognized" in unknown.std_err


def test_run_ps_hands_the_decoded_script_to_the_handler(wsman_host):
    host = wsman_host()
    script = "Get-HotFix | Where-Object { $_.HotFixID -eq 'KB5034441' }  # café"

    result = session_for(host).run_ps(script)

    request = host.commands_started[-1]
    assert request.program == "powershell"
    assert request.command_line.startswith("powershell -encodedcommand ")
    assert request.powershell_script == script
    # the toy writes the script back, in the shell's code page (pywinrm's default: 437)
    assert result.status_code == 0
    assert result.std_out == script.encode("cp437")


def test_run_ps_script_too_long_for_cmd_fails_like_windows(wsman_host):
    host = wsman_host()
    script = "Write-Output 'padding'\n" * 200  # ~4.6 KB: ~12 KB once base64 UTF-16

    result = session_for(host).run_ps(script)

    assert result.status_code == 1
    assert result.std_err == b"The command line is too long.\r\n"
    assert host.commands_started == []  # cmd.exe refused it; nothing ran


def test_large_script_sent_through_stdin_in_chunks_arrives_intact(wsman_host):
    host = wsman_host()
    script = "".join(
        f"$patch{n} = Get-Item 'HKLM:\\SOFTWARE\\Patch\\{n}' # ü\n" for n in range(4000)
    )
    data = script.encode("utf-8")
    assert len(data) > 200_000
    chunks = [data[i : i + 50_000] for i in range(0, len(data), 50_000)]
    protocol = protocol_for(host)

    shell_id = protocol.open_shell(codepage=65001)
    command_id = protocol.run_command(
        shell_id, "powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"]
    )
    for index, chunk in enumerate(chunks):
        protocol.send_command_input(shell_id, command_id, chunk, end=index == len(chunks) - 1)
    stdout, stderr, exit_code = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)

    assert (exit_code, stderr) == (0, b"")
    assert stdout == data
    assert host.outcomes("Send") == ["ok"] * len(chunks)
    assert host.processes[-1].stdin_received == chunks  # each Send's bytes, as they came
    assert host.commands_started[-1].command_line == (
        "powershell.exe -NoProfile -NonInteractive -Command -"
    )


def test_output_larger_than_one_receive_is_reassembled(wsman_host):
    host = wsman_host()
    size = 1_000_000

    result = session_for(host).run_cmd("big", [str(size)])

    assert result.status_code == 0
    assert result.std_out == big_output(size)
    # pywinrm's MaxEnvelopeSize (153600) holds ~110 KB of output per ReceiveResponse
    assert len(host.outcomes("Receive")) >= 9


def test_output_reaches_the_client_while_the_command_runs(wsman_host):
    handler = GatedHandler()
    host = wsman_host(handler=handler)
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "report-progress")

    first = protocol.get_command_output_raw(shell_id, command_id)
    handler.open()
    rest, _stderr, exit_code = protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)

    assert first == (b"first\r\n", b"", -1, False)  # Running: no exit code yet
    assert (rest, exit_code) == (b"second\r\n", 0)


@pytest.mark.parametrize(
    ("codepage", "expected"),
    [
        # UTF-8 of "Grüße café Ø € ✓"
        (65001, b"Gr\xc3\xbc\xc3\x9fe caf\xc3\xa9 \xc3\x98 \xe2\x82\xac \xe2\x9c\x93\r\n"),
        # OEM US: u-umlaut 0x81, sharp s 0xE1, e-acute 0x82; no O-stroke, euro or check mark
        (437, b"Gr\x81\xe1e caf\x82 ? ? ?\r\n"),
        # OEM Multilingual Latin 1: O-stroke is 0x9D; still no euro or check mark
        (850, b"Gr\x81\xe1e caf\x82 \x9d ? ?\r\n"),
    ],
)
def test_non_ascii_output_follows_the_shell_code_page(wsman_host, codepage, expected):
    protocol = protocol_for(wsman_host())

    shell_id = protocol.open_shell(codepage=codepage)
    command_id = protocol.run_command(shell_id, "unicode")
    stdout, _stderr, exit_code = protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)

    assert (stdout, exit_code) == (expected, 0)


def test_shell_options_reach_the_handler(wsman_host):
    host = wsman_host()
    protocol = protocol_for(host)

    shell_id = protocol.open_shell(
        working_directory="C:\\Windows\\Temp",
        env_vars={"PATCH_RUN": "42"},
        noprofile=True,
        codepage=850,
    )
    command_id = protocol.run_command(shell_id, "echo", ["hi"], skip_cmd_shell=True)
    protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)

    request = host.commands_started[-1]
    assert request.shell.shell_id == shell_id
    assert request.shell.working_directory == "C:\\Windows\\Temp"
    assert request.shell.environment == {"PATCH_RUN": "42"}
    assert (request.shell.noprofile, request.shell.codepage) == (True, 850)
    assert request.skip_cmd_shell is True
    assert request.shell.owner == host.credentials.username


def _ctrl_c(protocol: winrm.Protocol, shell_id: str, command_id: str) -> None:
    message = {
        "env:Envelope": protocol.build_wsman_header(
            action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
            resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
            shell_id=shell_id,
        )
    }
    message["env:Envelope"]["env:Body"] = {
        "rsp:Signal": {"@CommandId": command_id, "rsp:Code": SIGNAL_CTRL_C}
    }
    import xmltodict

    protocol.send_message(xmltodict.unparse(message))


def test_ctrl_c_stops_a_running_command(wsman_host):
    host = wsman_host()
    protocol = protocol_for(host, operation_timeout_sec=1, read_timeout_sec=3)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "sleep 60")

    with pytest.raises(WinRMOperationTimeoutError):
        protocol.get_command_output_raw(shell_id, command_id)  # still sleeping
    _ctrl_c(protocol, shell_id, command_id)
    stdout, _stderr, exit_code = protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)

    assert (stdout, exit_code) == (b"", CTRL_C_EXIT)


def test_terminate_kills_the_command_and_forgets_its_id(wsman_host):
    host = wsman_host()
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "sleep 60")
    wait_until(lambda: len(host.processes) == 1)
    process = host.processes[0]

    protocol.cleanup_command(shell_id, command_id)  # Signal terminate

    wait_until(lambda: process.exit_code is not None)  # the handler's sleep was cut short
    assert process.stopped
    with pytest.raises(WSManFaultError) as fault:
        protocol.get_command_output_raw(shell_id, command_id)
    assert fault.value.wsman_fault_code == 2150858843
    assert fault.value.fault_subcode == "w:InvalidSelectors"
    protocol.close_shell(shell_id)
    assert len(host.shells) == 0


def test_a_shell_that_does_not_exist_is_a_fault(wsman_host):
    protocol = protocol_for(wsman_host())

    with pytest.raises(WSManFaultError) as fault:
        protocol.run_command("0D6FCA9D-2D40-44C3-B691-E665BE7AA687", "echo", ["hi"])

    assert fault.value.code == 500
    assert fault.value.wsman_fault_code == 2150858843
    assert "ShellId 0D6FCA9D-2D40-44C3-B691-E665BE7AA687" in fault.value.response
    assert "shell was not found on the server" in fault.value.response


def test_many_hosts_at_once_each_keep_their_own_shells(wsman_host):
    hosts = [wsman_host(f"par-{n:02d}") for n in range(24)]

    def scan(host):
        return session_for(host).run_cmd("echo", [host.name]).std_out

    with ThreadPoolExecutor(max_workers=12) as pool:
        outputs = list(pool.map(scan, hosts))

    assert outputs == [f"{host.name}\r\n".encode() for host in hosts]
    for host in hosts:
        assert host.outcomes("Create") == ["ok"]
        assert [r.host_name for r in host.commands_started] == [host.name]


class _BrokenHandler:
    def run(self, request, process):
        process.write("partial\r\n")
        raise ValueError("emulator bug")


def test_a_handler_exception_fails_the_command_and_is_recorded(wsman_host):
    host = wsman_host(handler=_BrokenHandler())

    result = session_for(host).run_cmd("anything")

    assert result.status_code == 1
    assert result.std_out == b"partial\r\n"
    assert b"the handler raised ValueError('emulator bug')" in result.std_err
    assert [repr(e) for e in host.errors] == ["ValueError('emulator bug')"]
    host.errors.clear()  # recorded errors fail the test at teardown; this one is expected


def test_receive_after_done_is_the_unknown_command_fault(wsman_host):
    protocol = protocol_for(wsman_host())
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "echo", ["once"])
    assert protocol.get_command_output(shell_id, command_id)[0] == b"once\r\n"

    with pytest.raises(WSManFaultError) as fault:
        protocol.get_command_output_raw(shell_id, command_id)

    assert fault.value.wsman_fault_code == 2150858843
    assert "command identifier that does not exist" in fault.value.response
    protocol.cleanup_command(shell_id, command_id)  # pywinrm's cleanup still succeeds
    protocol.close_shell(shell_id)
