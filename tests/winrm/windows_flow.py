"""Helpers for tests that drive the emulated Windows host with fleetpatch's own pieces (the
WinRM transport, the Windows scripts and parsers, the detached-job follower) without the
engine: what the engine's install flow will do once the Windows platform is wired in."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from fleetpatch.engine.detached import JobReport, JobSpec, follow_job
from fleetpatch.facts import HostFacts
from fleetpatch.inventory.model import ConnectionSettings, Host
from fleetpatch.platforms.windows.bootstrap import POWERSHELL_FROM_STDIN
from fleetpatch.platforms.windows.jobs import WindowsJobs
from fleetpatch.platforms.windows.parsers import parse_windows_scan
from fleetpatch.platforms.windows.scripts import scan_script
from fleetpatch.transport.base import CommandResult
from fleetpatch.transport.winrm import WinrmConnector, WinrmSession
from tests.winrm.host import EmulatedHost

PASSWORD_ENV = "FP_TEST_WINRM_PASSWORD"
NOW = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)


def inventory_host(emulated: EmulatedHost, **connection: Any) -> Host:
    connection.setdefault("password_env", PASSWORD_ENV)
    connection.setdefault("connect_retries", 0)
    connection.setdefault("connect_timeout", 5)
    return Host(
        name=emulated.name,
        address="127.0.0.1",
        port=emulated.port,
        user=emulated.credentials.username,
        transport="winrm",
        connection=ConnectionSettings(**connection),
    )


class WindowsDriver:
    """One host's session, reconnected as needed."""

    def __init__(self, connector: WinrmConnector, host: Host) -> None:
        self.connector = connector
        self.host = host
        self.session: WinrmSession | None = None
        self.jobs = WindowsJobs()

    async def connect(self) -> WinrmSession:
        if self.session is None:
            self.session = await self.connector.connect(self.host)
        return self.session

    async def reconnect(self) -> None:
        await self.close()
        await self.connect()

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.close()
            self.session = None

    async def run(self, script: str, *, timeout: float = 60) -> CommandResult:
        session = await self.connect()
        return await session.run(POWERSHELL_FROM_STDIN, stdin=script, timeout=timeout)

    async def scan(self) -> HostFacts:
        result = await self.run(scan_script())
        return parse_windows_scan(result.stdout, host=self.host.name, collected_at=NOW)

    async def follow(self, spec: JobSpec, *, attach_only: bool = False) -> JobReport:
        async def run(script: str, operation: str, on_output: Any) -> None:
            session = await self.connect()
            await session.stream(
                POWERSHELL_FROM_STDIN, on_stdout=on_output, stdin=script, timeout=60
            )

        return await follow_job(
            self.jobs,
            spec,
            run=run,
            reconnect=self.reconnect,
            reconnect_timeout=20,
            attach_only=attach_only,
            backoff=(0.1, 0.5),
        )
