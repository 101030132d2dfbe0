"""fleetpatch's WinRM transport against the WS-Management test endpoint (real pywinrm, real
NTLM with message encryption, real TLS): every failure kind, stdin in chunks, output decoding,
deadlines, the thread pool's bound.

The endpoint's toy shell (tests/winrm/toy_handler.py) plays the host: ``cat``, ``big``,
``trickle``, ``sleep``, ``unicode``... The transport runs command lines and knows nothing of
PowerShell, so these commands exercise it exactly as a script would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import winrm

from fleetpatch.errors import (
    AuthError,
    CertificateError,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    InputError,
    WinrmFault,
)
from fleetpatch.inventory.model import ConnectionSettings, Host
from fleetpatch.platforms.windows.bootstrap import BOOTSTRAP, POWERSHELL_FROM_STDIN
from fleetpatch.transport.winrm import STDIN_CHUNK, WinrmConnector, WinrmSession
from fleetpatch.transport.winrm_settings import (
    KERBEROS_HINT,
    check_winrm_hosts,
    kerberos_available,
)
from tests.winrm import soap
from tests.winrm.clients import GatedHandler, WireTap, session_for, wait_until
from tests.winrm.host import EmulatedHost
from tests.winrm.process import CMD_LINE_LIMIT, CommandRequest, RemoteProcess
from tests.winrm.toy_handler import UNICODE_SAMPLE, big_output

PASSWORD_ENV = "FP_TEST_WINRM_PASSWORD"


def host_for(
    emulated: EmulatedHost,
    *,
    port: int | None = None,
    user: str | None = None,
    **connection: Any,
) -> Host:
    connection.setdefault("password_env", PASSWORD_ENV)
    connection.setdefault("connect_retries", 0)
    connection.setdefault("connect_timeout", 5)
    return Host(
        name=emulated.name,
        address="127.0.0.1",
        port=port or emulated.port,
        user=user or emulated.credentials.username,
        transport="winrm",
        connection=ConnectionSettings(**connection),
    )


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch, wsman_endpoint: Any) -> str:
    monkeypatch.setenv(PASSWORD_ENV, wsman_endpoint.credentials.password)
    return str(wsman_endpoint.credentials.password)


@pytest.fixture
def tls_password(monkeypatch: pytest.MonkeyPatch, wsman_tls_endpoint: Any) -> str:
    monkeypatch.setenv(PASSWORD_ENV, wsman_tls_endpoint.credentials.password)
    return str(wsman_tls_endpoint.credentials.password)


@pytest.fixture
async def connector() -> AsyncIterator[WinrmConnector]:
    made = WinrmConnector(threads=4, operation_timeout=2)
    yield made
    await made.close()


async def _session(connector: WinrmConnector, host: Host) -> WinrmSession:
    return await connector.connect(host)


class BootstrapHandler:
    """Plays powershell.exe running fleetpatch's bootstrap: checks that the command line is
    the bootstrap, reads the script from stdin (UTF-8) and echoes it back."""

    def __init__(self) -> None:
        self.scripts: list[str] = []

    def run(self, request: CommandRequest, process: RemoteProcess) -> int:
        assert request.powershell_script == BOOTSTRAP
        assert request.console_mode_stdin is False
        script = process.read_all_stdin().decode("utf-8")
        self.scripts.append(script)
        process.write(script.encode("utf-8"))
        return 0


# --- commands, stdin, output -----------------------------------------------------------------


async def test_commands_run_in_one_shell_with_their_exit_codes(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    session = await _session(connector, host_for(emulated))
    first = await session.run("echo hello", timeout=20)
    second = await session.run("exit 3", timeout=20)
    await session.close()
    assert (first.exit_status, first.stdout) == (0, "hello\r\n")
    assert second.exit_status == 3
    shells = {request.shell.shell_id for request in emulated.commands_started}
    assert len(shells) == 1 and len(emulated.commands_started) == 2
    assert emulated.commands_started[0].shell.codepage == 65001
    assert emulated.outcomes("Delete") == ["ok"]


async def test_a_script_far_over_the_command_line_limit_goes_through_stdin_in_chunks(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    handler = BootstrapHandler()
    emulated = wsman_host(handler=handler)
    script = "".join(f"Write-Output 'line {n} Grüße ✓'\n" for n in range(20000))  # ~600 KB
    session = await _session(connector, host_for(emulated))
    result = await session.run(POWERSHELL_FROM_STDIN, stdin=script, timeout=60)
    await session.close()
    assert handler.scripts == [script]
    assert result.stdout == script  # and back, through ~6 Receives
    process = emulated.processes[0]
    assert len(POWERSHELL_FROM_STDIN) < CMD_LINE_LIMIT
    chunks = process.stdin_received
    assert len(chunks) > 10 and max(len(chunk) for chunk in chunks) <= STDIN_CHUNK
    assert b"".join(chunks) == script.encode("utf-8")


def test_pywinrm_run_ps_cannot_send_the_same_script(wsman_host: Any) -> None:
    """Why the bootstrap exists: run_ps puts the script on the command line, and cmd.exe
    refuses a line that long (the endpoint answers as Windows does)."""
    emulated = wsman_host(handler=BootstrapHandler())
    response = session_for(emulated).run_ps("Write-Output 'x'\n" * 400)  # 6.8 KB of script
    assert response.status_code == 1
    assert b"The command line is too long." in response.std_err
    assert emulated.commands_started == []  # the handler never saw it


async def test_big_output_arrives_whole(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    session = await _session(connector, host_for(emulated))
    result = await session.run("big 1000000", timeout=60)
    await session.close()
    assert result.stdout.encode("ascii") == big_output(1_000_000)
    assert emulated.outcomes("Receive").count("ok") >= 9  # ~110 KB per Receive


async def test_utf8_output_split_between_receives_decodes_whole(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    emulated.max_receive_bytes = 5  # every multi-byte character straddles two Receives
    session = await _session(connector, host_for(emulated))
    result = await session.run("unicode", timeout=30)
    await session.close()
    assert result.stdout == UNICODE_SAMPLE + "\r\n"


async def test_stream_hands_output_over_as_it_arrives(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    session = await _session(connector, host_for(emulated))
    pieces: list[str] = []
    result = await session.stream("trickle 3 0.2", on_stdout=pieces.append, timeout=30)
    await session.close()
    assert "".join(pieces) == result.stdout == "tick 0\r\ntick 1\r\ntick 2\r\n"
    assert len(pieces) >= 2


# --- deadlines and the thread pool ------------------------------------------------------------


async def test_a_command_past_its_timeout_is_stopped_with_its_partial_output(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    session = await _session(connector, host_for(emulated))
    with pytest.raises(CommandTimeout) as caught:
        await session.run("trickle 1000 0.2", timeout=1.5)
    assert caught.value.stdout.startswith("tick 0\r\n")
    assert "tick 999" not in caught.value.stdout
    wait_until(lambda: emulated.processes[0].stopped)  # terminated on the host
    after = await session.run("echo still usable", timeout=20)
    await session.close()
    assert after.stdout == "still usable\r\n"


async def test_receive_timeouts_forever_end_at_fleetpatchs_deadline(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    """pywinrm's get_command_output would retry these without end."""
    emulated = wsman_host()
    emulated.faults.time_out_receives(times=None, wait=True)
    session = await _session(connector, host_for(emulated))
    with pytest.raises(CommandTimeout):
        await session.run("echo never seen", timeout=3)
    await session.close()
    assert emulated.outcomes("Receive")[:2] == ["fault w:TimedOut", "fault w:TimedOut"]


async def test_a_few_receive_timeouts_are_asked_again(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    emulated.faults.time_out_receives(times=3)
    session = await _session(connector, host_for(emulated))
    result = await session.run("echo after three timeouts", timeout=30)
    await session.close()
    assert result.stdout == "after three timeouts\r\n"
    assert emulated.outcomes("Receive")[:4] == ["fault w:TimedOut"] * 3 + ["ok"]


def _pool_threads(connector: WinrmConnector) -> set[str]:
    prefix = connector.thread_prefix + "_"
    return {t.name for t in threading.enumerate() if t.name.startswith(prefix)}


@pytest.mark.parametrize("threads", [2, 8])
async def test_the_thread_pool_bounds_blocking_calls_across_hosts(
    wsman_host: Any, password: str, threads: int
) -> None:
    """Six hosts, each waiting on a command whose Receives long-poll: with 2 threads every
    host still finishes, and no more than 2 threads ever existed; with 8, more did (so the
    count would show a pool that ignored its bound)."""
    import asyncio

    handler = GatedHandler()
    hosts = [wsman_host(handler=handler) for _ in range(6)]
    connector = WinrmConnector(threads=threads, operation_timeout=1)
    try:
        sessions = [await connector.connect(host_for(h)) for h in hosts]
        runs = [asyncio.ensure_future(s.run("wait", timeout=60)) for s in sessions]
        await asyncio.to_thread(wait_until, lambda: sum(len(h.processes) for h in hosts) == 6, 20)
        await asyncio.sleep(1.5)  # every host long-polls at least once
        handler.open()
        results = await asyncio.gather(*runs)
        created = _pool_threads(connector)
        for session in sessions:
            await session.close()
    finally:
        await connector.close()
    assert [r.stdout for r in results] == ["first\r\nsecond\r\n"] * 6
    if threads == 2:
        assert len(created) == 2
    else:
        assert len(created) > 2


# --- failures as fleetpatch's errors ---------------------------------------------------------


async def test_wrong_password_is_auth_and_the_password_is_never_shown(
    wsman_host: Any,
    monkeypatch: pytest.MonkeyPatch,
    connector: WinrmConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulated = wsman_host()
    secret = "Wrong-Pa55-" + "q7x"
    monkeypatch.setenv(PASSWORD_ENV, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as caught:
        await connector.connect(host_for(emulated))
    assert "refused the credentials" in str(caught.value)
    assert secret not in str(caught.value) and secret not in caplog.text
    assert emulated.outcomes("auth") == ["401"]


async def test_a_missing_password_variable_fails_before_any_request(
    wsman_host: Any, monkeypatch: pytest.MonkeyPatch, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(AuthError, match=f"password environment variable {PASSWORD_ENV}"):
        await connector.connect(host_for(emulated))
    assert emulated.log == []
    with pytest.raises(InputError) as caught:
        check_winrm_hosts([host_for(emulated), host_for(emulated, password_env=None)])
    assert str(caught.value).count(f"host {emulated.name!r}") == 2


async def test_kerberos_without_its_extra_says_how_to_get_it(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    if kerberos_available():
        pytest.skip("pywinrm's Kerberos binding is installed here: this checks its absence")
    emulated = wsman_host()
    with pytest.raises(AuthError) as caught:
        await connector.connect(host_for(emulated, winrm_auth="kerberos"))
    assert KERBEROS_HINT in str(caught.value)
    assert emulated.log == []


async def test_nothing_listening_is_unreachable_after_the_retries(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    emulated.go_down()
    with pytest.raises(ConnectError) as caught:
        await connector.connect(host_for(emulated, connect_retries=1, connect_retry_delay=0.1))
    assert type(caught.value) is ConnectError
    assert "connection refused (2 attempts" in str(caught.value)
    assert caught.value.kind == "unreachable"


async def test_a_host_back_from_a_reboot_is_reached_by_the_retries(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    emulated.reboot(down_for=0.6)
    session = await connector.connect(
        host_for(emulated, connect_retries=4, connect_retry_delay=0.3)
    )
    result = await session.run("echo back", timeout=20)
    await session.close()
    assert result.stdout == "back\r\n"


async def test_a_dropped_socket_mid_command_is_connection_lost_with_the_output_so_far(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    emulated.faults.drop_connection(on="Receive", skip=2, reset=True)
    session = await _session(connector, host_for(emulated))
    with pytest.raises(ConnectionLost) as caught:
        await session.run("trickle 20 0.1", timeout=30)
    await session.close()
    assert caught.value.stdout.startswith("tick 0\r\n")
    assert "during WinRM Receive" in caught.value.reason
    assert emulated.outcomes("Receive")[2] == "dropped"


async def test_a_reboot_mid_command_is_connection_lost(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    session = await _session(connector, host_for(emulated))
    gone = await session.run("echo before", timeout=20)
    emulated.reboot(down_for=30)
    with pytest.raises(ConnectionLost):
        await session.run("echo after", timeout=20)
    await session.close()
    emulated.come_up()
    assert gone.stdout == "before\r\n"


async def test_a_lost_shell_is_connection_lost(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    """The host restarted its WinRM service (or rebooted fast): the shell id is unknown."""
    emulated = wsman_host()
    session = await _session(connector, host_for(emulated))
    emulated.shells.close_all()
    with pytest.raises(ConnectionLost) as caught:
        await session.run("echo x", timeout=20)
    await session.close()
    assert "2150858843" in caught.value.reason


@pytest.mark.parametrize(
    ("fault", "on", "expected", "code"),
    [
        (soap.schema_validation_error("bad option"), "Command", WinrmFault, 2150858817),
        (soap.ACCESS_DENIED, "Create", AuthError, None),
    ],
)
async def test_wsman_faults_are_values_with_their_code(
    wsman_host: Any,
    password: str,
    connector: WinrmConnector,
    fault: Any,
    on: str,
    expected: type[Exception],
    code: int | None,
) -> None:
    emulated = wsman_host()
    emulated.faults.wsman_fault(fault, on=on)
    with pytest.raises(expected) as caught:
        session = await _session(connector, host_for(emulated))
        try:
            await session.run("echo x", timeout=20)
        finally:
            await session.close()
    if code is not None:
        assert isinstance(caught.value, WinrmFault) and caught.value.code == code
        assert str(code) in str(caught.value)
    else:
        assert "access to WinRM is denied" in str(caught.value)


async def test_a_bare_http_500_is_a_winrm_fault(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    emulated.faults.http_error(500, on="Command")
    session = await _session(connector, host_for(emulated))
    with pytest.raises(WinrmFault) as caught:
        await session.run("echo x", timeout=20)
    await session.close()
    assert caught.value.http_status == 500 and caught.value.kind == "winrm_fault"


# --- TLS and encryption ----------------------------------------------------------------------


async def test_https_validates_against_the_ca_bundle(
    wsman_tls_host: Any,
    wsman_tls: Any,
    wsman_other_ca: Any,
    tls_password: str,
    connector: WinrmConnector,
) -> None:
    emulated = wsman_tls_host()
    good = host_for(emulated, winrm_scheme="https", winrm_ca_bundle=str(wsman_tls.ca_path))
    session = await connector.connect(good)
    assert (await session.run("echo over tls", timeout=20)).stdout == "over tls\r\n"
    await session.close()
    for bad in (
        host_for(emulated, winrm_scheme="https", winrm_ca_bundle=str(wsman_other_ca)),
        host_for(emulated, winrm_scheme="https"),  # the system's CAs do not know it
    ):
        with pytest.raises(CertificateError) as caught:
            await connector.connect(bad)
        assert caught.value.kind == "certificate"
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "verify failed" in str(
            caught.value
        )


async def test_skipping_validation_works_and_says_so_loudly(
    wsman_tls_host: Any,
    tls_password: str,
    connector: WinrmConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulated = wsman_tls_host()
    host = host_for(emulated, winrm_scheme="https", winrm_insecure_skip_cert_validation=True)
    with caplog.at_level(logging.WARNING):
        session = await connector.connect(host)
    assert (await session.run("echo trusting anyone", timeout=20)).exit_status == 0
    await session.close()
    assert "certificate validation is OFF" in caplog.text


async def test_basic_over_https(
    wsman_tls_host: Any, wsman_tls: Any, tls_password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_tls_host()
    host = host_for(
        emulated, winrm_scheme="https", winrm_auth="basic", winrm_ca_bundle=str(wsman_tls.ca_path)
    )
    session = await connector.connect(host)
    assert (await session.run("echo basic", timeout=20)).stdout == "basic\r\n"
    await session.close()


async def test_over_http_neither_the_password_nor_the_script_crosses_the_wire_in_clear(
    wsman_host: Any, password: str, connector: WinrmConnector
) -> None:
    emulated = wsman_host()
    tap = WireTap(emulated.port)
    try:
        host = host_for(emulated, port=tap.port)
        session = await connector.connect(host)
        secret_script = "Write-Output 'the-secret-script-text'\n"
        result = await session.run("cat", stdin=secret_script, timeout=20)
        await session.close()
    finally:
        tap.close()
    assert result.stdout == secret_script
    wire = bytes(tap.to_server) + bytes(tap.to_client)
    assert b"multipart/encrypted" in wire
    for clear in (b"the-secret-script-text", password.encode(), b"Write-Output"):
        assert clear not in wire


# --- pywinrm as a library, to show the trap the deadline avoids -------------------------------


def test_pywinrm_alone_has_no_deadline_for_timed_out_receives(wsman_host: Any) -> None:
    """The behaviour fleetpatch works around, shown on the same endpoint: get_command_output
    swallows OperationTimeout faults and asks again."""
    emulated = wsman_host()
    emulated.faults.time_out_receives(times=4)
    session: winrm.Session = session_for(emulated, operation_timeout_sec=1, read_timeout_sec=5)
    response = session.run_cmd("echo", ["patient"])
    assert response.std_out == b"patient\r\n"
    assert emulated.outcomes("Receive").count("fault w:TimedOut") == 4
