"""Connection attempts that fail in a way trying again may fix (refused, closed before login:
an sshd throttling with MaxStartups) are retried with backoff and jitter; a failed login or a
wrong host key never is. Against real in-process servers behind a throttling TCP front."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from fleetpatch.errors import AuthError, ConnectError, HostKeyError
from fleetpatch.inventory.model import ConnectionSettings, Host
from fleetpatch.transport.hostkeys import HostKeyPolicy
from fleetpatch.transport.ssh import RETRY_DELAY_CAP, SshConnector
from tests.engine.sshserver import ServerHandle


@dataclass
class Throttle:
    """A TCP front that closes the first ``drop`` connections at once, as sshd does past its
    MaxStartups, and splices the others through to the server."""

    port: int
    accepted: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@contextlib.asynccontextmanager
async def throttle(target: int, drop: int) -> AsyncIterator[Throttle]:
    state = Throttle(port=0)

    async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.accepted += 1
        if state.accepted <= drop:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        for pair in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(splice(*pair))
            state.tasks.add(task)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)


def host(port: int, key: Path | None, **conn: object) -> Host:
    settings: dict[str, object] = {"key_file": str(key) if key else None, "use_agent": False}
    settings.update(conn)
    return Host(
        name="h",
        address="127.0.0.1",
        port=port,
        user="tester",
        connection=ConnectionSettings.model_validate(settings),
    )


def connector_for(server: ServerHandle, tmp_path: Path, port: int, **kw: object) -> SshConnector:
    """Knows the server's key under the front's port."""
    line = server.known_hosts_line().replace(f"]:{server.port} ", f"]:{port} ")
    path = tmp_path / "known_hosts"
    path.write_text(line)
    return SshConnector(HostKeyPolicy(files=(path,)), jitter=random.Random(7))


async def test_connections_closed_before_login_are_retried_until_one_gets_through(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    async with throttle(server.port, drop=3) as front:
        connector = connector_for(server, tmp_path, front.port)
        target = host(front.port, client_key[1], connect_retries=3, connect_retry_delay=0.01)
        session = await connector.connect(target)
        assert (await session.run("echo ok", timeout=10)).stdout == "ok\n"
        await session.close()
    assert front.accepted == 4  # three dropped, the fourth logged in
    assert server.connections.opened == 1


async def test_when_retries_run_out_the_message_says_the_server_may_be_throttling(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    async with throttle(server.port, drop=100) as front:
        connector = connector_for(server, tmp_path, front.port)
        target = host(front.port, client_key[1], connect_retries=2, connect_retry_delay=0.01)
        with pytest.raises(ConnectError) as caught:
            await connector.connect(target)
    assert front.accepted == 3
    message = str(caught.value)
    assert "closed the connection before login" in message
    assert "(3 attempts over" in message
    assert "may be throttling new connections (sshd MaxStartups" in message


async def test_no_retries_when_told(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    async with throttle(server.port, drop=1) as front:
        connector = connector_for(server, tmp_path, front.port)
        with pytest.raises(ConnectError, match=r"\(1 attempt\)"):
            await connector.connect(host(front.port, client_key[1], connect_retries=0))
    assert front.accepted == 1


async def test_a_failed_login_is_never_retried(server: ServerHandle, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    other_path = tmp_path / "other_key"
    other.write_private_key(str(other_path))
    async with throttle(server.port, drop=0) as front:
        connector = connector_for(server, tmp_path, front.port)
        with pytest.raises(AuthError):
            await connector.connect(host(front.port, other_path, connect_retry_delay=0.01))
    assert front.accepted == 1
    assert server.connections.opened == 1


async def test_a_wrong_host_key_is_never_retried(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    async with throttle(server.port, drop=0) as front:
        path = tmp_path / "known_hosts"
        path.write_text(f"[127.0.0.1]:{front.port} {impostor.strip()}\n")
        connector = SshConnector(HostKeyPolicy(files=(path,)))
        with pytest.raises(HostKeyError, match="host key changed"):
            await connector.connect(host(front.port, client_key[1], connect_retry_delay=0.01))
    assert front.accepted == 1


@pytest.mark.parametrize("first", [0.01, 0.5, 3.0])
def test_waits_double_with_jitter_and_stay_bounded(first: float, tmp_path: Path) -> None:
    connector = SshConnector(HostKeyPolicy(files=()), jitter=random.Random(1))
    draws = [[connector._retry_delay(first, attempt) for attempt in range(10)] for _ in range(50)]
    for waits in draws:
        for attempt, wait in enumerate(waits):
            step = min(RETRY_DELAY_CAP, first * 2**attempt)
            assert step / 2 <= wait <= step
        assert sum(waits) <= 10 * RETRY_DELAY_CAP
    firsts = {round(waits[0], 6) for waits in draws}
    assert len(firsts) > 25  # jittered: hosts refused together do not come back together
