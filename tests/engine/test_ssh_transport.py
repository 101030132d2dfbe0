"""SSH transport against a real in-process asyncssh server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh
import pytest

from fleetpatch.errors import (
    AuthError,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    HostKeyError,
)
from fleetpatch.inventory.model import ConnectionSettings, Host, JumpHost
from fleetpatch.transport.hostkeys import HostKeyPolicy
from fleetpatch.transport.ssh import SshConnector
from tests.engine.sshserver import ServerHandle, start_server


def make_host(port: int, key_path: Path | None, **conn: object) -> Host:
    settings = {"key_file": str(key_path) if key_path else None, "use_agent": False}
    settings.update(conn)
    return Host(
        name=f"h{port}",
        address="127.0.0.1",
        port=port,
        user="tester",
        connection=ConnectionSettings.model_validate(settings),
    )


def known_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("".join(lines))
    return path


async def test_runs_a_command_with_stdin_on_a_known_host(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    policy = HostKeyPolicy(files=(known_file(tmp_path, server.known_hosts_line()),))
    connector = SshConnector(policy)
    session = await connector.connect(make_host(server.port, client_key[1]))
    try:
        result = await session.run("tr a-z A-Z", stdin="hello\n", timeout=10)
    finally:
        await session.close()
    assert result.exit_status == 0
    assert result.stdout == "HELLO\n"
    assert server.commands == ["tr a-z A-Z"]
    assert session.cipher == "aes128-gcm@openssh.com"  # PREFERRED_CIPHERS: cheaper per packet


async def test_exit_status_and_stderr_are_reported_not_judged(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    connector = SshConnector(
        HostKeyPolicy(files=(known_file(tmp_path, server.known_hosts_line()),))
    )
    session = await connector.connect(make_host(server.port, client_key[1]))
    result = await session.run("echo out; echo err >&2; exit 7", timeout=10)
    await session.close()
    assert (result.exit_status, result.stdout, result.stderr) == (7, "out\n", "err\n")


async def test_unknown_host_key_fails_and_sends_nothing(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    connector = SshConnector(HostKeyPolicy(files=(known_file(tmp_path),)))
    with pytest.raises(
        HostKeyError, match=r"unknown host key for \[127\.0\.0\.1\]:\d+.*--accept-new-host-keys"
    ):
        await connector.connect(make_host(server.port, client_key[1]))
    assert server.commands == []


async def test_accept_new_records_the_key_in_our_own_file(
    server: ServerHandle,
    client_key: tuple[asyncssh.SSHKey, Path],
    tmp_path: Path,
    _own_known_hosts: Path,
) -> None:
    user_file = known_file(tmp_path)
    connector = SshConnector(HostKeyPolicy(files=(user_file,), accept_new=True))
    session = await connector.connect(make_host(server.port, client_key[1]))
    await session.close()
    recorded = _own_known_hosts.read_text()
    assert recorded == server.known_hosts_line()
    assert user_file.read_text() == ""  # the user's file is never written
    # next run, without accept_new, trusts the recorded key
    again = SshConnector(HostKeyPolicy(files=(user_file,)))
    session = await again.connect(make_host(server.port, client_key[1]))
    await session.close()


async def test_changed_host_key_fails_even_with_accept_new(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    line = f"[127.0.0.1]:{server.port} {impostor.strip()}\n"
    connector = SshConnector(HostKeyPolicy(files=(known_file(tmp_path, line),), accept_new=True))
    with pytest.raises(HostKeyError, match="host key changed for"):
        await connector.connect(make_host(server.port, client_key[1]))
    assert server.commands == []


async def test_wrong_client_key_is_an_auth_error(server: ServerHandle, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    other_path = tmp_path / "other_key"
    other.write_private_key(str(other_path))
    connector = SshConnector(
        HostKeyPolicy(files=(known_file(tmp_path, server.known_hosts_line()),))
    )
    with pytest.raises(AuthError, match="authentication failed for user 'tester'"):
        await connector.connect(make_host(server.port, other_path))


async def test_missing_key_file_is_an_auth_error(server: ServerHandle, tmp_path: Path) -> None:
    connector = SshConnector(
        HostKeyPolicy(files=(known_file(tmp_path, server.known_hosts_line()),))
    )
    with pytest.raises(AuthError, match=r"cannot load key file .*nope"):
        await connector.connect(make_host(server.port, tmp_path / "nope"))


async def test_password_from_a_named_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = await start_server(client_key=None, password="s3cret")
    try:
        connector = SshConnector(
            HostKeyPolicy(files=(known_file(tmp_path, handle.known_hosts_line()),))
        )
        host = make_host(handle.port, None, password_env="FP_TEST_PASSWORD")
        with pytest.raises(AuthError, match="FP_TEST_PASSWORD is not set"):
            await connector.connect(host)
        monkeypatch.setenv("FP_TEST_PASSWORD", "wrong")
        with pytest.raises(AuthError):
            await SshConnector(connector.policy).connect(host)
        monkeypatch.setenv("FP_TEST_PASSWORD", "s3cret")
        session = await SshConnector(connector.policy).connect(host)
        assert (await session.run("echo ok", timeout=10)).stdout == "ok\n"
        await session.close()
    finally:
        await handle.close()


async def test_unreachable_port_is_a_connect_error(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    connector = SshConnector(HostKeyPolicy(files=(known_file(tmp_path),)))
    host = make_host(port, None, connect_retries=2, connect_retry_delay=0.01)
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}: .*refused.*3 attempts") as caught:
        await connector.connect(host)
    assert "is sshd running" in str(caught.value)


async def test_connect_timeout_on_a_silent_listener(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts TCP but never speaks SSH
    try:
        connector = SshConnector(HostKeyPolicy(files=(known_file(tmp_path),)))
        host = make_host(sock.getsockname()[1], None, connect_timeout=0.5)
        with pytest.raises(ConnectError, match="timed out"):
            await connector.connect(host)
    finally:
        sock.close()


async def test_command_timeout_keeps_partial_output(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    connector = SshConnector(
        HostKeyPolicy(files=(known_file(tmp_path, server.known_hosts_line()),))
    )
    session = await connector.connect(make_host(server.port, client_key[1]))
    with pytest.raises(CommandTimeout, match="timed out after 1s"):
        # the in-process server answers only when the command ends, so hang on stdin instead
        await session.run("sleep 5", timeout=1)
    await session.close()


async def test_jump_host_tunnels_and_is_shared(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    bastion = await start_server(client_key=client_key[0])
    target_a = await start_server(client_key=client_key[0])
    target_b = await start_server(client_key=client_key[0])
    try:
        known = known_file(
            tmp_path,
            bastion.known_hosts_line(),
            target_a.known_hosts_line(),
            target_b.known_hosts_line(),
        )
        connector = SshConnector(HostKeyPolicy(files=(known,)))
        jump = JumpHost(address="127.0.0.1", port=bastion.port, user="ops")
        for target in (target_a, target_b):
            session = await connector.connect(make_host(target.port, client_key[1], jump_host=jump))
            assert (await session.run("echo via-jump", timeout=10)).stdout == "via-jump\n"
            await session.close()
        assert len(connector._jumps) == 1  # one bastion connection for both targets
        await connector.close()
    finally:
        for handle in (bastion, target_a, target_b):
            await handle.close()


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def _known_servers(
    count: int, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> AsyncIterator[tuple[list[ServerHandle], SshConnector]]:
    """``count`` servers, and a connector that knows their host keys."""
    servers = [await start_server(client_key=client_key[0]) for _ in range(count)]
    try:
        known = known_file(tmp_path, *(s.known_hosts_line() for s in servers))
        yield servers, SshConnector(HostKeyPolicy(files=(known,)))
    finally:
        for server in servers:
            await server.close()


async def test_early_connections_log_in_before_they_are_asked_for_and_are_handed_over(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    async with _known_servers(3, client_key, tmp_path) as (servers, connector):
        hosts = [make_host(s.port, client_key[1]) for s in servers]
        connector.start_connecting(hosts[:2])
        # the first two log in with nobody waiting for them; nothing runs on them yet
        await _until(lambda: all(s.connections.authenticated == 1 for s in servers[:2]))
        assert servers[2].connections.opened == 0
        assert all(s.commands == [] for s in servers)
        for host, server in zip(hosts, servers, strict=True):
            session = await connector.connect(host)  # early ones handed over, the third opened
            assert (await session.run("echo ok", timeout=10)).stdout == "ok\n"
            await session.close()
            assert server.connections.opened == 1  # never a second connection
        await connector.close()


async def test_an_early_connection_failure_is_raised_when_the_host_asks_for_it(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    connector = SshConnector(HostKeyPolicy(files=(known_file(tmp_path),)))  # key not known
    host = make_host(server.port, client_key[1])
    connector.start_connecting([host])
    await _until(lambda: server.connections.closed == 1)  # refused at key exchange
    with pytest.raises(HostKeyError, match="unknown host key"):
        await connector.connect(host)
    assert server.commands == []
    await connector.close()


async def test_close_cancels_or_closes_early_connections_never_handed_over(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    async with _known_servers(2, client_key, tmp_path) as (servers, connector):
        logged_in, in_flight = (make_host(s.port, client_key[1]) for s in servers)
        connector.start_connecting([logged_in])
        await _until(lambda: servers[0].connections.authenticated == 1)
        connector.start_connecting([in_flight])
        await asyncio.sleep(0)  # its connect has started, its login has not finished
        await connector.close()
        await _until(lambda: servers[0].connections.closed == 1)
        await _until(lambda: servers[1].connections.opened == servers[1].connections.closed)
        assert all(s.commands == [] for s in servers)
        assert connector._early == {}


async def test_a_channel_closed_without_an_exit_status_is_a_lost_connection(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    """What a client sees when sshd dies mid-command: output, then the channel closes without
    an exit status. That is a lost connection carrying the partial output, not a result."""
    handle = await start_server(
        client_key=client_key[0], respond=lambda c, i: ("partial\n", "err\n", None)
    )
    try:
        connector = SshConnector(
            HostKeyPolicy(files=(known_file(tmp_path, handle.known_hosts_line()),))
        )
        session = await connector.connect(make_host(handle.port, client_key[1]))
        with pytest.raises(ConnectionLost, match="without an exit status") as caught:
            await session.run("sh -s", stdin="echo partial\n", timeout=10)
        await session.close()
    finally:
        await handle.close()
    assert (caught.value.stdout, caught.value.stderr) == ("partial\n", "err\n")
    assert caught.value.kind == "connection_lost"


async def test_a_connection_that_dies_mid_command_is_lost_with_the_reason_and_output(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    handle = await start_server(client_key=client_key[0], behaviour="drop")
    try:
        connector = SshConnector(
            HostKeyPolicy(files=(known_file(tmp_path, handle.known_hosts_line()),))
        )
        session = await connector.connect(make_host(handle.port, client_key[1]))
        with pytest.raises(ConnectionLost, match="Connection lost") as caught:
            await session.run("sh -s", stdin="echo begun\n", timeout=10)
        await session.close()
    finally:
        await handle.close()
    assert caught.value.stdout == "begun\n"


async def test_a_connection_that_died_while_idle_is_lost_at_the_next_command(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    """Between two commands of one host run (a scan, then an install), not a refused
    channel: the connection is gone, the next command never started."""
    connector = SshConnector(
        HostKeyPolicy(files=(known_file(tmp_path, server.known_hosts_line()),))
    )
    session = await connector.connect(make_host(server.port, client_key[1]))
    assert (await session.run("echo one", timeout=10)).stdout == "one\n"
    server.connections.live[0].abort()
    await _until(lambda: server.connections.closed == 1)
    await asyncio.sleep(0.1)
    with pytest.raises(ConnectionLost, match="closed or reset") as caught:
        await session.run("echo two", timeout=10)
    assert caught.value.stdout == ""
    await session.close()
