"""Faults injected per host, as the real pywinrm client reports them, and the host's state
afterwards."""

from __future__ import annotations

import threading

import pytest
import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from tests.winrm.auth import Credentials
from tests.winrm.clients import (
    GatedHandler,
    protocol_for,
    refuses_connections,
    session_for,
    wait_until,
)
from tests.winrm.soap import ACCESS_DENIED

# an exception in one of the endpoint's threads fails the test that caused it
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def test_receive_timeouts_are_retried_by_pywinrm(wsman_host):
    host = wsman_host()
    host.faults.time_out_receives(times=2)
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "echo", ["after two timeouts"])

    with pytest.raises(WinRMOperationTimeoutError):
        protocol.get_command_output_raw(shell_id, command_id)
    stdout, _stderr, exit_code = protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)

    assert (stdout, exit_code) == (b"after two timeouts\r\n", 0)
    assert host.outcomes("Receive") == ["fault w:TimedOut", "fault w:TimedOut", "ok"]


def test_receive_long_polls_for_the_operation_timeout_then_times_out(wsman_host):
    handler = GatedHandler()
    host = wsman_host(handler=handler)
    protocol = protocol_for(host, operation_timeout_sec=1, read_timeout_sec=3)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "wait-for-gate")  # silent until opened

    with pytest.raises(WinRMOperationTimeoutError):
        protocol.get_command_output_raw(shell_id, command_id)
    handler.open()
    stdout, _stderr, exit_code = protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)

    assert (stdout, exit_code) == (b"second\r\n", 0)
    assert host.outcomes("Receive") == ["fault w:TimedOut", "ok"]


def test_dropped_connection_mid_command_loses_nothing_on_the_host(wsman_host):
    host = wsman_host()
    host.faults.drop_connection(on="Receive")
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "trickle 2 0.1")

    with pytest.raises(requests.exceptions.ConnectionError, match="without response"):
        protocol.get_command_output(shell_id, command_id)

    # The shell and the command live on the host, not in the connection: a new session
    # (a new NTLM context) picks the output up where it was.
    retry = protocol_for(host)
    stdout, _stderr, exit_code = retry.get_command_output(shell_id, command_id)
    retry.close_shell(shell_id)
    assert (stdout, exit_code) == (b"tick 0\r\ntick 1\r\n", 0)
    assert host.outcomes("Receive")[0] == "dropped"


def test_connection_reset_after_the_command_started(wsman_host):
    host = wsman_host()
    host.faults.drop_connection(on="Command", when="after", reset=True)
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()

    with pytest.raises(requests.exceptions.ConnectionError, match="reset by peer"):
        protocol.run_command(shell_id, "echo", ["ran anyway"])

    # the client never learnt the CommandId, but the host ran the command
    assert [r.command_line for r in host.commands_started] == ["echo ran anyway"]
    assert host.outcomes("Command") == ["dropped"]


def test_wsman_fault_reaches_pywinrm_as_windows_sends_it(wsman_host):
    host = wsman_host()
    host.faults.wsman_fault(ACCESS_DENIED, on="Create")

    with pytest.raises(WSManFaultError) as fault:
        session_for(host).run_cmd("echo", ["hi"])

    assert fault.value.code == 500
    assert fault.value.wsman_fault_code == 5
    assert (fault.value.fault_code, fault.value.fault_subcode) == ("s:Sender", "w:AccessDenied")
    assert fault.value.reason == "Access is denied. "
    assert f'Machine="{host.name}"' in fault.value.response
    assert len(host.shells) == 0
    # the rule was used up: the next attempt works
    assert session_for(host).run_cmd("echo", ["hi"]).std_out == b"hi\r\n"


def test_bare_http_error_without_a_fault_body(wsman_host):
    host = wsman_host()
    host.faults.http_error(503, on="Command")

    with pytest.raises(WinRMTransportError) as error:
        session_for(host).run_cmd("echo", ["hi"])

    assert error.value.code == 503
    assert host.commands_started == []


def test_reboot_refuses_connections_then_comes_back_without_shells(wsman_host):
    host = wsman_host()
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()

    host.reboot(down_for=60)

    assert refuses_connections(host.port)
    with pytest.raises(requests.exceptions.ConnectionError, match="refused"):
        session_for(host).run_cmd("echo", ["hi"])
    host.come_up()  # rather than wait the minute (the timer is tested below)
    after = protocol_for(host)
    with pytest.raises(WSManFaultError) as fault:
        after.run_command(shell_id, "echo", ["hi"])
    assert fault.value.wsman_fault_code == 2150858843  # the shell died with the reboot
    assert session_for(host).run_cmd("echo", ["back"]).std_out == b"back\r\n"


def test_a_handler_can_reboot_its_host(wsman_host):
    host = wsman_host()

    result = session_for(host).run_cmd("reboot", ["1", "0.5"])  # down 1 s, 0.5 s after exit

    assert result.std_out == b"The system is going down for a restart.\r\n"
    wait_until(lambda: not host.is_up)
    assert refuses_connections(host.port)
    wait_until(lambda: host.is_up)
    assert session_for(host).run_cmd("echo", ["up"]).std_out == b"up\r\n"


def test_a_reboot_cuts_a_receive_in_progress(wsman_host):
    host = wsman_host()
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "sleep 30")
    wait_until(lambda: len(host.commands_started) == 1)
    host.reboot(down_for=5.0, after=0.3)

    with pytest.raises(requests.exceptions.ConnectionError):
        protocol.get_command_output(shell_id, command_id)

    assert host.shells.processes() == []
    host.come_up()


def test_slow_host_within_and_beyond_the_read_timeout(wsman_host):
    host = wsman_host()
    host.faults.slow(0.3, on="Create", times=1)
    assert session_for(host).run_cmd("echo", ["slow"]).std_out == b"slow\r\n"
    assert host.outcomes("Create") == ["delayed 0.3s", "ok"]

    host.faults.slow(2.5, on="Command", times=1)
    impatient = session_for(host, operation_timeout_sec=1, read_timeout_sec=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.run_cmd("echo", ["too slow"])


def test_password_change_keeps_authenticated_connections(wsman_host):
    host = wsman_host()
    old = host.credentials
    protocol = protocol_for(host)
    shell_id = protocol.open_shell()

    host.set_credentials(Credentials(old.username, "Changed-" + old.password))

    # the authenticated connection carries on, as an NTLM connection does on Windows
    command_id = protocol.run_command(shell_id, "echo", ["still in"])
    assert protocol.get_command_output(shell_id, command_id)[0] == b"still in\r\n"
    protocol.close_shell(shell_id)
    # a new connection with the old password does not
    with pytest.raises(InvalidCredentialsError):
        protocol_for(host, old).open_shell()


def test_a_receive_timeout_can_wait_the_operation_timeout_first(wsman_host):
    host = wsman_host()
    host.faults.time_out_receives(times=1, wait=True)
    protocol = protocol_for(host, operation_timeout_sec=1, read_timeout_sec=3)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "echo", ["waited"])

    with pytest.raises(WinRMOperationTimeoutError):
        protocol.get_command_output_raw(shell_id, command_id)
    assert protocol.get_command_output(shell_id, command_id)[0] == b"waited\r\n"
    protocol.close_shell(shell_id)


def test_come_up_while_a_timed_reboot_is_going_down_leaves_the_host_up(wsman_host, monkeypatch):
    host = wsman_host()
    inside, release = threading.Event(), threading.Event()
    close_all = host.shells.close_all

    def slow_close_all():
        inside.set()
        release.wait(5)
        close_all()

    monkeypatch.setattr(host.shells, "close_all", slow_close_all)
    host.reboot(down_for=60, after=0.01)
    assert inside.wait(5)  # the reboot timer is half-way through going down
    test_side = threading.Thread(target=host.come_up)
    test_side.start()
    test_side.join(0.3)  # come_up must wait for the reboot to finish going down...
    release.set()
    test_side.join(5)

    # ...so that it is the last word: up, and listening
    assert host.is_up
    assert not refuses_connections(host.port)
    assert session_for(host).run_cmd("echo", ["up"]).std_out == b"up\r\n"
