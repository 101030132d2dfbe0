"""An in-process asyncssh server on 127.0.0.1:0 for engine tests.

It runs each command it receives with the local ``/bin/sh`` (stdin included), so a scan sent to
it is a real scan of the machine running the tests. ``behaviour`` lets a test make it hang or
drop the connection mid-command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh


@dataclass
class Gauge:
    """Counts commands in flight across servers, and the most seen at once."""

    current: int = 0
    peak: int = 0

    def enter(self) -> None:
        self.current += 1
        self.peak = max(self.peak, self.current)

    def leave(self) -> None:
        self.current -= 1


@dataclass
class ConnectionLog:
    """What happened to the connections a server accepted."""

    opened: int = 0
    authenticated: int = 0
    closed: int = 0
    live: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    """the server side of each connection accepted (a test may abort one)"""


@dataclass
class ServerHandle:
    server: asyncssh.SSHAcceptor
    port: int
    host_key: asyncssh.SSHKey
    commands: list[str] = field(default_factory=list)
    connections: ConnectionLog = field(default_factory=ConnectionLog)

    def known_hosts_line(self, address: str = "127.0.0.1") -> str:
        key = self.host_key.export_public_key("openssh").decode().strip()
        return f"[{address}]:{self.port} {key}\n"

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


class _Server(asyncssh.SSHServer):
    def __init__(self, password: str | None, log: ConnectionLog):
        self._password = password
        self._log = log

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._log.opened += 1
        self._log.live.append(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._log.closed += 1

    def auth_completed(self) -> None:
        self._log.authenticated += 1

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return self._password is not None

    def validate_password(self, username: str, password: str) -> bool:
        return password == self._password

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        # lets the server act as a jump host (direct-tcpip) in tests
        return True


async def start_server(
    *,
    client_key: asyncssh.SSHKey | None,
    password: str | None = None,
    behaviour: str = "exec",
    host_key: asyncssh.SSHKey | None = None,
    delay: float = 0.0,
    respond: Callable[[str, str], tuple[str, str, int | None]] | None = None,
    gauge: Gauge | None = None,
) -> ServerHandle:
    """Start a server; ``behaviour`` is ``exec`` (run with sh), ``hang`` (never answer) or
    ``drop`` (print ``begun``, then abort the connection: the host went away mid-command) or
    ``live`` (run with sh, stdin and output relayed as they come: for dialogues).
    ``respond(command, stdin)`` answers instead of sh: (stdout, stderr, exit status); an exit
    status of None closes the channel after the output without sending one (what a client
    sees when sshd dies mid-command)."""
    key = host_key or asyncssh.generate_private_key("ssh-ed25519")
    commands: list[str] = []
    log = ConnectionLog()

    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        commands.append(command)
        if behaviour == "hang":
            await asyncio.sleep(3600)
        if behaviour == "drop":
            process.stdout.write("begun\n")
            await process.stdout.drain()
            await asyncio.sleep(0.2)
            process.channel.get_connection().abort()
            return
        if behaviour == "live":
            await _run_live(process, command)
            return
        data = await process.stdin.read()
        if gauge is not None:
            gauge.enter()
        try:
            if delay:
                await asyncio.sleep(delay)
            if respond is not None:
                out_text, err_text, rc = respond(command, data)
                process.stdout.write(out_text)
                process.stderr.write(err_text)
                if rc is None:
                    await process.stdout.drain()
                    process.channel.close()
                else:
                    process.exit(rc)
                return
        finally:
            if gauge is not None:
                gauge.leave()
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(data.encode())
        finally:
            if proc.returncode is None:  # cancelled (client gone): reap it, leave nothing
                proc.kill()
                await proc.wait()
        process.stdout.write(out.decode("utf-8", "replace"))
        process.stderr.write(err.decode("utf-8", "replace"))
        process.exit(proc.returncode or 0)

    authorized = None
    if client_key is not None:
        authorized = asyncssh.import_authorized_keys(
            client_key.export_public_key("openssh").decode()
        )
    server = await asyncssh.create_server(
        lambda: _Server(password, log),
        "127.0.0.1",
        0,
        server_host_keys=[key],
        authorized_client_keys=authorized,
        process_factory=handle,
        encoding="utf-8",
    )
    port = server.sockets[0].getsockname()[1]
    return ServerHandle(server=server, port=port, host_key=key, commands=commands, connections=log)


async def _run_live(process: asyncssh.SSHServerProcess[str], command: str) -> None:
    local = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert local.stdin is not None and local.stdout is not None and local.stderr is not None
    sink = local.stdin

    async def feed() -> None:
        try:
            while data := await process.stdin.read(4096):
                sink.write(data.encode())
                await sink.drain()
        except (BrokenPipeError, ConnectionResetError, asyncssh.Error):
            pass
        finally:
            sink.close()

    async def relay(source: asyncio.StreamReader, target: asyncssh.SSHWriter[str]) -> None:
        while data := await source.read(4096):
            target.write(data.decode("utf-8", "replace"))

    feeding = asyncio.ensure_future(feed())
    try:
        await asyncio.gather(
            relay(local.stdout, process.stdout), relay(local.stderr, process.stderr)
        )
        process.exit(await local.wait())
    finally:
        feeding.cancel()
        if local.returncode is None:  # the client went away: leave nothing running
            local.kill()
            await local.wait()


def write_client_key(directory: Path) -> tuple[asyncssh.SSHKey, Path]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = directory / "id_ed25519"
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key, path
