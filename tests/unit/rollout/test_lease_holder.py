"""Whether a lease's holder is alive is the same question as whether a run's controller is
(store/liveness.py: pid plus start time), not a search for "fleetpatch" in a command line.

Real processes: a live one whose command line does not say fleetpatch (a program that uses
fleetpatch as a library, the Temporal worker), and one that says fleetpatch but started after
the lease was taken (the holder's pid reused)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fleetpatch.engine.leases import holder_state, lease_message
from fleetpatch.store.liveness import this_controller
from fleetpatch.store.rollouts import Lease

HERE = socket.gethostname()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line has no 'fleetpatch' in it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def later_fleetpatch() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that calls itself fleetpatch (argv[0]), started just now."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60", "fleetpatch"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _lease(holder: str, acquired_at: datetime) -> Lease:
    return Lease("web-1", "run-1", holder, acquired_at, acquired_at + timedelta(hours=2))


def test_a_live_holder_is_running_whatever_its_command_line(
    sleeper: subprocess.Popen[bytes],
) -> None:
    time.sleep(0.05)
    taken = datetime.now(UTC)  # the holder started before it took the lease
    lease = _lease(f"{HERE}:{sleeper.pid}", taken)
    assert holder_state(lease) == "running"
    assert "is being patched by run run-1" in lease_message("web-1", lease)


def test_a_pid_reused_by_a_later_fleetpatch_is_not_the_holder(
    later_fleetpatch: subprocess.Popen[bytes],
) -> None:
    taken = datetime.now(UTC) - timedelta(hours=1)  # long before this process began
    lease = _lease(f"{HERE}:{later_fleetpatch.pid}", taken)
    assert holder_state(lease) == "dead"
    assert "is no longer running" in lease_message("web-1", lease)


def test_this_process_holding_a_lease_is_running() -> None:
    assert holder_state(_lease(this_controller(), datetime.now(UTC))) == "running"


def test_a_holder_that_is_gone_is_dead() -> None:
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert holder_state(_lease(f"{HERE}:{proc.pid}", datetime.now(UTC))) == "dead"


def test_another_machines_holder_cannot_be_told() -> None:
    assert holder_state(_lease("elsewhere.example:4242", datetime.now(UTC))) == "elsewhere"
