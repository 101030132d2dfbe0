"""Ctrl-C on a real `fleetpatch scan` process: it stops cleanly, stores what finished."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _scan_with_a_stuck_host(tmp_path: Path) -> tuple[subprocess.Popen[str], socket.socket]:
    """A scan of two hosts: "quick" refuses the connection at once, "stuck" accepts TCP and
    never speaks SSH (the connect hangs for its 120 s timeout). Returns once "quick" is
    reported."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # accepts TCP, never speaks SSH: the connect hangs
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "defaults: {connection: {connect_timeout: 120}}\n"
        "hosts:\n"
        f"  quick: {{address: 127.0.0.1, port: {closed_port}}}\n"
        f"  stuck: {{address: 127.0.0.1, port: {silent.getsockname()[1]}}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetpatch", "scan", "-i", str(inventory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "[1/2] quick failed unreachable: ..."
    assert "quick" in line, line
    return proc, silent


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, FLEETPATCH_STORE=f"sqlite:///{tmp_path / 's.db'}", HOME=str(tmp_path))


def _interrupt(proc: subprocess.Popen[str], silent: socket.socket, thread: int | None) -> str:
    """SIGINT to the process (the kernel picks the thread) or to one of its threads."""
    try:
        time.sleep(0.3)
        if thread is None:
            proc.send_signal(signal.SIGINT)
        else:
            libc = ctypes.CDLL(None, use_errno=True)
            assert libc.syscall(SYS_TGKILL, proc.pid, thread, signal.SIGINT) == 0
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        silent.close()
    return err


SYS_TGKILL = 234  # x86-64


def _assert_cancelled_run_stored(tmp_path: Path) -> None:
    report = subprocess.run(
        [sys.executable, "-m", "fleetpatch", "report", "--format", "json"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    hosts = {h["host"]: h for h in json.loads(report.stdout)["hosts"]}
    assert hosts["quick"]["failure"]["kind"] == "unreachable"
    assert hosts["stuck"]["outcome"] == "cancelled"
    assert json.loads(report.stdout)["run"]["cancelled"] is True


def test_sigint_stores_finished_hosts_and_exits_130(tmp_path: Path) -> None:
    proc, silent = _scan_with_a_stuck_host(tmp_path)
    err = _interrupt(proc, silent, thread=None)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    _assert_cancelled_run_stored(tmp_path)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="tgkill's syscall number is x86-64's")
def test_sigint_received_by_another_thread_still_interrupts(tmp_path: Path) -> None:
    """The kernel may hand a process's SIGINT to any of its threads (asyncssh runs some work
    in executor threads). It must still wake the event loop at once, not at its next timer
    (here the stuck host's 120 s connect timeout)."""
    proc, silent = _scan_with_a_stuck_host(tmp_path)
    others = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
    assert others, "the scan runs no other thread; this test no longer tests anything"
    err = _interrupt(proc, silent, thread=others[0])
    assert proc.returncode == 130, err
    assert "interrupted" in err
    _assert_cancelled_run_stored(tmp_path)
