"""``python -m tests.winrm.endpoint``: the endpoint by hand, for manual use."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import winrm

# an exception in one of the endpoint's threads fails the test that caused it
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

REPO = Path(__file__).resolve().parents[2]


def test_cli_serves_hosts_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.winrm.endpoint", "--scenario", "toy", "--hosts", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        while not (line := process.stdout.readline()).startswith("Ctrl-C"):
            assert line, f"the endpoint exited early: {lines}"
            lines.append(line)
        urls = [m.group(1) for line in lines if (m := re.match(r"win-\d+\s+(\S+)", line))]
        user, password = re.search(r"user (\S+)\s+password (\S+)", "".join(lines)).groups()

        outputs = [
            winrm.Session(url, auth=(user, password), transport="ntlm", ca_trust_path=None)
            .run_cmd("echo", [url])
            .std_out
            for url in urls
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()

    assert len(urls) == 2 and urls[0] != urls[1]
    assert outputs == [f"{url}\r\n".encode() for url in urls]
