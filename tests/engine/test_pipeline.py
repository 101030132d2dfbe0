"""The scan pipeline and runner against real in-process SSH servers.

The ``exec`` servers run the scan script with this machine's own /bin/sh, so the facts
compared here come from a real apt on a real Debian host, checked against apt itself.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from fleetpatch.baseline import default_baseline_for
from fleetpatch.engine.pipeline import ScanContext, _Trace, scan_host
from fleetpatch.engine.runner import run_hosts
from fleetpatch.engine.scan_run import scan_hosts
from fleetpatch.errors import ConnectionLost
from fleetpatch.inventory.model import ConnectionSettings, Host
from fleetpatch.platforms.render import scan_script
from fleetpatch.results import HostOutcome, HostResult
from fleetpatch.transport.hostkeys import HostKeyPolicy
from fleetpatch.transport.ssh import SshConnector
from tests.engine.sshserver import Gauge, ServerHandle, start_server

needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs a Debian host")


def host_for(handle_port: int, key: Path, name: str | None = None, **conn: object) -> Host:
    settings: dict[str, object] = {"key_file": str(key), "use_agent": False}
    settings.update(conn)
    return Host(
        name=name or f"h{handle_port}",
        address="127.0.0.1",
        port=handle_port,
        user="tester",
        connection=ConnectionSettings.model_validate(settings),
    )


def context(
    known: Sequence[ServerHandle], tmp_path: Path, script: str | None = None
) -> ScanContext:
    path = tmp_path / "known_hosts"
    path.write_text("".join(h.known_hosts_line() for h in known))
    return ScanContext(
        connector=SshConnector(HostKeyPolicy(files=(path,))),
        script=script if script is not None else scan_script(),
        choose_baseline=lambda host, os_info: default_baseline_for(os_info),
        now=lambda: datetime(2026, 11, 22, tzinfo=UTC),
    )


def local_apt_updates() -> set[tuple[str, str]]:
    out = subprocess.run(
        ["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"],
        capture_output=True,
        text=True,
        env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        check=True,
    ).stdout
    found = set()
    for line in out.splitlines():
        m = re.match(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", line)
        if m:
            found.add((m.group(1).split(":")[0], m.group(2)))
    return found


@needs_apt
async def test_scan_host_reports_what_apt_says_on_this_machine(
    server: ServerHandle, client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    result = await scan_host(host_for(server.port, client_key[1]), context([server], tmp_path))
    assert result.outcome is HostOutcome.OK, result.failure
    assert result.facts is not None and result.compliance is not None
    assert result.facts.os.family == "apt"
    reported = {(u.name, u.candidate_version) for u in result.facts.updates}
    assert reported == local_apt_updates()
    assert server.commands == ["sh -s"]  # one round trip: detection and scan together
    assert [c.operation for c in result.commands] == ["scan"]
    assert result.commands[0].exit_code == 0
    missing = {i.id for i in result.compliance.items if i.state == "MISSING"}
    security = {u.name for u in result.facts.updates if u.security}
    assert missing == security  # Debian's predefined baseline: every security update


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _framed(os_release: str) -> str:
    return (
        f"@@FP@@ BEGIN os-release\n{os_release}\n\n@@FP@@ END os-release 0\n"
        "@@FP@@ BEGIN system-release\n\n@@FP@@ END system-release 0\n"
        "@@FP@@ BEGIN uname\n14.1-RELEASE\namd64\n\n@@FP@@ END uname 0\n"
        "@@FP@@ BEGIN boot\n\n\n\n\n@@FP@@ END boot 0\n"
        "@@FP@@ BEGIN family\nunknown\n\n@@FP@@ END family 0\n"
        "@@FP@@ EXIT done 0\n"
    )


async def test_every_failure_is_a_value_and_the_others_finish(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    good = await start_server(
        client_key=client_key[0],
        respond=lambda c, i: (
            _framed('ID=freebsd\nVERSION_ID="14.1"\nPRETTY_NAME="FreeBSD 14.1"'),
            "",
            0,
        ),
    )
    hanging = await start_server(client_key=client_key[0], behaviour="hang")
    stranger = await start_server(client_key=client_key[0])
    garbled = await start_server(client_key=client_key[0], respond=lambda c, i: ("junk\n", "", 0))
    failing = await start_server(
        client_key=client_key[0], respond=lambda c, i: ("", "sh: 1: boom\n", 2)
    )
    try:
        ctx = context([good, hanging, garbled, failing], tmp_path)  # stranger's key unknown
        key = client_key[1]
        hosts = [
            host_for(good.port, key, "unsupported"),
            host_for(_closed_port(), key, "down"),
            host_for(stranger.port, key, "stranger"),
            host_for(hanging.port, key, "slow", command_timeout=1),
            host_for(garbled.port, key, "garbled"),
            host_for(failing.port, key, "failing"),
        ]
        results = await run_hosts(hosts, lambda h: scan_host(h, ctx), concurrency=3)
    finally:
        for h in (good, hanging, stranger, garbled, failing):
            await h.close()
    by_name = {r.host: r for r in results}
    assert set(by_name) == {h.name for h in hosts}
    kinds = {
        n: (r.outcome.value, r.failure.kind if r.failure else None) for n, r in by_name.items()
    }
    assert kinds == {
        "unsupported": ("unsupported", "unsupported"),
        "down": ("failed", "unreachable"),
        "stranger": ("failed", "host_key"),
        "slow": ("failed", "timeout"),
        "garbled": ("failed", "parse"),
        "failing": ("failed", "parse"),
    }
    unsupported = by_name["unsupported"].failure
    assert unsupported is not None and "freebsd" in unsupported.message.lower()
    assert "EXIT" in (by_name["garbled"].failure.message if by_name["garbled"].failure else "")
    assert stranger.commands == []  # nothing is sent to a host whose key is not trusted
    assert by_name["slow"].commands[0].exit_code is None


async def test_concurrency_is_bounded(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    gauge = Gauge()
    servers = [
        await start_server(
            client_key=client_key[0],
            delay=0.2,
            gauge=gauge,
            respond=lambda c, i: (_framed("ID=plan9"), "", 0),
        )
        for _ in range(8)
    ]
    try:
        ctx = context(servers, tmp_path)
        hosts = [host_for(s.port, client_key[1]) for s in servers]
        results = await run_hosts(hosts, lambda h: scan_host(h, ctx), concurrency=3)
    finally:
        for s in servers:
            await s.close()
    assert len(results) == 8
    assert gauge.peak == 3


async def test_cancel_keeps_finished_hosts_and_marks_the_rest(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    quick = await start_server(
        client_key=client_key[0], respond=lambda c, i: (_framed("ID=plan9"), "", 0)
    )
    slow = [await start_server(client_key=client_key[0], behaviour="hang") for _ in range(3)]
    try:
        ctx = context([quick, *slow], tmp_path)
        hosts = [host_for(quick.port, client_key[1], "quick")] + [
            host_for(s.port, client_key[1], f"slow{i}") for i, s in enumerate(slow)
        ]
        seen: list[HostResult] = []
        task = asyncio.ensure_future(scan_hosts(hosts, ctx, concurrency=4, on_result=seen.append))
        while not seen:
            await asyncio.sleep(0.05)
        task.cancel()
        results, cancelled = await task
    finally:
        for s in (quick, *slow):
            await s.close()
    assert cancelled
    assert [r.host for r in results] == ["quick", "slow0", "slow1", "slow2"]
    assert results[0].outcome is HostOutcome.UNSUPPORTED
    assert {r.outcome for r in results[1:]} == {HostOutcome.CANCELLED}
    assert [r.host for r in seen] == ["quick", "slow0", "slow1", "slow2"]


async def test_a_scan_cut_short_is_a_lost_connection_in_the_step_it_was_in(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    """Output, then the channel closes without an exit status (sshd gone): connection_lost,
    with the step derived from the sections begun, never a parse error. A complete exit
    status with garbled output stays a parse error (test above)."""
    cut = _framed("ID=debian").split("@@FP@@ BEGIN family")[0] + "@@FP@@ BEGIN apt.installed\n"
    handle = await start_server(client_key=client_key[0], respond=lambda c, i: (cut, "", None))
    try:
        result = await scan_host(host_for(handle.port, client_key[1]), context([handle], tmp_path))
    finally:
        await handle.close()
    assert result.outcome is HostOutcome.FAILED
    assert result.failure is not None
    assert (result.failure.kind, result.failure.step) == ("connection_lost", "apt.installed")
    assert "connection lost during scan, in step 'apt.installed'" in result.failure.message
    assert [(c.operation, c.exit_code) for c in result.commands] == [("scan", None)]
    assert result.facts is None and result.compliance is None


async def test_an_install_step_cut_short_reaches_the_caller_as_connection_lost(
    client_key: tuple[asyncssh.SSHKey, Path], tmp_path: Path
) -> None:
    """The contract engine/install.py relies on: a ConnectionLost carrying the step and the
    partial output (to say the host may be partly upgraded), and an audit record."""
    cut = "@@FP@@ BEGIN apt.install\nUnpacking fp-alpha (1.1-1) over (1.0-1) ...\n"
    handle = await start_server(client_key=client_key[0], respond=lambda c, i: (cut, "", None))
    trace = _Trace()
    try:
        ctx = context([handle], tmp_path)
        host = host_for(handle.port, client_key[1])
        session = await ctx.connector.connect(host)
        with pytest.raises(ConnectionLost) as caught:
            await trace.run(
                session,
                host,
                "sh -s",
                script="true\n",
                operation="install",
                script_digest="d",
                timeout=10,
            )
        await session.close()
    finally:
        await handle.close()
    assert caught.value.step == "apt.install"
    assert caught.value.stdout == cut
    assert str(caught.value).startswith("connection lost during install, in step 'apt.install'")
    assert [(r.operation, r.exit_code) for r in trace.records] == [("install", None)]
