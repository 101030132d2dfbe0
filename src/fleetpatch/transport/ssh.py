"""SSH transport on asyncssh.

One :class:`SshConnector` per run holds everything that is loaded once: the known hosts, the
client keys read from disk, the connection options per distinct settings, and shared
connections to jump hosts. :meth:`SshConnector.connect` opens one connection per host per
operation and returns an :class:`SshSession`; :meth:`SshConnector.start_connecting` begins
the first hosts' handshakes early, so they overlap what a run still prepares.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from fleetpatch.errors import (
    AuthError,
    CommandTimeout,
    ConnectError,
    HostKeyError,
)
from fleetpatch.inventory.model import ConnectionSettings, Host, JumpHost
from fleetpatch.transport.base import CommandResult
from fleetpatch.transport.hostkeys import HostKeyPolicy, known_hosts_label
from fleetpatch.transport.ssh_process import SshProcess, lost_connection

DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")

PREFERRED_CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
"""AES-GCM first, then asyncssh's defaults (OpenSSH's ``^`` syntax). Both are AEAD ciphers
OpenSSH offers by default; asyncssh does AES-GCM in one call per packet, while its
chacha20-poly1305 sets up two new cipher contexts per packet: ~2 ms less controller CPU per
scanned host (docs/benchmarks.md). A server without them negotiates the defaults as before."""

KEEPALIVE_COUNT_MAX = 3
"""Unanswered keepalives before a connection counts as lost (OpenSSH's ServerAliveCountMax):
with the default 10 s interval a dead peer is noticed within 40 s of its last packet."""

RETRY_DELAY_CAP = 10.0
"""The longest single wait between two connection attempts, in seconds."""

_RETRYABLE_ERRNOS = frozenset((errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE))


class _Retryable(Exception):
    """A connection attempt failed in a way that trying again may fix."""

    def __init__(self, detail: str, *, refused: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.refused = refused


class _VerifyingClient(asyncssh.SSHClient):
    """Decides on host keys asyncssh did not find trusted: unknown vs changed."""

    def __init__(self, policy: HostKeyPolicy):
        self._policy = policy
        self.problem: str | None = None
        self.lost: Exception | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        trusted = self._policy.trusted_keys(host, addr, port)
        if key in trusted:
            return True
        label = known_hosts_label(host, port)
        if trusted:
            self.problem = (
                f"host key changed for {label}: the server presented {key.get_fingerprint()}, "
                f"which does not match the known key; possible man-in-the-middle. Nothing was "
                f"sent. If the change is expected, remove the old entry from known_hosts"
            )
            return False
        if self._policy.accept_new:
            self._policy.record(host, port, key)
            return True
        self.problem = (
            f"unknown host key for {label} ({key.get_fingerprint()}): not in any known_hosts "
            f"file; verify it and add it, or run with --accept-new-host-keys"
        )
        return False


@dataclass
class SshConnector:
    """Opens SSH connections for one run, with everything costly loaded once."""

    policy: HostKeyPolicy
    _keys: dict[str, list[asyncssh.SSHKeyPair]] = field(default_factory=dict)
    _options: dict[tuple[object, ...], asyncssh.SSHClientConnectionOptions] = field(
        default_factory=dict
    )
    _jumps: dict[tuple[object, ...], asyncssh.SSHClientConnection] = field(default_factory=dict)
    _jump_locks: dict[tuple[object, ...], asyncio.Lock] = field(default_factory=dict)
    _early: dict[str, asyncio.Task[SshSession]] = field(default_factory=dict)
    jitter: random.Random = field(default_factory=random.Random)
    """draws the jitter of the waits between connection attempts (seeded by tests)"""

    def start_connecting(self, hosts: Iterable[Host]) -> None:
        """Begin connecting to ``hosts`` now; :meth:`connect` hands each connection over.

        For the first hosts of a run (as many as run at once): their handshakes (TCP, key
        exchange, authentication) proceed while the run prepares what only matters once a host
        answers (baselines, templates, the store), so that work overlaps the targets' own. The
        connections are opened, nothing is run on them until :meth:`connect` hands them to a
        host's pipeline. A failure is kept and raised by :meth:`connect`. Needs a running event
        loop; :meth:`close` cancels or closes whatever was not handed over.
        """
        for host in hosts:
            if host.name not in self._early:
                self._early[host.name] = asyncio.ensure_future(self._connect(host))

    def _client_keys(self, key_file: str | None) -> list[asyncssh.SSHKeyPair]:
        cache_key = key_file or ""
        if cache_key not in self._keys:
            if key_file:
                try:
                    self._keys[cache_key] = list(asyncssh.load_keypairs([key_file]))
                except (OSError, asyncssh.KeyImportError) as exc:
                    raise AuthError(f"cannot load key file {key_file}: {exc}") from None
            else:
                ssh_dir = Path.home() / ".ssh"
                found = [str(ssh_dir / n) for n in DEFAULT_KEY_NAMES if (ssh_dir / n).exists()]
                try:
                    self._keys[cache_key] = list(asyncssh.load_keypairs(found)) if found else []
                except (OSError, asyncssh.KeyImportError):
                    self._keys[cache_key] = []
        return self._keys[cache_key]

    def _options_for(
        self,
        *,
        user: str | None,
        key_file: str | None,
        use_agent: bool,
        password_env: str | None,
        connect_timeout: float,
        keepalive: float,
    ) -> asyncssh.SSHClientConnectionOptions:
        cache_key = (user, key_file, use_agent, password_env, connect_timeout, keepalive)
        options = self._options.get(cache_key)
        if options is None:
            password: str | None = None
            if password_env:
                password = os.environ.get(password_env)
                if password is None:
                    raise AuthError(f"password environment variable {password_env} is not set")
            agent = os.environ.get("SSH_AUTH_SOCK") if use_agent else None
            options = asyncssh.SSHClientConnectionOptions(
                username=user or os.environ.get("USER") or "root",
                client_keys=self._client_keys(key_file),
                agent_path=agent,
                password=password,
                known_hosts=self.policy.known,
                config=[],
                connect_timeout=connect_timeout,
                login_timeout=connect_timeout * 2,
                keepalive_interval=keepalive or None,
                keepalive_count_max=KEEPALIVE_COUNT_MAX,
                preferred_auth="publickey,keyboard-interactive,password"
                if password
                else "publickey",
                kbdint_auth=bool(password),
                encryption_algs=PREFERRED_CIPHERS,
            )
            self._options[cache_key] = options
        return options

    async def _open(
        self,
        address: str,
        port: int,
        options: asyncssh.SSHClientConnectionOptions,
        settings: ConnectionSettings,
        *,
        tunnel: asyncssh.SSHClientConnection | None = None,
        what: str,
    ) -> tuple[asyncssh.SSHClientConnection, _VerifyingClient]:
        """Connect and log in, trying again after a refused connection or one closed before
        login (an sshd throttling new connections with ``MaxStartups`` drops them so), with
        exponential backoff and jitter, ``settings.connect_retries`` times at most. Nothing
        else is tried twice: a failed login or a wrong host key would only fail again (and
        count against the account).

        Raises:
            ConnectError, AuthError, HostKeyError: as their names say; the message says why.
        """
        started = time.monotonic()
        for attempt in range(settings.connect_retries + 1):
            try:
                return await self._open_once(address, port, options, tunnel=tunnel, what=what)
            except _Retryable as exc:
                if attempt == settings.connect_retries:
                    raise ConnectError(
                        _retries_exhausted(what, exc, attempt + 1, time.monotonic() - started)
                    ) from None
                await asyncio.sleep(self._retry_delay(settings.connect_retry_delay, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_delay(self, first: float, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half the step fixed, half random, so that
        hosts refused together do not come back together, and every wait is a real one."""
        step: float = min(RETRY_DELAY_CAP, first * 2.0**attempt)
        return step / 2 + self.jitter.uniform(0, step / 2)

    async def _open_once(
        self,
        address: str,
        port: int,
        options: asyncssh.SSHClientConnectionOptions,
        *,
        tunnel: asyncssh.SSHClientConnection | None,
        what: str,
    ) -> tuple[asyncssh.SSHClientConnection, _VerifyingClient]:
        client = _VerifyingClient(self.policy)
        try:
            conn = await asyncssh.connect(
                address,
                port,
                options=options,
                tunnel=tunnel,
                client_factory=lambda: client,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyError(client.problem or f"{what}: {exc}") from None
        except asyncssh.KeyExchangeFailed as exc:
            raise HostKeyError(
                f"{what}: key exchange failed ({exc}); the host key type may have changed"
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise AuthError(
                f"{what}: authentication failed for user {options.username!r} "
                f"({exc.reason or 'permission denied'})"
            ) from None
        except TimeoutError:
            raise ConnectError(f"{what}: connect timed out") from None
        except asyncssh.ConnectionLost:
            raise _Retryable(
                "the server closed the connection before login", refused=False
            ) from None
        except asyncssh.DisconnectError as exc:
            if exc.code == asyncssh.DISC_TOO_MANY_CONNECTIONS:
                raise _Retryable(f"the server refused: {exc}", refused=False) from None
            raise ConnectError(f"{what}: disconnected during login: {exc}") from None
        except asyncssh.ChannelOpenError as exc:  # through a jump host
            raise ConnectError(f"{what}: the jump host could not connect: {exc.reason}") from None
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                raise _Retryable("connection refused", refused=True) from None
            if exc.errno in _RETRYABLE_ERRNOS:
                raise _Retryable(
                    f"the server closed the connection before login: {exc.strerror or exc}",
                    refused=False,
                ) from None
            raise ConnectError(f"{what}: {exc.strerror or exc}") from None
        return conn, client

    async def _jump(self, jump: JumpHost, host: Host) -> asyncssh.SSHClientConnection:
        key = (jump.address, jump.port, jump.user or host.user, jump.key_file)
        lock = self._jump_locks.setdefault(key, asyncio.Lock())
        async with lock:
            conn = self._jumps.get(key)
            if conn is None or conn.is_closed():
                c = host.connection
                options = self._options_for(
                    user=jump.user or host.user,
                    key_file=jump.key_file or c.key_file,
                    use_agent=c.use_agent,
                    password_env=None,
                    connect_timeout=c.connect_timeout,
                    keepalive=c.keepalive_interval,
                )
                conn, _ = await self._open(
                    jump.address, jump.port, options, c, what=f"jump host {jump.address}"
                )
                self._jumps[key] = conn
            return conn

    async def connect(self, host: Host) -> SshSession:
        """Open one connection to ``host`` (or hand over the one :meth:`start_connecting`
        began).

        Raises:
            ConnectError, AuthError, HostKeyError: as their names say; the message says why.
        """
        early = self._early.pop(host.name, None)
        if early is not None:
            return await early
        return await self._connect(host)

    async def _connect(self, host: Host) -> SshSession:
        c = host.connection
        options = self._options_for(
            user=host.user,
            key_file=c.key_file,
            use_agent=c.use_agent,
            password_env=c.password_env,
            connect_timeout=c.connect_timeout,
            keepalive=c.keepalive_interval,
        )
        tunnel = await self._jump(c.jump_host, host) if c.jump_host else None
        conn, client = await self._open(
            host.address, host.port, options, c, tunnel=tunnel, what=f"{host.address}:{host.port}"
        )
        return SshSession(conn, client)

    async def close(self) -> None:
        """Close early connections never handed over, and the shared jump-host connections."""
        early, self._early = list(self._early.values()), {}
        for task in early:
            task.cancel()
        for outcome in await asyncio.gather(*early, return_exceptions=True):
            if isinstance(outcome, SshSession):  # it finished before the cancel
                await outcome.close()
        for conn in self._jumps.values():
            conn.close()
        for conn in self._jumps.values():
            await conn.wait_closed()
        self._jumps.clear()


class SshSession:
    """One SSH connection to one host."""

    def __init__(self, conn: asyncssh.SSHClientConnection, client: _VerifyingClient):
        self._conn = conn
        self._client = client

    @property
    def cipher(self) -> str:
        """The cipher negotiated with the host (client to server)."""
        return str(self._conn.get_extra_info("send_cipher") or "")

    async def run(
        self, command: str, *, stdin: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command`` in a session channel, feeding ``stdin``.

        Raises:
            CommandTimeout: ran past ``timeout``; carries the output received so far.
            ConnectionLost: the connection dropped (network cut, host gone, keepalives
                unanswered) or the channel closed without an exit status (sshd killed);
                carries the output received so far; also when the connection died while
                idle, before the command could start.
            ConnectError: the server refused a session channel.
        """
        started = time.monotonic()
        try:
            if stdin:
                result = await self._conn.run(
                    command, input=stdin, check=False, timeout=timeout, errors="replace"
                )
            else:  # close stdin at once, so nothing waits on it
                result = await self._conn.run(
                    command, stdin=asyncssh.DEVNULL, check=False, timeout=timeout, errors="replace"
                )
        except asyncssh.TimeoutError as exc:
            raise CommandTimeout(
                f"command timed out after {timeout:g}s",
                stdout=_text(exc.stdout),
                stderr=_text(exc.stderr),
            ) from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
            raise lost_connection(exc, "", "") from None
        except asyncssh.ChannelOpenError as exc:
            raise self._channel_refused(exc) from None
        if result.exit_status is None and result.exit_signal is None:
            raise lost_connection(self._client.lost, _text(result.stdout), _text(result.stderr))
        return CommandResult(
            exit_status=result.exit_status,
            stdout=_text(result.stdout),
            stderr=_text(result.stderr),
            duration=time.monotonic() - started,
        )

    async def stream(
        self,
        command: str,
        *,
        on_stdout: Callable[[str], None],
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """:meth:`run`, handing stdout to ``on_stdout`` as it arrives (a long command the
        controller follows, such as a detached job's journal). Same errors as :meth:`run`;
        they carry the output received before them."""
        started = time.monotonic()
        out: list[str] = []
        err: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                process = await self._conn.create_process(
                    command, stdin=asyncssh.PIPE if stdin else asyncssh.DEVNULL, errors="replace"
                )
                if stdin:
                    process.stdin.write(stdin)
                    process.stdin.write_eof()

                async def drain_stderr() -> None:
                    while chunk := await process.stderr.read(65536):
                        err.append(chunk)

                stderr_task = asyncio.ensure_future(drain_stderr())
                try:
                    while chunk := await process.stdout.read(65536):
                        out.append(chunk)
                        on_stdout(chunk)
                    await stderr_task
                finally:
                    stderr_task.cancel()
                completed = await process.wait()
        except TimeoutError:
            raise CommandTimeout(
                f"command timed out after {timeout:g}s", stdout="".join(out), stderr="".join(err)
            ) from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
            raise lost_connection(exc, "".join(out), "".join(err)) from None
        except asyncssh.ChannelOpenError as exc:
            raise self._channel_refused(exc) from None
        if completed.exit_status is None and completed.exit_signal is None:
            raise lost_connection(self._client.lost, "".join(out), "".join(err))
        return CommandResult(
            exit_status=completed.exit_status,
            stdout="".join(out),
            stderr="".join(err),
            duration=time.monotonic() - started,
        )

    async def start(
        self, command: str, *, on_stdout: Callable[[str], None] | None = None
    ) -> SshProcess:
        """Start ``command`` for a dialogue (:class:`fleetpatch.transport.base.RemoteProcess`);
        ``on_stdout`` also gets stdout as it arrives.

        Raises:
            ConnectError: the server refused a session channel.
            ConnectionLost: the connection is gone.
        """
        try:
            process = await self._conn.create_process(command, errors="replace")
        except asyncssh.ChannelOpenError as exc:
            raise self._channel_refused(exc) from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
            raise lost_connection(exc, "", "") from None
        return SshProcess(process, lambda: self._client.lost, on_stdout=on_stdout)

    def _channel_refused(self, exc: asyncssh.ChannelOpenError) -> ConnectError:
        """No session channel: the connection died while idle (lost), or the server said no."""
        if self._client.lost is not None or self._conn.is_closed():
            return lost_connection(self._client.lost or exc, "", "")
        return ConnectError(f"could not open a session channel: {exc.reason}")

    async def close(self) -> None:
        self._conn.close()
        await self._conn.wait_closed()


def _retries_exhausted(what: str, exc: _Retryable, attempts: int, seconds: float) -> str:
    tried = f"{attempts} attempts over {seconds:.1f}s" if attempts > 1 else "1 attempt"
    if exc.refused:
        hint = "is sshd running and listening on that port, and no firewall rejecting?"
    else:
        hint = (
            "the server may be throttling new connections (sshd MaxStartups, or a "
            "connection rate limit); lower --concurrency, or raise connect_retries"
        )
    return f"{what}: {exc.detail} ({tried}); {hint}"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
