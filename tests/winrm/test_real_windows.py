"""Opt-in: fleetpatch's WinRM transport and Windows scripts against a REAL Windows Server.

Skipped unless ``FLEETPATCH_REAL_WINDOWS`` names a host (``address`` or ``address:port``).
Also read: ``FLEETPATCH_REAL_WINDOWS_USER`` (default Administrator), the password in
``FLEETPATCH_REAL_WINDOWS_PASSWORD``, ``FLEETPATCH_REAL_WINDOWS_SCHEME`` (http, the default,
or https), ``FLEETPATCH_REAL_WINDOWS_CA`` (a CA bundle for https),
``FLEETPATCH_REAL_WINDOWS_AUTH`` (ntlm, the default, kerberos or basic). Read-only: it scans,
reads the boot identity and the pending-reboot flags and runs a harmless hook; it installs
nothing and never reboots. Nothing in this project's workplace can run it (no Windows host):
docs/windows.md says what was and was not run against real Windows.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from fleetpatch.inventory.model import ConnectionSettings, Host
from fleetpatch.platforms.windows.bootstrap import POWERSHELL_FROM_STDIN
from fleetpatch.platforms.windows.parsers import parse_windows_scan
from fleetpatch.platforms.windows.scripts import (
    boot_identity_script,
    hook_script,
    parse_boot,
    parse_hook,
    parse_pending_reboot,
    pending_reboot_script,
    scan_script,
)
from fleetpatch.transport.winrm import WinrmConnector

TARGET = os.environ.get("FLEETPATCH_REAL_WINDOWS", "")
pytestmark = pytest.mark.skipif(
    not TARGET,
    reason="no real Windows host: set FLEETPATCH_REAL_WINDOWS=address[:port] (and "
    "FLEETPATCH_REAL_WINDOWS_USER / _PASSWORD) to run this against one",
)


def real_host() -> Host:
    address, _, port = TARGET.partition(":")
    scheme = os.environ.get("FLEETPATCH_REAL_WINDOWS_SCHEME", "http")
    return Host(
        name="real-windows",
        address=address,
        port=int(port) if port else (5986 if scheme == "https" else 5985),
        user=os.environ.get("FLEETPATCH_REAL_WINDOWS_USER", "Administrator"),
        transport="winrm",
        connection=ConnectionSettings(
            password_env="FLEETPATCH_REAL_WINDOWS_PASSWORD",
            winrm_scheme=scheme,  # type: ignore[arg-type]
            winrm_auth=os.environ.get("FLEETPATCH_REAL_WINDOWS_AUTH", "ntlm"),  # type: ignore[arg-type]
            winrm_ca_bundle=os.environ.get("FLEETPATCH_REAL_WINDOWS_CA") or None,
        ),
    )


async def test_read_only_tour_of_a_real_windows_server() -> None:
    connector = WinrmConnector(threads=2)
    session = await connector.connect(real_host())
    try:
        scan = await session.run(POWERSHELL_FROM_STDIN, stdin=scan_script(), timeout=900)
        facts = parse_windows_scan(scan.stdout, host="real", collected_at=datetime.now(UTC))
        boot = parse_boot(
            (
                await session.run(POWERSHELL_FROM_STDIN, stdin=boot_identity_script(), timeout=60)
            ).stdout
        )
        pending = parse_pending_reboot(
            (
                await session.run(POWERSHELL_FROM_STDIN, stdin=pending_reboot_script(), timeout=60)
            ).stdout
        )
        hook = parse_hook(
            (
                await session.run(
                    POWERSHELL_FROM_STDIN,
                    stdin=hook_script("Write-Output ('fleetpatch ' + $PSVersionTable.PSVersion)"),
                    timeout=60,
                )
            ).stdout
        )
    finally:
        await session.close()
        await connector.close()
    assert facts.os.family == "windows" and facts.os.product.startswith("WindowsServer")
    assert facts.boot_id == boot.identity
    assert pending == facts.reboot_required
    assert hook.rc == 0 and hook.output.startswith("fleetpatch ")
    print(
        f"{facts.os.pretty_name}: {len(facts.updates)} available, {len(facts.installed)} installed"
    )
