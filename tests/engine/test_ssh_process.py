"""The transport's dialogue primitive (Session.start -> RemoteProcess) against a real
in-process SSH server that relays stdin and output as they come: write only once something
has been printed, know when the command ended and how."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from fleetpatch.errors import CommandTimeout, ConnectionLost
from fleetpatch.inventory.model import ConnectionSettings, Host
from fleetpatch.transport.hostkeys import HostKeyPolicy
from fleetpatch.transport.ssh import SshConnector, SshSession
from tests.engine.sshserver import ServerHandle, start_server


async def _session(
    behaviour: str, key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> tuple[SshSession, ServerHandle]:
    handle = await start_server(client_key=key[0], behaviour=behaviour)
    known = tmp_path / "known_hosts"
    known.write_text(handle.known_hosts_line())
    host = Host(
        name="h",
        address="127.0.0.1",
        port=handle.port,
        user="tester",
        connection=ConnectionSettings(key_file=str(key[1]), use_agent=False),
    )
    return await SshConnector(HostKeyPolicy(files=(known,))).connect(host), handle


@pytest.fixture
async def live(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> AsyncIterator[SshSession]:
    session, handle = await _session("live", client_key, tmp_path)
    yield session
    await session.close()
    await handle.close()


async def test_answers_only_after_the_question_appeared(live: SshSession) -> None:
    process = await live.start("printf 'name? ' >&2; read name; echo \"hello $name\"; exit 4")
    assert await process.watch(lambda out, err: "name? " in err, timeout=10)
    process.write("fleet\n")
    process.write_eof()
    result = await process.finish(timeout=10)
    assert (result.exit_status, result.stdout, result.stderr) == (4, "hello fleet\n", "name? ")


async def test_watch_tells_when_the_command_ended_first(live: SshSession) -> None:
    process = await live.start("echo bye; exit 3")
    assert not await process.watch(lambda out, err: "never" in out, timeout=10)
    result = await process.finish(timeout=10)
    assert (result.exit_status, result.stdout) == (3, "bye\n")


async def test_watch_and_finish_time_out_with_the_output_so_far(live: SshSession) -> None:
    process = await live.start("echo started; sleep 3")
    with pytest.raises(CommandTimeout) as caught:
        await process.watch(lambda out, err: "never" in out, timeout=0.5)
    assert caught.value.stdout == "started\n"
    with pytest.raises(CommandTimeout) as finished:
        await process.finish(timeout=0.5)
    assert finished.value.stdout == "started\n"


async def test_a_dropped_connection_is_lost_mid_dialogue(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    session, handle = await _session("drop", client_key, tmp_path)
    try:
        process = await session.start("anything")
        with pytest.raises(ConnectionLost, match="closed or reset") as caught:
            await process.watch(lambda out, err: "never" in out, timeout=10)
        assert caught.value.stdout == "begun\n"
        with pytest.raises(ConnectionLost):
            await process.finish(timeout=10)
    finally:
        await session.close()
        await handle.close()
