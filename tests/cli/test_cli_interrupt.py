"""Ctrl-C on a real `fleetpatch scan` process: it stops cleanly, stores what finished."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def test_sigint_stores_finished_hosts_and_exits_130(tmp_path: Path) -> None:
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
    env = dict(os.environ, FLEETPATCH_STORE=f"sqlite:///{tmp_path / 's.db'}", HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetpatch", "scan", "-i", str(inventory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "[1/2] quick failed unreachable: ..."
        assert "quick" in line, line
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        silent.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    report = subprocess.run(
        [sys.executable, "-m", "fleetpatch", "report", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
    )
    hosts = {h["host"]: h for h in json.loads(report.stdout)["hosts"]}
    assert hosts["quick"]["failure"]["kind"] == "unreachable"
    assert hosts["stuck"]["outcome"] == "cancelled"
    assert json.loads(report.stdout)["run"]["cancelled"] is True
